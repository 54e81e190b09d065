//! The loop driver both loops (search and retraining) run on: start or resume, the epoch
//! loop with its step cadence, stop-or-checkpoint, the epoch end with its checkpoint, and
//! the run's clock. A loop states only what differs ([`EpochLoop`]): its batches, its
//! step, its metrics lines and what its checkpoints hold.

use std::path::Path;
use std::sync::mpsc::Receiver;
use std::time::Instant;

use super::{Attachments, Cadence, Position, RunDir};
use crate::error::{Error, Result};

/// What a loop tells the driver. The driver calls, in order: [`load`](Self::load) (a
/// resumed run), then per epoch [`start_epoch`](Self::start_epoch), per batch
/// [`step`](Self::step) (and [`step_line`](Self::step_line) every `log_every` steps), and
/// [`end_epoch`](Self::end_epoch); [`snapshot`](Self::snapshot) and
/// [`save`](Self::save) at every checkpoint.
pub trait EpochLoop {
    /// A metrics line.
    type Metric: serde::Serialize;
    /// Where the run stands, saved with every checkpoint.
    type Progress: Position;
    /// A batch of training data.
    type Batch;

    /// Epochs of the run.
    fn epochs(&self) -> usize;
    /// Batches of every epoch.
    fn steps_per_epoch(&self) -> usize;
    /// A step metrics line every this many steps (0: none).
    fn log_every(&self) -> usize;
    /// Mid-epoch checkpoints: every this many steps, every this many minutes (0: off).
    fn checkpoint_every(&self) -> (usize, f64);
    /// Load the tensors of the checkpoint in `dir` (a resumed run at `at`).
    fn load(&mut self, dir: &Path, at: &Self::Progress) -> Result<()>;
    /// Save the tensors into the checkpoint directory `dir`.
    fn save(&self, dir: &Path) -> Result<()>;
    /// Set up epoch `at.epoch()` (continuing after `at.batch()` batches) and return its
    /// batches.
    fn start_epoch(&mut self, at: &Self::Progress) -> Receiver<Result<Self::Batch>>;
    /// Train on one batch (the driver then advances `at` by one step).
    fn step(&mut self, batch: Self::Batch, at: &mut Self::Progress) -> Result<()>;
    /// The step metrics line after step `at.step()`.
    fn step_line(&mut self, at: &Self::Progress) -> Self::Metric;
    /// The progress a mid-epoch checkpoint saves: `at` with the loop's running state.
    fn snapshot(&self, at: &Self::Progress) -> Self::Progress;
    /// The epoch's end: its checks, what it writes to the run directory `run` and its
    /// metrics line; `at` is then moved to the next epoch by the driver. `clock` reads
    /// the seconds of the run so far.
    fn end_epoch(
        &mut self,
        at: &mut Self::Progress,
        clock: &dyn Fn() -> f64,
        run: Option<&RunDir>,
    ) -> Result<Self::Metric>;
}

/// Where a driven loop ended.
pub struct Driven<'s, P> {
    /// The final progress.
    pub at: P,
    /// Seconds of the whole run (resumed runs included).
    pub seconds: f64,
    /// Training images per second over the run.
    pub images_per_second: f64,
    /// The run directory, if any.
    pub run: Option<&'s RunDir>,
}

/// Run `lp` from the start or from a resumed run's newest checkpoint to its last epoch.
/// `write_new` records a new run's inputs. A stop request checkpoints (with a run
/// directory) and returns [`Error::Interrupted`], else [`Error::Stopped`].
pub fn drive<'s, L: EpochLoop>(
    lp: &mut L,
    attach: &'s mut Attachments<'_, L::Metric>,
    write_new: impl FnOnce(&RunDir) -> Result<()>,
) -> Result<Driven<'s, L::Progress>> {
    let start = Instant::now();
    let started = attach.start::<L::Progress>(write_new)?;
    let (mut log, run, stop) = (started.log, started.run, started.stop);
    let mut at = L::Progress::default();
    if let Some((dir, p)) = started.point {
        lp.load(&dir, &p)?;
        at = p;
    }
    let clock = |at: &L::Progress| at.seconds() + start.elapsed().as_secs_f64();
    let (steps, minutes) = lp.checkpoint_every();
    let mut cadence = Cadence::new(steps, minutes, at.step());
    while at.epoch() < lp.epochs() {
        let batches = lp.start_epoch(&at);
        log.observer()
            .on_epoch_start(at.epoch(), lp.epochs(), lp.steps_per_epoch(), at.batch());
        // The epoch ends when its producer has sent its last batch.
        while let Ok(batch) = batches.recv() {
            let batch = batch?;
            // A stop request, or a mid-epoch checkpoint due: the checkpoint holds the
            // epoch's batches so far and the loop's running state.
            let stopping = stop.is_stopped();
            if stopping && run.is_none() {
                log.observer().on_stop();
                return Err(Error::Stopped);
            }
            if let Some(run) = run.filter(|_| stopping || cadence.due(at.step())) {
                let mut saved = lp.snapshot(&at);
                saved.stamp(clock(&at), log.lines);
                run.checkpoint(&saved, |d| lp.save(d))?;
                if stopping {
                    log.observer().on_stop();
                    return Err(Error::Interrupted(run.path.join("checkpoint")));
                }
            }
            lp.step(batch, &mut at)?;
            at.advance();
            log.observer().on_step();
            let every = lp.log_every();
            if every > 0 && at.step().is_multiple_of(every) {
                let line = lp.step_line(&at);
                log.write(line)?;
            }
        }
        let base = at.seconds();
        let now = || base + start.elapsed().as_secs_f64();
        let line = lp.end_epoch(&mut at, &now, run)?;
        log.write(line)?;
        at.next_epoch();
        let base = at.seconds();
        at.stamp(base, log.lines);
        if let Some(run) = run {
            let mut saved = at.clone();
            saved.stamp(clock(&at), log.lines);
            run.checkpoint(&saved, |d| lp.save(d))?;
            cadence.written(at.step());
        }
    }
    let seconds = clock(&at);
    Ok(Driven {
        images_per_second: at.images() as f64 / seconds.max(1e-9),
        seconds,
        at,
        run,
    })
}

/// [`Error::Diverged`] when `value` (an epoch's mean `what`) is not finite.
pub fn check_finite(value: Option<f64>, what: &str, epoch: usize, advice: &str) -> Result<()> {
    match value {
        Some(v) if !v.is_finite() => Err(Error::Diverged(format!(
            "{what} is NaN in epoch {}: {advice}",
            epoch + 1
        ))),
        _ => Ok(()),
    }
}

/// Implement [`Position`] for a progress struct with the fields `epoch`, `batch`, `step`,
/// `images`, `seconds` and `metrics_lines`.
macro_rules! impl_position {
    ($t:ty) => {
        impl $crate::run::Position for $t {
            fn epoch(&self) -> usize {
                self.epoch
            }
            fn batch(&self) -> usize {
                self.batch
            }
            fn step(&self) -> usize {
                self.step
            }
            fn images(&self) -> usize {
                self.images
            }
            fn seconds(&self) -> f64 {
                self.seconds
            }
            fn metrics_lines(&self) -> usize {
                self.metrics_lines
            }
            fn stamp(&mut self, seconds: f64, metrics_lines: usize) {
                self.seconds = seconds;
                self.metrics_lines = metrics_lines;
            }
            fn advance(&mut self) {
                self.step += 1;
                self.batch += 1;
            }
            fn next_epoch(&mut self) {
                self.epoch += 1;
                self.batch = 0;
            }
        }
    };
}
pub(crate) use impl_position;
