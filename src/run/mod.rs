//! The run machinery below both loops (search and retraining): the run directory with
//! atomic writes, checkpoints and resume points, running sums, seeds of random streams,
//! the stop token and the observer callbacks.

pub mod dir;
pub mod observer;
pub mod seed;
pub mod stop;
pub mod sums;

pub use dir::{Position, RunDir, RunKind, write_atomic};
pub use observer::{Observer, Silent};
pub use seed::stream_seed;
pub use stop::StopToken;
pub use sums::{Running, Sums};

use crate::error::Result;

/// Where a loop writes its metrics lines: the run directory's `metrics.jsonl` (when the
/// run has one) and the observer, counting the lines a checkpoint must account for.
pub struct MetricsLog<'a, M> {
    run: Option<&'a RunDir>,
    observer: &'a mut dyn Observer<M>,
    /// Lines written so far in the run (resumed runs start from their checkpoint's).
    pub lines: usize,
}

impl<'a, M: serde::Serialize> MetricsLog<'a, M> {
    /// A log continuing after `lines` lines.
    pub fn new(run: Option<&'a RunDir>, observer: &'a mut dyn Observer<M>, lines: usize) -> Self {
        MetricsLog {
            run,
            observer,
            lines,
        }
    }

    /// Write one line.
    pub fn write(&mut self, line: M) -> Result<()> {
        if let Some(run) = self.run {
            run.append_metrics(&serde_json::to_value(&line).expect("a metrics line serializes"))?;
        }
        self.lines += 1;
        self.observer.on_metrics(&line);
        Ok(())
    }

    /// The observer, for the other callbacks.
    pub fn observer(&mut self) -> &mut dyn Observer<M> {
        &mut *self.observer
    }
}
