//! Running loss and accuracy sums of a loop, kept on the device between log lines.

use burn::tensor::{Int, Tensor};
use serde::{Deserialize, Serialize};

/// Sums behind a mean loss and an accuracy.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq)]
pub struct Sums {
    /// Σ loss · batch size.
    pub loss: f64,
    /// Images whose argmax logit was the label.
    pub correct: f64,
    /// Images counted.
    pub seen: usize,
}

impl Sums {
    /// (mean loss, accuracy), `None` when nothing was seen.
    pub fn means(&self) -> (Option<f64>, Option<f64>) {
        if self.seen == 0 {
            return (None, None);
        }
        let n = self.seen as f64;
        (Some(self.loss / n), Some(self.correct / n))
    }
}

/// Loss and accuracy sums: a host base plus device partial sums, so that a step never
/// waits on the device; read (one sync) at log lines and checkpoints.
pub struct Running {
    base: Sums,
    loss: Option<Tensor<1>>,
    correct: Option<Tensor<1, Int>>,
    seen: usize,
}

impl Running {
    /// Start from `base` (a resumed run's saved sums).
    pub fn new(base: Sums) -> Self {
        Running {
            base,
            loss: None,
            correct: None,
            seen: 0,
        }
    }

    /// Add one batch: its mean loss, logits and labels.
    pub fn add(&mut self, loss: Tensor<1>, logits: Tensor<2>, y: Tensor<1, Int>) {
        let n = y.dims()[0];
        let correct = logits.argmax(1).reshape([n]).equal(y).int().sum();
        let loss = loss.mul_scalar(n as f64);
        self.loss = Some(match self.loss.take() {
            Some(l) => l + loss,
            None => loss,
        });
        self.correct = Some(match self.correct.take() {
            Some(c) => c + correct,
            None => correct,
        });
        self.seen += n;
    }

    /// Fold the device sums into the host base and return it.
    pub fn sums(&mut self) -> Sums {
        self.base = self.peek();
        (self.loss, self.correct, self.seen) = (None, None, 0);
        self.base
    }

    /// The sums so far, read without folding them into the base (a checkpoint reads them
    /// so, leaving the run's own summation order, and so its metrics, as they were).
    pub fn peek(&self) -> Sums {
        let mut s = self.base;
        if let Some(l) = &self.loss {
            s.loss += l.clone().into_scalar::<f32>() as f64;
        }
        if let Some(c) = &self.correct {
            s.correct += c.clone().into_scalar::<i64>() as f64;
        }
        s.seen += self.seen;
        s
    }

    /// The sums so far, starting again from zero.
    pub fn take(&mut self) -> Sums {
        let s = self.sums();
        self.base = Sums::default();
        s
    }
}
