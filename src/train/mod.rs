//! Retraining a fixed architecture from scratch: SGD with Nesterov momentum, linear warm-up
//! then cosine learning rate, label smoothing, weight decay on conv and linear weights only,
//! crop + flip augmentation, and the test accuracy after every epoch. A run directory holds
//! the config, `metrics.jsonl`, `best.bpk` and `last.bpk` (Burn records of the network) and
//! checkpoints (network and optimizer state, every epoch and on Ctrl-C); a resumed run
//! continues exactly where it stopped.

pub mod config;
pub mod eval;

use std::io::IsTerminal;
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
pub use eval::{Evaluation, evaluate, resample};

use crate::arch::Arch;
use crate::data::{ImageSet, epoch_batches};
use crate::error::{Error, Result};
use crate::nn::FixedNet;
use crate::search::{
    RunDir, Running, Sums, clear_stop, epoch_bar, epoch_seed, skip, stop_requested, write_atomic,
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
    pub images: usize,
    /// Training seconds before the current process.
    pub seconds: f64,
    /// Lines of metrics.jsonl written so far.
    pub metrics_lines: usize,
    pub best_top1: Option<f64>,
    pub best_epoch: Option<usize>,
    pub epoch_sums: Sums,
    pub log_sums: Sums,
}

/// What a finished training run reports.
#[derive(Clone, Debug)]
pub struct TrainOutcome {
    pub best_top1: f64,
    /// 0-based epoch of the best test accuracy.
    pub best_epoch: usize,
    pub last: Evaluation,
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
        let err = |what: &str, e: burn::store::RecordError| {
            Error::Other(format!("{}: saving {what}: {e:?}", dir.display()))
        };
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
        let err = |what: &str, e: burn::store::RecordError| {
            Error::Other(format!("{}: loading {what}: {e:?}", dir.display()))
        };
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
        .map_err(|e| Error::Other(format!("{}: saving weights: {e:?}", tmp.display())))?;
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
        .map_err(|e| Error::Other(format!("{}: loading weights: {e:?}", path.display())))
}

/// Train (or, with `resume`, continue training) `arch` from scratch on `train`, testing on
/// `test` after every epoch, writing into `run`.
pub fn train(
    arch: &Arch,
    train: &ImageSet,
    test: &ImageSet,
    cfg: &TrainConfig,
    device: &Device,
    run: &RunDir,
    resume: bool,
) -> Result<TrainOutcome> {
    clear_stop();
    let start = Instant::now();
    let layout = arch.layout()?;
    let input = arch.input_size;
    for (what, set) in [("training", train), ("test", test)] {
        if set.channels != arch.in_channels || set.size < input {
            return Err(Error::Other(format!(
                "{what} data has {}x{}x{} images but the architecture expects {}x{}x{}",
                set.channels, set.size, set.size, arch.in_channels, input, input
            )));
        }
    }
    if train.len() < cfg.batch_size || test.is_empty() {
        return Err(Error::Other(format!(
            "{} training images are fewer than one batch of {} (or there are no test images)",
            train.len(),
            cfg.batch_size
        )));
    }
    let ad = device.clone().autodiff();
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
    if resume && let Some((dir, p)) = run.resume_point::<TrainProgress>()? {
        m = m.load(&dir)?;
        prog = p;
    }
    // Parameter ids after loading: a record brings its own ids.
    let mut split = DecaySplit::default();
    m.net.visit(&mut split);
    let set = Arc::new(train.clone());
    let all: Vec<usize> = (0..train.len()).collect();
    let steps_per_epoch = train.len() / cfg.batch_size;
    let total = steps_per_epoch * cfg.epochs;
    let warmup = (cfg.warmup_epochs * steps_per_epoch as f64).round() as usize;
    let interactive = std::io::stdout().is_terminal();
    let mut lines = prog.metrics_lines;
    let mut last = None;
    while prog.epoch < cfg.epochs {
        let epoch = prog.epoch;
        let batches = epoch_batches(
            set.clone(),
            all.clone(),
            cfg.batch_size,
            epoch_seed(cfg.seed, epoch, 2),
            cfg.augment,
        );
        skip(&batches, prog.batch)?;
        let bar = interactive.then(|| epoch_bar(epoch, cfg.epochs, steps_per_epoch, prog.batch));
        let mut epoch_sums = Running::new(prog.epoch_sums);
        let mut log_sums = Running::new(prog.log_sums);
        let mut lr = cfg.lr_at(prog.step, total, warmup);
        for batch in batches.iter() {
            if stop_requested() {
                prog.epoch_sums = epoch_sums.sums();
                prog.log_sums = log_sums.sums();
                prog.metrics_lines = lines;
                prog.seconds += start.elapsed().as_secs_f64();
                run.checkpoint(&prog, |d| m.save(d))?;
                if let Some(b) = bar {
                    b.abandon();
                }
                return Err(Error::Interrupted(run.path.join("checkpoint")));
            }
            lr = cfg.lr_at(prog.step, total, warmup);
            // Dropout draws from the backend RNG: reseeded per step for exact resumes.
            ad.seed(epoch_seed(cfg.seed, prog.step, 4));
            let n = batch.labels.len();
            let (x, y) = batch.to_tensors(&ad);
            let out = m.net.forward(resample(x, input));
            let loss = ce.forward(out.clone(), y.clone());
            let mut grads = loss.backward();
            let g_decay = GradientsParams::from_params(&mut grads, &m.net, &split.decay);
            let g_plain = GradientsParams::from_params(&mut grads, &m.net, &split.plain);
            m.net = m.decay_opt.step(lr, m.net, g_decay);
            m.net = m.plain_opt.step(lr, m.net, g_plain);
            let (loss, out) = (loss.detach(), out.detach());
            epoch_sums.add(loss.clone(), out.clone(), y.clone());
            log_sums.add(loss, out, y);
            prog.step += 1;
            prog.batch += 1;
            prog.images += n;
            if let Some(b) = &bar {
                b.inc(1);
            }
            if cfg.log_every > 0 && prog.step.is_multiple_of(cfg.log_every) {
                let (l, a) = log_sums.take().means();
                if let Some(b) = &bar {
                    b.set_message(format!(
                        "loss {:.3} acc {:.3} lr {lr:.4}",
                        l.unwrap_or(f64::NAN),
                        a.unwrap_or(f64::NAN)
                    ));
                }
                run.append_metrics(&json!({
                    "kind": "step", "epoch": epoch, "step": prog.step,
                    "train_loss": l, "train_acc": a, "lr": lr,
                }))?;
                lines += 1;
            }
        }
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        let (tl, ta) = epoch_sums.take().means();
        if tl.is_some_and(|l| !l.is_finite()) {
            return Err(Error::Other(format!(
                "training loss is NaN in epoch {}: lower the learning rate (--lr)",
                epoch + 1
            )));
        }
        let ev = evaluate(&m.net, test, cfg.batch_size.max(200), input);
        let seconds = prog.seconds + start.elapsed().as_secs_f64();
        let improved = prog.best_top1.is_none_or(|b| ev.top1 > b);
        save_weights(&m.net, run, "last.bpk")?;
        if improved {
            copy_atomic(&run.path.join("last.bpk"), &run.path.join("best.bpk"))?;
            prog.best_top1 = Some(ev.top1);
            prog.best_epoch = Some(epoch);
        }
        run.append_metrics(&json!({
            "kind": "epoch", "epoch": epoch, "step": prog.step,
            "train_loss": tl, "train_acc": ta,
            "test_loss": ev.loss, "test_top1": ev.top1, "lr": lr, "seconds": seconds,
        }))?;
        lines += 1;
        println!(
            "epoch {}/{}: train loss {:.4} acc {:.3} | test loss {:.4} top-1 {:.4}{} | {:.0} s",
            epoch + 1,
            cfg.epochs,
            tl.unwrap_or(f64::NAN),
            ta.unwrap_or(f64::NAN),
            ev.loss,
            ev.top1,
            if improved { " (best)" } else { "" },
            seconds
        );
        prog.epoch += 1;
        prog.batch = 0;
        prog.epoch_sums = Sums::default();
        prog.log_sums = log_sums.sums();
        prog.metrics_lines = lines;
        let mut saved = prog.clone();
        saved.seconds += start.elapsed().as_secs_f64();
        run.checkpoint(&saved, |d| m.save(d))?;
        last = Some(ev);
    }
    let last = match last {
        Some(ev) => ev,
        // Resumed after the last epoch: evaluate the saved network again.
        None => evaluate(&m.net, test, cfg.batch_size.max(200), input),
    };
    let wall = prog.seconds + start.elapsed().as_secs_f64();
    let summary = json!({
        "best_top1": prog.best_top1, "best_epoch": prog.best_epoch,
        "last_top1": last.top1, "wall_seconds": wall,
        "images_per_second": prog.images as f64 / wall.max(1e-9),
    });
    write_atomic(
        &run.path.join("summary.json"),
        serde_json::to_string_pretty(&summary).expect("summary serializes"),
    )?;
    Ok(TrainOutcome {
        best_top1: prog.best_top1.unwrap_or(last.top1),
        best_epoch: prog.best_epoch.unwrap_or(0),
        last,
        wall_seconds: wall,
        images_per_second: prog.images as f64 / wall.max(1e-9),
    })
}

impl crate::search::run_dir::Position for TrainProgress {
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
