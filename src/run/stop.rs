//! Stopping a run from outside: a Ctrl-C handler, a GUI button or another thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A shared flag that asks a running search or training run to write a checkpoint and
/// return [`Error::Interrupted`](crate::Error::Interrupted) at its next step. Clones share
/// the flag.
#[derive(Clone, Debug, Default)]
pub struct StopToken(Arc<AtomicBool>);

impl StopToken {
    /// A token nobody has stopped yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Ask the run to stop.
    pub fn stop(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether [`stop`](Self::stop) was called.
    pub fn is_stopped(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}
