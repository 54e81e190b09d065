//! Retraining a fixed architecture from scratch: SGD with Nesterov momentum, linear warm-up
//! then cosine learning rate, label smoothing, weight decay on conv and linear weights only,
//! crop + flip augmentation; `best.bpk` chosen on images held out of the training set, the
//! test accuracy reported after every epoch. [`Trainer`] is the entry point; a run
//! directory holds the config, `metrics.jsonl`, `best.bpk` and `last.bpk` (Burn records of
//! the network) and checkpoints (network and optimizer state, every epoch and on a stop
//! request); a resumed run continues exactly where it stopped.

pub mod config;
pub mod metrics;

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, ModuleOptimizer, SgdConfig};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};
use serde_json::json;

pub use config::{TrainConfig, TrainRunConfig};
pub use metrics::{TrainEpoch, TrainMetric, TrainStep};

use crate::arch::Arch;
use crate::data::{ImageData, Subset, check_input, epoch_batches, next_batch, split};
use crate::error::{Error, Result};
use crate::eval::{Evaluation, evaluate, resample};
use crate::nn::FixedNet;
use crate::run::{
    Attach, Attachments, Cadence, RunDir, Running, Started, Sums, stream_seed, write_atomic,
};

/// Where a training run stands, saved with every checkpoint.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct TrainProgress {
    /// The epoch in progress (== epochs when finished).
    pub epoch: usize,
    /// Batches done in this epoch.
    pub batch: usize,
    /// Steps done in the run.
    pub step: usize,
    /// Training images seen so far.
    pub images: usize,
    /// Training seconds before the current process.
    pub seconds: f64,
    /// Lines of metrics.jsonl written so far.
    pub metrics_lines: usize,
    /// Test top-1 of the epoch `best.bpk` holds.
    pub best_top1: Option<f64>,
    /// Validation top-1 of that epoch (absent without validation).
    pub best_val_top1: Option<f64>,
    /// 0-based epoch of `best.bpk`.
    pub best_epoch: Option<usize>,
    /// Sums of the epoch in progress.
    pub epoch_sums: Sums,
    /// Sums since the last metrics line.
    pub log_sums: Sums,
}

/// What a finished training run reports.
#[derive(Clone, Debug)]
pub struct TrainOutcome {
    /// Test top-1 of the epoch chosen on validation (`best.bpk`; the last epoch without
    /// validation).
    pub best_top1: f64,
    /// Validation top-1 of that epoch.
    pub best_val_top1: Option<f64>,
    /// 0-based epoch of `best.bpk`.
    pub best_epoch: usize,
    /// The test evaluation of the last epoch.
    pub last: Evaluation,
    /// The network of `best.bpk` (inference mode).
    pub net: FixedNet,
    /// Seconds of training (resumed runs included).
    pub wall_seconds: f64,
    /// Training images per second (evaluation excluded from the count, not the time).
    pub images_per_second: f64,
}

/// The float parameters of a module split by rank: conv and linear weights (rank ≥ 2,
/// decayed) and BN scales, shifts and biases (rank 1, not decayed).
#[derive(Default)]
struct DecaySplit {
    decay: Vec<ParamId>,
    plain: Vec<ParamId>,
}

impl ModuleVisitor for DecaySplit {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if D >= 2 {
            self.decay.push(param.id);
        } else {
            self.plain.push(param.id);
        }
    }
}

/// The network and its two optimizers (with and without weight decay).
struct Model {
    net: FixedNet,
    decay_opt: ModuleOptimizer,
    plain_opt: ModuleOptimizer,
}

impl Model {
    fn save(&self, dir: &Path) -> Result<()> {
        let err = |what: &str, e| Error::record(dir, format!("saving {what}"), e);
        self.net
            .clone()
            .save_file(dir.join("model.bpk"))
            .map_err(|e| err("network", e))?;
        self.decay_opt
            .save(dir.join("decay_opt.bpk"))
            .map_err(|e| err("optimizer", e))?;
        self.plain_opt
            .save(dir.join("plain_opt.bpk"))
            .map_err(|e| err("optimizer", e))
    }

    fn load(mut self, dir: &Path) -> Result<Self> {
        let err = |what: &str, e| Error::record(dir, format!("loading {what}"), e);
        self.net = self
            .net
            .try_load_file(dir.join("model.bpk"))
            .map_err(|e| err("network", e))?;
        self.decay_opt = self
            .decay_opt
            .load(dir.join("decay_opt.bpk"))
            .map_err(|e| err("optimizer", e))?;
        self.plain_opt = self
            .plain_opt
            .load(dir.join("plain_opt.bpk"))
            .map_err(|e| err("optimizer", e))?;
        Ok(self)
    }
}

/// Save a network record to `run/name` atomically (temp file, then rename).
fn save_weights(net: &FixedNet, run: &RunDir, name: &str) -> Result<()> {
    let target = run.path.join(name);
    let tmp = run.path.join(format!(".{name}.tmp"));
    net.clone()
        .save_file(&tmp)
        .map_err(|e| Error::record(&tmp, "saving weights", e))?;
    std::fs::rename(&tmp, &target).map_err(|e| Error::io(&target, e))
}

/// Copy `from` to `to` atomically (temp file beside `to`, then rename).
fn copy_atomic(from: &Path, to: &Path) -> Result<()> {
    let tmp = to.with_extension("bpk.tmp");
    std::fs::copy(from, &tmp).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, to).map_err(|e| Error::io(to, e))
}

/// Load `best.bpk` or `last.bpk` of a training run into the network of `arch`.
pub fn load_weights(arch: &Arch, path: &Path, device: &Device) -> Result<FixedNet> {
    FixedNet::new(arch, device)?
        .try_load_file(path)
        .map_err(|e| Error::record(path, "loading weights", e))
}

/// Retraining of one architecture with one recipe.
///
/// ```no_run
/// use dmasking::prelude::*;
///
/// let arch = Arch::load(std::path::Path::new("runs/s1/arch.json"))?;
/// let root = std::path::Path::new("cifar10");
/// let (train, test) = (load(root, Split::Train)?, load(root, Split::Test)?);
/// let outcome = Trainer::new(arch, TrainConfig::default(), &Device::default())
///     .run_dir(RunDir::create(std::path::Path::new("runs/t1"), false)?)
///     .run(&train, &test)?;
/// println!("test top-1 {:.4}", outcome.best_top1);
/// # Ok::<(), dmasking::Error>(())
/// ```
pub struct Trainer<'a> {
    arch: Arch,
    config: TrainConfig,
    device: Device,
    attach: Attachments<'a, TrainMetric>,
}

impl<'a> Attach<'a, TrainMetric> for Trainer<'a> {
    fn attachments(&mut self) -> &mut Attachments<'a, TrainMetric> {
        &mut self.attach
    }
}

impl<'a> Trainer<'a> {
    /// Training of `arch` with `config` on `device` (no run directory, no observer).
    pub fn new(arch: Arch, config: TrainConfig, device: &Device) -> Self {
        Trainer {
            arch,
            config,
            device: device.clone(),
            attach: Attachments::default(),
        }
    }

    /// Continue the training run in `run` from its newest checkpoint (from the beginning
    /// when it has none), with the architecture and recipe of its `config.json`.
    pub fn resume(run: RunDir, device: &Device) -> Result<Self> {
        let saved = TrainRunConfig::read(&run)?;
        let mut t = Trainer::new(saved.arch, saved.train, device).run_dir(run);
        t.attach.resume = true;
        Ok(t)
    }

    /// The recipe.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// The architecture.
    pub fn arch(&self) -> &Arch {
        &self.arch
    }

    /// Indices of the training and validation images among `n` training images (the
    /// validation share held out by a seeded split; none when `validation_fraction` is 0).
    pub fn split_validation(n: usize, cfg: &TrainConfig) -> (Vec<usize>, Option<Vec<usize>>) {
        if cfg.validation_fraction <= 0.0 {
            return ((0..n).collect(), None);
        }
        let (t, v) = split(
            n,
            1.0 - cfg.validation_fraction,
            stream_seed(cfg.seed, 0, 7),
        );
        (t, Some(v))
    }

    /// Train on `train` (a validation share held out of it), testing on `test` after
    /// every epoch.
    /// Any [`ImageData`] whose images are at least the architecture's input size (larger
    /// ones are subsampled); `train` is cloned once into the data worker.
    pub fn run<D: ImageData + Clone + 'static>(
        mut self,
        train: &D,
        test: &dyn ImageData,
    ) -> Result<TrainOutcome> {
        let (arch, cfg) = (&self.arch, &self.config);
        cfg.validate()?;
        let start = Instant::now();
        let layout = arch.layout()?;
        let input = arch.input_size;
        check_input(train, "the training data", arch.in_channels, input)?;
        check_input(test, "the test data", arch.in_channels, input)?;
        let (fit, val_idx) = Self::split_validation(train.len(), cfg);
        let validation = val_idx.as_ref().map(|v| Subset::new(train, v));
        if fit.len() < cfg.batch_size
            || test.is_empty()
            || validation.as_ref().is_some_and(|v| v.is_empty())
        {
            return Err(Error::Data(format!(
                "{} training images ({} after holding out {:.0} % for validation) are fewer than one batch of {} (or there are no test or validation images)",
                train.len(),
                fit.len(),
                100.0 * cfg.validation_fraction,
                cfg.batch_size
            )));
        }
        let ad = self.device.clone().autodiff();
        ad.seed(cfg.seed);
        let net = FixedNet::from_layout(&layout, &ad);
        let sgd = |wd: f64| {
            SgdConfig::new()
                .with_momentum(Some(MomentumConfig {
                    momentum: cfg.momentum,
                    dampening: 0.0,
                    nesterov: cfg.nesterov,
                }))
                .with_weight_decay((wd > 0.0).then(|| WeightDecayConfig::new(wd as f32)))
                .init()
        };
        let mut m = Model {
            net,
            decay_opt: sgd(cfg.weight_decay),
            plain_opt: sgd(0.0),
        };
        let ce = CrossEntropyLossConfig::new()
            .with_smoothing((cfg.label_smoothing > 0.0).then_some(cfg.label_smoothing as f32))
            .init(&ad);
        let mut prog = TrainProgress::default();
        let Started {
            point,
            mut log,
            run,
            stop,
        } = self.attach.start::<TrainProgress>(|r| {
            r.write_config(&TrainRunConfig {
                arch: arch.clone(),
                train: cfg.clone(),
                transform: Some(train.transform().clone()),
            })?;
            r.write_atomic("arch.json", &arch.to_json())
        })?;
        if let Some((dir, p)) = point {
            m = m.load(&dir)?;
            prog = p;
        }
        // Parameter ids after loading: a record brings its own ids.
        let mut decay_split = DecaySplit::default();
        m.net.visit(&mut decay_split);
        let steps_per_epoch = fit.len() / cfg.batch_size;
        let set: Arc<dyn ImageData> = Arc::new(train.clone());
        let total = steps_per_epoch * cfg.epochs;
        let warmup = (cfg.warmup_epochs * steps_per_epoch as f64).round() as usize;
        let eval_batch = cfg.batch_size.max(200);
        let mut last = None;
        let mut best_net = None;
        let mut cadence = Cadence::new(cfg.checkpoint_steps, cfg.checkpoint_minutes, prog.step);
        while prog.epoch < cfg.epochs {
            let epoch = prog.epoch;
            let batches = epoch_batches(
                set.clone(),
                fit.clone(),
                cfg.batch_size,
                stream_seed(cfg.seed, epoch, 2),
                cfg.augment,
                prog.batch,
            );
            log.observer()
                .on_epoch_start(epoch, cfg.epochs, steps_per_epoch, prog.batch);
            let mut epoch_sums = Running::new(prog.epoch_sums);
            let mut log_sums = Running::new(prog.log_sums);
            let mut lr = cfg.lr_at(prog.step, total, warmup);
            while let Some(batch) = next_batch(&batches)? {
                // A stop request, or a mid-epoch checkpoint due: the checkpoint holds the
                // epoch's batches done so far and its running sums.
                let stopping = stop.is_stopped();
                if stopping && run.is_none() {
                    log.observer().on_stop();
                    return Err(Error::Stopped);
                }
                if let Some(run) = run.filter(|_| stopping || cadence.due(prog.step)) {
                    let mut saved = prog.clone();
                    saved.epoch_sums = epoch_sums.peek();
                    saved.log_sums = log_sums.peek();
                    saved.metrics_lines = log.lines;
                    saved.seconds += start.elapsed().as_secs_f64();
                    run.checkpoint(&saved, |d| m.save(d))?;
                    if stopping {
                        log.observer().on_stop();
                        return Err(Error::Interrupted(run.path.join("checkpoint")));
                    }
                }
                lr = cfg.lr_at(prog.step, total, warmup);
                // Dropout draws from the backend RNG: reseeded per step for exact resumes.
                ad.seed(stream_seed(cfg.seed, prog.step, 4));
                let n = batch.labels.len();
                let (x, y) = batch.to_tensors(&ad);
                let out = m.net.forward(resample(x, input));
                let loss = ce.forward(out.clone(), y.clone());
                let mut grads = loss.backward();
                let g_decay = GradientsParams::from_params(&mut grads, &m.net, &decay_split.decay);
                let g_plain = GradientsParams::from_params(&mut grads, &m.net, &decay_split.plain);
                m.net = m.decay_opt.step(lr, m.net, g_decay);
                m.net = m.plain_opt.step(lr, m.net, g_plain);
                let (loss, out) = (loss.detach(), out.detach());
                epoch_sums.add(loss.clone(), out.clone(), y.clone());
                log_sums.add(loss, out, y);
                prog.step += 1;
                prog.batch += 1;
                prog.images += n;
                log.observer().on_step();
                if cfg.log_every > 0 && prog.step.is_multiple_of(cfg.log_every) {
                    let (train_loss, train_acc) = log_sums.take().means();
                    log.write(TrainMetric::Step(TrainStep {
                        epoch,
                        step: prog.step,
                        train_loss,
                        train_acc,
                        lr,
                    }))?;
                }
            }
            let (train_loss, train_acc) = epoch_sums.take().means();
            if train_loss.is_some_and(|l| !l.is_finite()) {
                return Err(Error::Diverged(format!(
                    "training loss is NaN in epoch {}: lower the learning rate (--lr)",
                    epoch + 1
                )));
            }
            let val = validation
                .as_ref()
                .map(|v| evaluate(&m.net, v, eval_batch, input))
                .transpose()?;
            let ev = evaluate(&m.net, test, eval_batch, input)?;
            // Chosen on validation; without it, every epoch replaces the last.
            let improved = match (&val, prog.best_val_top1) {
                (Some(v), Some(b)) => v.top1 > b,
                _ => true,
            };
            if let Some(run) = run {
                save_weights(&m.net, run, "last.bpk")?;
                if improved {
                    copy_atomic(&run.path.join("last.bpk"), &run.path.join("best.bpk"))?;
                }
            }
            if improved {
                prog.best_top1 = Some(ev.top1);
                prog.best_val_top1 = val.as_ref().map(|v| v.top1);
                prog.best_epoch = Some(epoch);
                best_net = Some(m.net.valid());
            }
            log.write(TrainMetric::Epoch(TrainEpoch {
                epoch,
                step: prog.step,
                train_loss,
                train_acc,
                val_loss: val.as_ref().map(|v| v.loss),
                val_top1: val.as_ref().map(|v| v.top1),
                test_loss: ev.loss,
                test_top1: ev.top1,
                lr,
                seconds: prog.seconds + start.elapsed().as_secs_f64(),
                best: improved,
            }))?;
            prog.epoch += 1;
            prog.batch = 0;
            prog.epoch_sums = Sums::default();
            prog.log_sums = log_sums.sums();
            prog.metrics_lines = log.lines;
            if let Some(run) = run {
                let mut saved = prog.clone();
                saved.seconds += start.elapsed().as_secs_f64();
                run.checkpoint(&saved, |d| m.save(d))?;
                cadence.written(prog.step);
            }
            last = Some(ev);
        }
        let last = match last {
            Some(ev) => ev,
            // Resumed after the last epoch: evaluate the saved network again.
            None => evaluate(&m.net, test, eval_batch, input)?,
        };
        let best_net = match (best_net, run) {
            (Some(net), _) => net,
            // Chosen before a resume: the record on disk.
            (None, Some(run)) => load_weights(arch, &run.path.join("best.bpk"), &self.device)?,
            (None, None) => m.net.valid(),
        };
        let wall = prog.seconds + start.elapsed().as_secs_f64();
        if let Some(run) = run {
            let summary = json!({
                "best_top1": prog.best_top1, "best_val_top1": prog.best_val_top1,
                "best_epoch": prog.best_epoch,
                "last_top1": last.top1, "wall_seconds": wall,
                "images_per_second": prog.images as f64 / wall.max(1e-9),
            });
            write_atomic(
                &run.path.join("summary.json"),
                serde_json::to_string_pretty(&summary).expect("summary serializes"),
            )?;
        }
        Ok(TrainOutcome {
            best_top1: prog.best_top1.unwrap_or(last.top1),
            best_val_top1: prog.best_val_top1,
            best_epoch: prog.best_epoch.unwrap_or(0),
            last,
            net: best_net,
            wall_seconds: wall,
            images_per_second: prog.images as f64 / wall.max(1e-9),
        })
    }
}

impl crate::run::Position for TrainProgress {
    fn epoch(&self) -> usize {
        self.epoch
    }
    fn batch(&self) -> usize {
        self.batch
    }
    fn metrics_lines(&self) -> usize {
        self.metrics_lines
    }
}
