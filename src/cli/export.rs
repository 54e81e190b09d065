//! `dmasking export (--arch FILE | --zoo NAME | --run DIR) [--weights FILE] --out FILE`:
//! a fixed network as an ONNX file (`image` [N, C, H, W] in [0, 1] → `logits`).

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use clap::Args;

use crate::nn::FixedNet;
use crate::onnx::{Normalization, to_onnx};
use crate::run::{RunDir, RunKind, write_atomic};
use crate::train::TrainRunConfig;

/// Arguments of `dmasking export`.
#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["arch", "zoo", "run"])))]
pub struct ExportArgs {
    /// An architecture file (dmasking-arch/1).
    #[arg(long)]
    pub arch: Option<PathBuf>,
    /// A built-in model: fbnetv2_f1..f4, fbnetv2_l1, fbnetv2_l2.
    #[arg(long)]
    pub zoo: Option<String>,
    /// A training run: its architecture, its best.bpk and its data's normalisation.
    #[arg(long)]
    pub run: Option<PathBuf>,
    /// Weights of the network: a training run's best.bpk or last.bpk, or a PyTorch state
    /// dict (.pth/.pt) named as mobile-vision's FBNetV2 models name their parameters
    /// (default with --arch or --zoo: random, seeded by --seed).
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// Per-channel mean of the input normalisation, comma-separated (default: the
    /// training run's data when the weights come from one, else ImageNet's).
    #[arg(long, value_delimiter = ',', requires = "std")]
    pub mean: Option<Vec<f32>>,
    /// Per-channel standard deviation, comma-separated (with --mean).
    #[arg(long, value_delimiter = ',', requires = "mean")]
    pub std: Option<Vec<f32>>,
    /// Seed of random weights.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The ONNX file to write.
    #[arg(long)]
    pub out: PathBuf,
}

/// The training run's config.json beside a weights file, if the file is in one.
fn run_config(weights: &Path) -> Result<Option<TrainRunConfig>> {
    let dir = weights.parent().unwrap_or(Path::new("."));
    let Ok(run) = RunDir::open(dir) else {
        return Ok(None);
    };
    if run.kind()? != RunKind::Train {
        return Ok(None);
    }
    Ok(Some(TrainRunConfig::read(&run)?))
}

pub fn run(args: ExportArgs, device: &burn::tensor::Device) -> Result<()> {
    let weights = match (&args.run, &args.weights) {
        (Some(run), None) => Some(run.join("best.bpk")),
        (_, w) => w.clone(),
    };
    let saved = match &weights {
        Some(w) => run_config(w)?,
        None => None,
    };
    let arch = match (&args.arch, &args.zoo, &saved) {
        (None, None, Some(saved)) => saved.arch.clone(),
        (None, None, None) => bail!(
            "{}: not a training run (no config.json of `dmasking train`)",
            args.run.as_deref().unwrap_or(Path::new("?")).display()
        ),
        _ => super::arch_arg(args.arch.as_deref(), args.zoo.as_deref())?,
    };
    let (norm, from) = match (
        args.mean,
        args.std,
        saved.as_ref().and_then(|s| s.transform.as_ref()),
    ) {
        (Some(mean), Some(std), _) => (Normalization { mean, std }, "--mean/--std"),
        (_, _, Some(t)) => (Normalization::from(t), "the training run's data"),
        _ => (Normalization::imagenet(), "ImageNet's"),
    };
    let net = match &weights {
        Some(path) => super::load_net(&arch, path, device)?,
        None => {
            device.seed(args.seed);
            FixedNet::new(&arch, device)?
        }
    };
    let bytes = to_onnx(&net, &arch, &norm)?;
    write_atomic(&args.out, &bytes)?;
    eprintln!(
        "wrote {} ({:.1} MB): image [N, {c}, {s}, {s}] RGB in [0, 1] → logits [N, {}]; normalised with {from} mean {:?} std {:?}; weights: {}",
        args.out.display(),
        bytes.len() as f64 / 1e6,
        arch.num_classes,
        norm.mean,
        norm.std,
        weights.as_ref().map_or_else(
            || format!("random (seed {})", args.seed),
            |p| p.display().to_string()
        ),
        c = arch.in_channels,
        s = arch.input_size,
    );
    Ok(())
}
