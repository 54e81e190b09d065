//! When a run checkpoints between the ends of its epochs (an epoch on a large streamed
//! data set lasts hours).

use std::time::{Duration, Instant};

/// Mid-epoch checkpoints: due every `steps` steps and/or every `minutes` minutes since the
/// last checkpoint (0 turns either off).
#[derive(Clone, Debug)]
pub struct Cadence {
    steps: usize,
    every: Option<Duration>,
    last_step: usize,
    last_time: Instant,
}

impl Cadence {
    /// A cadence counted from `step`, now.
    pub fn new(steps: usize, minutes: f64, step: usize) -> Self {
        Cadence {
            steps,
            every: (minutes > 0.0).then(|| Duration::from_secs_f64(minutes * 60.0)),
            last_step: step,
            last_time: Instant::now(),
        }
    }

    /// Whether a checkpoint is due before step `step` runs; if so, it counts as written.
    pub fn due(&mut self, step: usize) -> bool {
        let by_steps = self.steps > 0 && step >= self.last_step + self.steps;
        let by_time = self.every.is_some_and(|d| self.last_time.elapsed() >= d);
        let due = step > self.last_step && (by_steps || by_time);
        if due {
            self.written(step);
        }
        due
    }

    /// A checkpoint was written after `step` steps (an epoch's end).
    pub fn written(&mut self, step: usize) {
        self.last_step = step;
        self.last_time = Instant::now();
    }
}

#[cfg(test)]
mod tests {
    use super::Cadence;

    #[test]
    fn due_every_n_steps_from_the_last_checkpoint() {
        let mut c = Cadence::new(3, 0.0, 0);
        let due: Vec<usize> = (0..10).filter(|&s| c.due(s)).collect();
        assert_eq!(due, [3, 6, 9]);
        let mut c = Cadence::new(3, 0.0, 0);
        c.written(4); // an epoch ended after step 4
        let due: Vec<usize> = (4..12).filter(|&s| c.due(s)).collect();
        assert_eq!(due, [7, 10]);
        let mut off = Cadence::new(0, 0.0, 0);
        assert!((0..100).all(|s| !off.due(s)));
    }
}
