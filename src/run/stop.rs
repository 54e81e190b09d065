//! Stopping a run from outside: a Ctrl-C handler, a GUI button or another thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A shared flag that asks a running search or training run to stop at its next step:
/// with a run directory it writes a checkpoint and returns
/// [`Error::Interrupted`](crate::Error::Interrupted), without one
/// [`Error::Stopped`](crate::Error::Stopped). Clones share the flag, and it stays set:
/// give a resumed run a new token.
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
