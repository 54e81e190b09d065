//! Retraining's epochs on the loop driver ([`crate::run::drive`]): the network and its two
//! optimizers, one SGD step per batch, and at every epoch's end the validation and test
//! evaluations, `last.bpk` and (when validation improved) `best.bpk`.

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::Receiver;

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig};
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, ModuleOptimizer, SgdConfig};
use burn::tensor::{Device, Tensor};

use super::{TrainConfig, TrainEpoch, TrainMetric, TrainProgress, TrainStep};
use crate::arch::Layout;
use crate::data::{Batch, ImageData, epoch_batches};
use crate::error::{Error, Result};
use crate::eval::{Evaluation, evaluate, resample};
use crate::nn::FixedNet;
use crate::run::{EpochLoop, RunDir, Running, Sums, check_finite, save_module, stream_seed};

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

impl DecaySplit {
    /// The split of `net`'s parameters (their ids: a loaded record brings its own).
    fn of(net: &FixedNet) -> Self {
        let mut split = DecaySplit::default();
        net.visit(&mut split);
        split
    }
}

/// The network and its two optimizers (with and without weight decay).
struct Model {
    net: FixedNet,
    decay_opt: ModuleOptimizer,
    plain_opt: ModuleOptimizer,
    split: DecaySplit,
}

impl Model {
    /// A fresh network of `layout` (initialised from the recipe's seed) and its optimizers.
    fn new(layout: &Layout, cfg: &TrainConfig, ad: &Device) -> Self {
        ad.seed(cfg.seed);
        let net = FixedNet::from_layout(layout, ad);
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
        Model {
            split: DecaySplit::of(&net),
            net,
            decay_opt: sgd(cfg.weight_decay),
            plain_opt: sgd(0.0),
        }
    }

    fn save(&self, dir: &Path) -> Result<()> {
        let err = |what: &str, e| Error::record(dir, format!("saving {what}"), e);
        save_module(&self.net, &dir.join("model.bpk")).map_err(|e| err("network", e))?;
        self.decay_opt
            .save(dir.join("decay_opt.bpk"))
            .map_err(|e| err("optimizer", e))?;
        self.plain_opt
            .save(dir.join("plain_opt.bpk"))
            .map_err(|e| err("optimizer", e))
    }

    fn load(&mut self, dir: &Path) -> Result<()> {
        let err = |what: &str, e| Error::record(dir, format!("loading {what}"), e);
        self.net = self
            .net
            .clone()
            .try_load_file(dir.join("model.bpk"))
            .map_err(|e| err("network", e))?;
        self.decay_opt = self
            .decay_opt
            .clone()
            .load(dir.join("decay_opt.bpk"))
            .map_err(|e| err("optimizer", e))?;
        self.plain_opt = self
            .plain_opt
            .clone()
            .load(dir.join("plain_opt.bpk"))
            .map_err(|e| err("optimizer", e))?;
        self.split = DecaySplit::of(&self.net);
        Ok(())
    }

    /// One SGD step down `loss` at learning rate `lr`, decay on the decayed parameters.
    fn descend(&mut self, loss: Tensor<1>, lr: f64) {
        let mut grads = loss.backward();
        let g_decay = GradientsParams::from_params(&mut grads, &self.net, &self.split.decay);
        let g_plain = GradientsParams::from_params(&mut grads, &self.net, &self.split.plain);
        self.net = self.decay_opt.step(lr, self.net.clone(), g_decay);
        self.net = self.plain_opt.step(lr, self.net.clone(), g_plain);
    }
}

/// Save a network record to `run/name` atomically (temp file, then rename).
fn save_weights(net: &FixedNet, run: &RunDir, name: &str) -> Result<()> {
    let target = run.path.join(name);
    let tmp = run.path.join(format!(".{name}.tmp"));
    save_module(net, &tmp).map_err(|e| Error::record(&tmp, "saving weights", e))?;
    std::fs::rename(&tmp, &target).map_err(|e| Error::io(&target, e))
}

/// Copy `from` to `to` atomically (temp file beside `to`, then rename).
fn copy_atomic(from: &Path, to: &Path) -> Result<()> {
    let tmp = to.with_extension("bpk.tmp");
    std::fs::copy(from, &tmp).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, to).map_err(|e| Error::io(to, e))
}

/// The images a training run reads: the training split (without its validation share)
/// behind the data worker, the validation share and the test set.
pub(crate) struct TrainImages<'d> {
    pub(crate) data: Arc<dyn ImageData>,
    pub(crate) fit: Vec<usize>,
    pub(crate) validation: Option<&'d dyn ImageData>,
    pub(crate) test: &'d dyn ImageData,
}

/// The state of the epoch in progress.
struct Epoch {
    sums: Running,
    log_sums: Running,
    lr: f64,
}

/// A training run's epochs.
pub(crate) struct TrainEpochs<'c, 'd> {
    model: Model,
    cfg: &'c TrainConfig,
    ad: Device,
    ce: CrossEntropyLoss,
    images: TrainImages<'d>,
    input: usize,
    epoch: Option<Epoch>,
    /// The test evaluation of the last epoch run in this process.
    pub(crate) last: Option<Evaluation>,
    /// The network of the best epoch chosen in this process (inference mode).
    pub(crate) best_net: Option<FixedNet>,
}

impl<'c, 'd> TrainEpochs<'c, 'd> {
    /// The epochs of training a fresh network of `layout` on `images`.
    pub(crate) fn new(
        layout: &Layout,
        input: usize,
        cfg: &'c TrainConfig,
        device: &Device,
        images: TrainImages<'d>,
    ) -> Self {
        let ad = device.clone().autodiff();
        let model = Model::new(layout, cfg, &ad);
        let ce = CrossEntropyLossConfig::new()
            .with_smoothing((cfg.label_smoothing > 0.0).then_some(cfg.label_smoothing as f32))
            .init(&ad);
        TrainEpochs {
            model,
            cfg,
            ad,
            ce,
            images,
            input,
            epoch: None,
            last: None,
            best_net: None,
        }
    }

    /// Images evaluated per batch.
    pub(crate) fn eval_batch(&self) -> usize {
        self.cfg.batch_size.max(200)
    }

    /// The network as it stands (inference mode).
    pub(crate) fn net(&self) -> FixedNet {
        self.model.net.valid()
    }

    fn total_steps(&self) -> usize {
        self.steps_per_epoch() * self.cfg.epochs
    }

    fn warmup_steps(&self) -> usize {
        (self.cfg.warmup_epochs * self.steps_per_epoch() as f64).round() as usize
    }

    fn ep(&mut self) -> &mut Epoch {
        self.epoch.as_mut().expect("an epoch has started")
    }
}

impl EpochLoop for TrainEpochs<'_, '_> {
    type Metric = TrainMetric;
    type Progress = TrainProgress;
    type Batch = Batch;

    fn epochs(&self) -> usize {
        self.cfg.epochs
    }
    fn steps_per_epoch(&self) -> usize {
        self.images.fit.len() / self.cfg.batch_size
    }
    fn log_every(&self) -> usize {
        self.cfg.log_every
    }
    fn checkpoint_every(&self) -> (usize, f64) {
        (self.cfg.checkpoint_steps, self.cfg.checkpoint_minutes)
    }

    fn load(&mut self, dir: &Path, _at: &TrainProgress) -> Result<()> {
        self.model.load(dir)
    }

    fn save(&self, dir: &Path) -> Result<()> {
        self.model.save(dir)
    }

    fn start_epoch(&mut self, at: &TrainProgress) -> Receiver<Result<Batch>> {
        let cfg = self.cfg;
        self.epoch = Some(Epoch {
            sums: Running::new(at.epoch_sums),
            log_sums: Running::new(at.log_sums),
            lr: cfg.lr_at(at.step, self.total_steps(), self.warmup_steps()),
        });
        epoch_batches(
            self.images.data.clone(),
            self.images.fit.clone(),
            cfg.batch_size,
            stream_seed(cfg.seed, at.epoch, 2),
            cfg.augment,
            at.batch,
        )
    }

    fn step(&mut self, batch: Batch, at: &mut TrainProgress) -> Result<()> {
        let lr = self
            .cfg
            .lr_at(at.step, self.total_steps(), self.warmup_steps());
        // Dropout draws from the backend RNG: reseeded per step for exact resumes.
        self.ad.seed(stream_seed(self.cfg.seed, at.step, 4));
        let n = batch.labels.len();
        let (x, y) = batch.to_tensors(&self.ad);
        let out = self.model.net.forward(resample(x, self.input));
        let loss = self.ce.forward(out.clone(), y.clone());
        self.model.descend(loss.clone(), lr);
        let (loss, out) = (loss.detach(), out.detach());
        let ep = self.ep();
        ep.lr = lr;
        ep.sums.add(loss.clone(), out.clone(), y.clone());
        ep.log_sums.add(loss, out, y);
        at.images += n;
        Ok(())
    }

    fn step_line(&mut self, at: &TrainProgress) -> TrainMetric {
        let ep = self.ep();
        let (train_loss, train_acc) = ep.log_sums.take().means();
        TrainMetric::Step(TrainStep {
            epoch: at.epoch,
            step: at.step,
            train_loss,
            train_acc,
            lr: ep.lr,
        })
    }

    fn snapshot(&self, at: &TrainProgress) -> TrainProgress {
        let ep = self.epoch.as_ref().expect("an epoch has started");
        TrainProgress {
            epoch_sums: ep.sums.peek(),
            log_sums: ep.log_sums.peek(),
            ..at.clone()
        }
    }

    fn end_epoch(
        &mut self,
        at: &mut TrainProgress,
        clock: &dyn Fn() -> f64,
        run: Option<&RunDir>,
    ) -> Result<TrainMetric> {
        let epoch = at.epoch;
        let (train_loss, train_acc) = self.ep().sums.take().means();
        let advice = "lower the learning rate (lr)";
        check_finite(train_loss, "training loss", epoch, advice)?;
        let (batch, input) = (self.eval_batch(), self.input);
        let net = &self.model.net;
        let val = self
            .images
            .validation
            .map(|v| evaluate(net, v, batch, input));
        let val = val.transpose()?;
        let ev = evaluate(net, self.images.test, batch, input)?;
        // Chosen on validation; without it, every epoch replaces the last.
        let improved = match (&val, at.best_val_top1) {
            (Some(v), Some(b)) => v.top1 > b,
            _ => true,
        };
        if let Some(run) = run {
            save_weights(net, run, "last.bpk")?;
            if improved {
                copy_atomic(&run.path.join("last.bpk"), &run.path.join("best.bpk"))?;
            }
        }
        if improved {
            at.best_top1 = Some(ev.top1);
            at.best_val_top1 = val.as_ref().map(|v| v.top1);
            at.best_epoch = Some(epoch);
            self.best_net = Some(net.valid());
        }
        let ep = self.epoch.take().expect("an epoch has started");
        let line = TrainMetric::Epoch(TrainEpoch {
            epoch,
            step: at.step,
            train_loss,
            train_acc,
            val_loss: val.as_ref().map(|v| v.loss),
            val_top1: val.as_ref().map(|v| v.top1),
            test_loss: ev.loss,
            test_top1: ev.top1,
            lr: ep.lr,
            seconds: clock(),
            best: improved,
        });
        let mut log_sums = ep.log_sums;
        at.epoch_sums = Sums::default();
        at.log_sums = log_sums.sums();
        self.last = Some(ev);
        Ok(line)
    }
}
