//! The CLI's observer: progress bars on an interactive terminal, one line per epoch.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

use crate::run::Observer;
use crate::search::SearchMetric;
use crate::train::TrainMetric;

/// Prints what a run reports: resume points, a bar per epoch (terminals only), the
/// epoch lines.
pub(super) struct Console {
    bar: Option<ProgressBar>,
    interactive: bool,
    epochs: usize,
    /// The run is being resumed (say so when there is no checkpoint to resume from).
    resuming: bool,
}

impl Console {
    pub(super) fn new(resuming: bool) -> Self {
        Console {
            bar: None,
            interactive: std::io::stdout().is_terminal(),
            epochs: 0,
            resuming,
        }
    }

    fn start(&mut self, resumed: Option<(usize, usize)>) {
        match resumed {
            Some((epoch, batch)) => println!("resuming at epoch {} batch {batch}", epoch + 1),
            None if self.resuming => println!("no checkpoint yet: starting from the beginning"),
            None => {}
        }
    }

    fn epoch_start(&mut self, epoch: usize, epochs: usize, steps: usize, done: usize) {
        self.epochs = epochs;
        if !self.interactive {
            return;
        }
        let b = ProgressBar::new(steps as u64);
        b.set_style(
            ProgressStyle::with_template(
                "epoch {prefix} {bar:30} {pos}/{len} {msg} [{elapsed}<{eta}]",
            )
            .expect("valid template"),
        );
        b.set_prefix(format!("{}/{epochs}", epoch + 1));
        b.set_position(done as u64);
        self.bar = Some(b);
    }

    fn step(&mut self) {
        if let Some(b) = &self.bar {
            b.inc(1);
        }
    }

    fn message(&mut self, m: String) {
        if let Some(b) = &self.bar {
            b.set_message(m);
        }
    }

    fn epoch_line(&mut self, line: String) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
        println!("{line}");
    }

    fn stop(&mut self) {
        if let Some(b) = self.bar.take() {
            b.abandon();
        }
    }
}

fn nan(x: Option<f64>) -> f64 {
    x.unwrap_or(f64::NAN)
}

/// What the console shows of a metrics line.
enum Shown {
    /// A step line: the progress bar's message.
    Message(String),
    /// An epoch line: printed.
    Line(String),
}

/// A metrics line as the console shows it (given the run's number of epochs).
trait Show {
    fn show(&self, epochs: usize) -> Shown;
}

impl Show for SearchMetric {
    fn show(&self, epochs: usize) -> Shown {
        match self {
            SearchMetric::Step(s) => Shown::Message(format!(
                "loss {:.3} acc {:.3} | {:.2} MFLOPs | T {:.2}",
                nan(s.weight_loss),
                nan(s.weight_acc),
                s.expected_mflops,
                s.temperature
            )),
            SearchMetric::Epoch(e) => Shown::Line(format!(
                "epoch {}/{epochs}: loss {:.4} acc {:.3} | expected {:.2} MFLOPs, argmax {:.2} MFLOPs | T {:.3} | entropy {:.3} | {:.0} s",
                e.epoch + 1,
                nan(e.weight_loss),
                nan(e.weight_acc),
                e.expected_mflops,
                e.argmax_mflops,
                e.temperature,
                e.mean_entropy,
                e.seconds
            )),
        }
    }
}

impl Show for TrainMetric {
    fn show(&self, epochs: usize) -> Shown {
        match self {
            TrainMetric::Step(s) => Shown::Message(format!(
                "loss {:.3} acc {:.3} lr {:.4}",
                nan(s.train_loss),
                nan(s.train_acc),
                s.lr
            )),
            TrainMetric::Epoch(e) => {
                let val = match e.val_top1 {
                    Some(v) => format!(" | val top-1 {v:.4}"),
                    None => String::new(),
                };
                Shown::Line(format!(
                    "epoch {}/{epochs}: train loss {:.4} acc {:.3}{val} | test loss {:.4} top-1 {:.4}{} | {:.0} s",
                    e.epoch + 1,
                    nan(e.train_loss),
                    nan(e.train_acc),
                    e.test_loss,
                    e.test_top1,
                    if e.best { " (best)" } else { "" },
                    e.seconds
                ))
            }
        }
    }
}

impl<M: Show> Observer<M> for Console {
    fn on_start(&mut self, resumed: Option<(usize, usize)>) {
        self.start(resumed);
    }
    fn on_epoch_start(&mut self, epoch: usize, epochs: usize, steps: usize, done: usize) {
        self.epoch_start(epoch, epochs, steps, done);
    }
    fn on_step(&mut self) {
        self.step();
    }
    fn on_metrics(&mut self, line: &M) {
        match line.show(self.epochs) {
            Shown::Message(m) => self.message(m),
            Shown::Line(l) => self.epoch_line(l),
        }
    }
    fn on_stop(&mut self) {
        self.stop();
    }
}
