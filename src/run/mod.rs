//! The run machinery below both loops (search and retraining): the run directory with
//! atomic writes, checkpoints and resume points, running sums, seeds of random streams,
//! the stop token and the observer callbacks.

pub mod cadence;
pub mod dir;
pub mod driver;
pub mod observer;
pub mod seed;
pub mod stop;
pub mod sums;

pub use cadence::Cadence;
pub use dir::{Position, RunDir, RunKind, save_module, write_atomic};
pub(crate) use driver::impl_position;
pub use driver::{Driven, EpochLoop, check_finite, drive};
pub use observer::{Collect, Observer, Silent};
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

/// What a loop is attached to besides its inputs: an optional run directory (new, or one
/// to resume), a stop token and an observer. The entry points (`Searcher`, `Trainer`)
/// hold one and set it through their builder methods.
pub struct Attachments<'a, M> {
    /// Where the run is recorded, if anywhere.
    pub run: Option<RunDir>,
    /// Continue `run` from its newest checkpoint instead of starting it.
    pub resume: bool,
    /// Asks the loop to checkpoint and stop.
    pub stop: StopToken,
    /// Told about progress and every metrics line.
    pub observer: Box<dyn Observer<M> + 'a>,
}

impl<M> Default for Attachments<'_, M> {
    fn default() -> Self {
        Attachments {
            run: None,
            resume: false,
            stop: StopToken::new(),
            observer: Box::new(Silent),
        }
    }
}

/// The builder methods every entry point (`Searcher`, `Trainer`) shares: record the run
/// in a directory, stop it with a token, observe it.
pub trait Attach<'a, M>: Sized {
    /// The entry point's attachments.
    fn attachments(&mut self) -> &mut Attachments<'a, M>;

    /// Record the run in `run` (inputs written when it starts, metrics, checkpoints and
    /// results), so that the CLI's commands and a resume work on it.
    fn run_dir(mut self, run: RunDir) -> Self {
        self.attachments().run = Some(run);
        self
    }

    /// Stop (after a checkpoint, when there is a run directory) once `token` is stopped.
    fn stop_token(mut self, token: StopToken) -> Self {
        self.attachments().stop = token;
        self
    }

    /// Tell `observer` about the run's progress and every metrics line.
    fn observer(mut self, observer: impl Observer<M> + 'a) -> Self {
        self.attachments().observer = Box::new(observer);
        self
    }
}

/// A started loop's view of its attachments.
pub struct Started<'s, M, P> {
    /// A resumed run's newest checkpoint directory and position (`None`: from the start).
    pub point: Option<(std::path::PathBuf, P)>,
    /// The metrics log, after the lines the checkpoint accounts for.
    pub log: MetricsLog<'s, M>,
    /// The run directory, if any.
    pub run: Option<&'s RunDir>,
    /// The stop token.
    pub stop: &'s StopToken,
}

impl<M: serde::Serialize> Attachments<'_, M> {
    /// Start the loop: find a resumed run's newest checkpoint (or record a new run's inputs
    /// with `write_new`), tell the observer, and position the metrics log.
    pub fn start<P: Position>(
        &mut self,
        write_new: impl FnOnce(&RunDir) -> Result<()>,
    ) -> Result<Started<'_, M, P>> {
        let Attachments {
            run,
            resume,
            stop,
            observer,
        } = self;
        let point = match run.as_ref() {
            Some(r) if *resume => r.resume_point::<P>()?,
            Some(r) => {
                r.clear_replaced()?;
                write_new(r)?;
                None
            }
            None => None,
        };
        let observer: &mut dyn Observer<M> = &mut **observer;
        observer.on_start(point.as_ref().map(|(_, p)| (p.epoch(), p.batch())));
        let lines = point.as_ref().map_or(0, |(_, p)| p.metrics_lines());
        Ok(Started {
            point,
            log: MetricsLog::new(run.as_ref(), observer, lines),
            run: run.as_ref(),
            stop,
        })
    }
}
