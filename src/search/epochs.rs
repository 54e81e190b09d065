//! The search's epochs on the loop driver ([`crate::run::drive`]): what one weight step
//! (and the architecture step after every `arch_every` of them) does, what a checkpoint
//! holds, and the epoch's metrics line.

use std::sync::Arc;
use std::sync::mpsc::Receiver;

use burn::tensor::{Device, Tensor};
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde_json::json;

use super::metrics::{SearchEpoch, SearchMetric, SearchStep};
use super::trainer::SupernetTrainer;
use super::{Progress, SearchConfig, WeightStep};
use crate::data::{Batch, ImageData, epoch_batches, next_batch};
use crate::error::{Error, Result};
use crate::eval::resample;
use crate::run::{EpochLoop, RunDir, Running, Sums, check_finite, stream_seed};
use crate::supernet::gumbel_values;

/// The state of the epoch in progress.
struct Epoch {
    temperature: f64,
    search_arch: bool,
    /// The Gumbel noise stream of the epoch.
    rng: StdRng,
    arch_batches: Receiver<Result<Batch>>,
    weight: Running,
    log_weight: Running,
    log_arch: Running,
    lr: f64,
}

/// A search's epochs: the trainer, the two splits and the epoch in progress.
pub(crate) struct SearchEpochs<'c> {
    pub(crate) tr: SupernetTrainer,
    cfg: &'c SearchConfig,
    ad: Device,
    data: Arc<dyn ImageData>,
    weight_idx: Vec<usize>,
    arch_idx: Vec<usize>,
    input: usize,
    options: usize,
    epoch: Option<Epoch>,
}

impl<'c> SearchEpochs<'c> {
    /// The epochs of a search with `tr` on `data` split into `weight_idx` and `arch_idx`.
    pub(crate) fn new(
        tr: SupernetTrainer,
        cfg: &'c SearchConfig,
        data: Arc<dyn ImageData>,
        (weight_idx, arch_idx): (Vec<usize>, Vec<usize>),
        input: usize,
    ) -> Self {
        SearchEpochs {
            ad: tr.one_device(),
            options: tr.logits.num_options(),
            tr,
            cfg,
            data,
            weight_idx,
            arch_idx,
            input,
            epoch: None,
        }
    }

    fn total_steps(&self) -> usize {
        self.steps_per_epoch() * self.cfg.epochs
    }

    /// μ as the metrics and checkpoints record it (the setting's in the other forms).
    fn mu(&self) -> f64 {
        self.tr.loss.mu().unwrap_or(self.cfg.budget_mu)
    }

    /// Pass `round` over the architecture split in `epoch`, from batch `start`.
    fn arch_batches(&self, epoch: usize, round: u64, start: usize) -> Receiver<Result<Batch>> {
        let seed = stream_seed(self.cfg.seed, epoch, 3 + (round << 8));
        let (data, idx) = (self.data.clone(), self.arch_idx.clone());
        epoch_batches(data, idx, self.cfg.batch_size, seed, true, start)
    }

    fn ep(&mut self) -> &mut Epoch {
        self.epoch.as_mut().expect("an epoch has started")
    }

    /// The weight step on `(x, y)` as the settings choose it.
    fn weight_step(&mut self, batch: Batch, at: &mut Progress) -> Result<()> {
        let (cfg, total) = (self.cfg, self.total_steps());
        let lr = cfg.weight_lr_at(at.step, total);
        // The backend RNG (dropout) is reseeded per step, so a resumed run draws the
        // same numbers as an uninterrupted one.
        self.ad.seed(stream_seed(cfg.seed, at.step, 4));
        let (x, y) = batch.to_tensors(&self.ad);
        let x = resample(x, self.input);
        let (options, ad) = (self.options, self.ad.clone());
        let ep = self.epoch.as_mut().expect("an epoch has started");
        ep.lr = lr;
        let values = gumbel_values(&mut ep.rng, options);
        at.noise_draws += 1;
        // Full-width warm-up: a draw of its own per step, so resuming replays it.
        let full = cfg.full_width_prob(at.step, total)
            > StdRng::seed_from_u64(stream_seed(cfg.seed, at.step, 5)).random::<f64>();
        let (temperature, tr) = (ep.temperature, &mut self.tr);
        let (loss, out) = match cfg.weight_step {
            _ if full => {
                let largest = tr.largest.clone();
                tr.weight_step_picks(x, y.clone(), &largest, lr)
            }
            WeightStep::Masked => {
                let noise = Tensor::<1>::from_floats(values.as_slice(), &ad);
                tr.weight_step(x, y.clone(), temperature, &noise, cfg.hard, lr)
            }
            WeightStep::SinglePath => tr.weight_step_path(x, y.clone(), &values, lr),
            WeightStep::Sandwich => tr.weight_step_sandwich(x, y.clone(), &values, false, lr),
            WeightStep::SandwichDistill => tr.weight_step_sandwich(x, y.clone(), &values, true, lr),
            WeightStep::Bilateral => tr.weight_step_bilateral(x, y.clone(), &values, lr),
        };
        ep.weight.add(loss.clone(), out.clone(), y.clone());
        ep.log_weight.add(loss, out, y);
        at.images += cfg.batch_size;
        Ok(())
    }

    /// One architecture step on the next batch of the architecture split (a new pass
    /// over it when it runs out).
    fn arch_step(&mut self, at: &mut Progress) -> Result<()> {
        let epoch = at.epoch;
        let batch = match next_batch(&self.ep().arch_batches)? {
            Some(b) => b,
            None => {
                at.arch_round += 1;
                at.arch_used = 0;
                let fresh = self.arch_batches(epoch, at.arch_round, 0);
                self.ep().arch_batches = fresh;
                next_batch(&self.ep().arch_batches)?.ok_or(Error::DataWorkerStopped)?
            }
        };
        at.arch_used += 1;
        let (x, y) = batch.to_tensors(&self.ad);
        let x = resample(x, self.input);
        let (options, ad) = (self.options, self.ad.clone());
        let ep = self.epoch.as_mut().expect("an epoch has started");
        let noise = Tensor::<1>::from_floats(gumbel_values(&mut ep.rng, options).as_slice(), &ad);
        at.noise_draws += 1;
        let (ce, out) = self
            .tr
            .arch_step(x, y.clone(), ep.temperature, &noise, self.cfg);
        ep.log_arch.add(ce, out, y);
        at.images += self.cfg.batch_size;
        Ok(())
    }
}

impl EpochLoop for SearchEpochs<'_> {
    type Metric = SearchMetric;
    type Progress = Progress;
    type Batch = Batch;

    fn epochs(&self) -> usize {
        self.cfg.epochs
    }
    fn steps_per_epoch(&self) -> usize {
        self.weight_idx.len() / self.cfg.batch_size
    }
    fn log_every(&self) -> usize {
        self.cfg.log_every
    }
    fn checkpoint_every(&self) -> (usize, f64) {
        (self.cfg.checkpoint_steps, self.cfg.checkpoint_minutes)
    }

    fn load(&mut self, dir: &std::path::Path, at: &Progress) -> Result<()> {
        self.tr.load(dir)?;
        self.tr.loss.set_mu(at.budget_mu);
        Ok(())
    }

    fn save(&self, dir: &std::path::Path) -> Result<()> {
        self.tr.save(dir)
    }

    fn start_epoch(&mut self, at: &Progress) -> Receiver<Result<Batch>> {
        let (cfg, epoch) = (self.cfg, at.epoch);
        let mut rng = StdRng::seed_from_u64(stream_seed(cfg.seed, epoch, 1));
        for _ in 0..at.noise_draws {
            gumbel_values(&mut rng, self.options);
        }
        self.epoch = Some(Epoch {
            temperature: cfg.temperature(epoch),
            search_arch: epoch >= cfg.warmup_epochs,
            rng,
            arch_batches: self.arch_batches(epoch, at.arch_round, at.arch_used),
            weight: Running::new(at.epoch_weight),
            log_weight: Running::new(at.log_weight),
            log_arch: Running::new(at.log_arch),
            lr: cfg.weight_lr_at(at.step, self.total_steps()),
        });
        let seed = stream_seed(cfg.seed, epoch, 2);
        let (data, idx) = (self.data.clone(), self.weight_idx.clone());
        epoch_batches(data, idx, cfg.batch_size, seed, true, at.batch)
    }

    fn step(&mut self, batch: Batch, at: &mut Progress) -> Result<()> {
        self.weight_step(batch, at)?;
        let due = (at.batch + 1).is_multiple_of(self.cfg.arch_every.max(1));
        if self.ep().search_arch && due {
            self.arch_step(at)?;
        }
        Ok(())
    }

    fn step_line(&mut self, at: &Progress) -> SearchMetric {
        let (mu, expected, cfg) = (self.mu(), self.tr.expected_flops(), self.cfg);
        let ep = self.ep();
        let (weight_loss, weight_acc) = ep.log_weight.take().means();
        let (arch_loss, arch_acc) = ep.log_arch.take().means();
        SearchMetric::Step(SearchStep {
            epoch: at.epoch,
            step: at.step,
            weight_loss,
            weight_acc,
            arch_loss,
            arch_acc,
            expected_mflops: expected / 1e6,
            temperature: ep.temperature,
            weight_lr: ep.lr,
            arch_lr: cfg.arch_lr,
            budget_mu: mu,
        })
    }

    fn snapshot(&self, at: &Progress) -> Progress {
        let ep = self.epoch.as_ref().expect("an epoch has started");
        Progress {
            epoch_weight: ep.weight.peek(),
            log_weight: ep.log_weight.peek(),
            log_arch: ep.log_arch.peek(),
            budget_mu: self.mu(),
            ..at.clone()
        }
    }

    fn end_epoch(
        &mut self,
        at: &mut Progress,
        clock: &dyn Fn() -> f64,
        _run: Option<&RunDir>,
    ) -> Result<SearchMetric> {
        let (epoch, cfg) = (at.epoch, self.cfg);
        let probs = self.tr.logits.probabilities();
        if probs.iter().flatten().any(|p| !p.is_finite()) {
            return Err(Error::Diverged(format!(
                "architecture probabilities became NaN in epoch {}: lower the architecture learning rate",
                epoch + 1
            )));
        }
        let (weight_loss, weight_acc) = self.ep().weight.take().means();
        check_finite(
            weight_loss,
            "weight loss",
            epoch,
            "lower the weight learning rate",
        )?;
        let plan = &self.tr.net.plan;
        let derived = plan.derive(&self.tr.logits.argmax())?;
        let argmax = derived.cost()?.flops;
        let line = SearchMetric::Epoch(SearchEpoch {
            epoch,
            step: at.step,
            weight_loss,
            weight_acc,
            expected_mflops: self.tr.expected_flops() / 1e6,
            argmax_mflops: argmax as f64 / 1e6,
            temperature: cfg.temperature(epoch),
            weight_lr: cfg.weight_lr_at(at.step, self.total_steps()),
            arch_lr: cfg.arch_lr,
            budget_mu: self.mu(),
            mean_entropy: mean_entropy(&probs),
            probabilities: plan
                .choices
                .iter()
                .zip(&probs)
                .map(|(c, p)| (c.name.clone(), json!(p)))
                .collect(),
            seconds: clock(),
        });
        let ep = self.epoch.take().expect("an epoch has started");
        let (mut log_weight, mut log_arch) = (ep.log_weight, ep.log_arch);
        *at = Progress {
            arch_round: 0,
            arch_used: 0,
            noise_draws: 0,
            epoch_weight: Sums::default(),
            log_weight: log_weight.sums(),
            log_arch: log_arch.sums(),
            budget_mu: self.mu(),
            ..at.clone()
        };
        Ok(line)
    }
}

/// Mean entropy (nats) of the choices' distributions.
fn mean_entropy(probs: &[Vec<f32>]) -> f64 {
    let h: f64 = probs
        .iter()
        .map(|p| {
            p.iter()
                .filter(|&&x| x > 0.0)
                .map(|&x| -(x as f64) * (x as f64).ln())
                .sum::<f64>()
        })
        .sum();
    h / probs.len().max(1) as f64
}
