//! Retraining a fixed architecture from scratch: SGD with Nesterov momentum, linear warm-up
//! then cosine learning rate, label smoothing, weight decay on conv and linear weights only,
//! crop + flip augmentation; `best.bpk` chosen on images held out of the training set, the
//! test accuracy reported after every epoch. [`Trainer`] is the entry point; a run
//! directory holds the config, `metrics.jsonl`, `best.bpk` and `last.bpk` (Burn records of
//! the network) and checkpoints (network and optimizer state, every epoch and on a stop
//! request); a resumed run continues exactly where it stopped.

pub mod config;
mod epochs;
pub mod metrics;

use std::path::Path;
use std::sync::Arc;

use burn::module::Module;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use serde_json::json;

pub use config::{TrainConfig, TrainRunConfig};
pub use metrics::{TrainEpoch, TrainMetric, TrainStep};

use crate::arch::Arch;
use crate::data::{ImageData, Subset, Transform, check_input, split};
use crate::error::{Error, Result};
use crate::eval::{Evaluation, evaluate};
use crate::nn::FixedNet;
use crate::run::{Attach, Attachments, RunDir, Sums, drive, stream_seed, write_atomic};
use epochs::{TrainEpochs, TrainImages};

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
    /// The transform of the training images (normalisation, augmentation), which the
    /// network expects of its inputs (the normalisation `export` builds into the ONNX
    /// graph: `onnx::Normalization::from(&outcome.transform)`).
    pub transform: Transform,
    /// The network's input size (images are resampled to it).
    pub input_size: usize,
    /// Seconds of training (resumed runs included).
    pub wall_seconds: f64,
    /// Training images per second (evaluation excluded from the count, not the time).
    pub images_per_second: f64,
}

impl TrainOutcome {
    /// The class of every image of `data` by the trained network, resampled to its input
    /// size ([`eval::predict`](crate::eval::predict)).
    pub fn predict(&self, data: &dyn ImageData) -> Result<Vec<crate::eval::Prediction>> {
        crate::eval::predict(&self.net, data, self.input_size, 200)
    }
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
        let layout = arch.layout()?;
        let (fit, val_idx) = train_splits(train, test, arch, cfg)?;
        let validation = val_idx.as_ref().map(|v| Subset::new(train, v));
        let images = TrainImages {
            data: Arc::new(train.clone()),
            fit,
            validation: validation.as_ref().map(|v| v as &dyn ImageData),
            test,
        };
        let mut epochs = TrainEpochs::new(&layout, arch.input_size, cfg, &self.device, images);
        let record = TrainRunConfig {
            arch: arch.clone(),
            train: cfg.clone(),
            transform: Some(train.transform().clone()),
        };
        let driven = drive(&mut epochs, &mut self.attach, |r| {
            r.write_config(&record)?;
            r.write_atomic("arch.json", &arch.to_json())
        })?;
        let last = match epochs.last.take() {
            Some(ev) => ev,
            // Resumed after the last epoch: evaluate the saved network again.
            None => evaluate(&epochs.net(), test, epochs.eval_batch(), arch.input_size)?,
        };
        let net = match (epochs.best_net.take(), driven.run) {
            (Some(net), _) => net,
            // Chosen before a resume: the record on disk.
            (None, Some(run)) => load_weights(arch, &run.path.join("best.bpk"), &self.device)?,
            (None, None) => epochs.net(),
        };
        let at = &driven.at;
        if let Some(run) = driven.run {
            let summary = json!({
                "best_top1": at.best_top1, "best_val_top1": at.best_val_top1,
                "best_epoch": at.best_epoch,
                "last_top1": last.top1, "wall_seconds": driven.seconds,
                "images_per_second": driven.images_per_second,
            });
            write_atomic(
                &run.path.join("summary.json"),
                serde_json::to_string_pretty(&summary).expect("summary serializes"),
            )?;
        }
        Ok(TrainOutcome {
            best_top1: at.best_top1.unwrap_or(last.top1),
            best_val_top1: at.best_val_top1,
            best_epoch: at.best_epoch.unwrap_or(0),
            last,
            net,
            transform: train.transform().clone(),
            input_size: arch.input_size,
            wall_seconds: driven.seconds,
            images_per_second: driven.images_per_second,
        })
    }
}

/// The training images without the validation share and that share's indices, checked:
/// images of the architecture's channels at least its input size, a batch to train on,
/// and test (and validation) images.
fn train_splits(
    train: &dyn ImageData,
    test: &dyn ImageData,
    arch: &Arch,
    cfg: &TrainConfig,
) -> Result<(Vec<usize>, Option<Vec<usize>>)> {
    let input = arch.input_size;
    check_input(train, "the training data", arch.in_channels, input)?;
    check_input(test, "the test data", arch.in_channels, input)?;
    let (fit, val_idx) = Trainer::split_validation(train.len(), cfg);
    if test.is_empty() || val_idx.as_ref().is_some_and(|v| v.is_empty()) {
        let which = if test.is_empty() {
            "test"
        } else {
            "validation"
        };
        return Err(Error::Data(format!("no {which} images")));
    }
    if fit.len() < cfg.batch_size {
        return Err(Error::TooFewImages {
            what: format!(
                "{} training images ({} after holding out {:.0} % for validation)",
                train.len(),
                fit.len(),
                100.0 * cfg.validation_fraction
            ),
            batch_size: cfg.batch_size,
        });
    }
    Ok((fit, val_idx))
}

crate::run::impl_position!(TrainProgress);
