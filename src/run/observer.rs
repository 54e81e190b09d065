//! What a running loop tells whoever started it. The library prints nothing: the CLI's
//! console observer prints the lines and draws the progress bars, a user's observer may
//! plot, log or stop the run (through a [`StopToken`](super::StopToken)).

/// Callbacks of a search or training loop whose metrics lines are `M` (the search's
/// `SearchMetric` or the retraining's `TrainMetric`). Every method does nothing by
/// default.
pub trait Observer<M> {
    /// The loop starts; `resumed` is the (epoch, batch) a resumed run continues from
    /// (`None`: from the beginning).
    fn on_start(&mut self, resumed: Option<(usize, usize)>) {
        let _ = resumed;
    }
    /// Epoch `epoch` (0-based) of `epochs` starts: `steps` batches, `done` of them already
    /// done before a resume.
    fn on_epoch_start(&mut self, epoch: usize, epochs: usize, steps: usize, done: usize) {
        let _ = (epoch, epochs, steps, done);
    }
    /// One step is done.
    fn on_step(&mut self) {}
    /// A metrics line was written (a step's every `log_every` steps, and each epoch's).
    fn on_metrics(&mut self, line: &M) {
        let _ = line;
    }
    /// The loop was stopped through its token; it writes a checkpoint next when it has
    /// a run directory.
    fn on_stop(&mut self) {}
}

/// An observer that ignores everything.
#[derive(Clone, Copy, Debug, Default)]
pub struct Silent;

impl<M> Observer<M> for Silent {}

/// An observer that keeps every metrics line; clones share the lines, so keep one clone
/// and give the other to the loop.
///
/// ```
/// use dmasking::run::{Collect, Observer};
///
/// let lines = Collect::<u32>::default();
/// let mut observer = lines.clone();
/// observer.on_metrics(&7);
/// assert_eq!(lines.lines(), [7]);
/// ```
#[derive(Debug)]
pub struct Collect<M>(std::sync::Arc<std::sync::Mutex<Vec<M>>>);

impl<M> Default for Collect<M> {
    fn default() -> Self {
        Collect(Default::default())
    }
}

impl<M> Clone for Collect<M> {
    fn clone(&self) -> Self {
        Collect(self.0.clone())
    }
}

impl<M: Clone> Collect<M> {
    /// The lines so far, in order.
    pub fn lines(&self) -> Vec<M> {
        self.0.lock().expect("no observer panicked").clone()
    }
}

impl<M: Clone> Observer<M> for Collect<M> {
    fn on_metrics(&mut self, line: &M) {
        self.0
            .lock()
            .expect("no observer panicked")
            .push(line.clone());
    }
}
