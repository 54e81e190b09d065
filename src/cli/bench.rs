//! `dmasking bench --space FILE [--batch-size N] [--steps N] [--json]`: the supernet's
//! steps; `dmasking bench --data DIR --input-size N`: the data loader alone.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use crate::search::WeightStep;
use crate::space::Space;
use crate::supernet::OpSharing;

/// Arguments of `dmasking bench`.
#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["space", "data"])))]
pub struct BenchArgs {
    /// Search-space file (dmasking-space/1): time its supernet's steps on random data.
    #[arg(long)]
    pub space: Option<PathBuf>,
    /// A data directory: time the data loader alone on its training split (images/s of
    /// training and of evaluation batches at --input-size).
    #[arg(long, conflicts_with = "space")]
    pub data: Option<PathBuf>,
    /// With --data: the network input side the images are made at.
    #[arg(long, default_value_t = 224)]
    pub input_size: usize,
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Timed steps of each kind (after one untimed warm-up step).
    #[arg(long, default_value_t = 5)]
    pub steps: usize,
    /// branches or superkernel.
    #[arg(long, default_value = "branches")]
    pub op_sharing: OpSharing,
    /// masked (the paper's step), single-path (ours: only one sampled network) or
    /// sandwich (largest + smallest + one sampled network) or sandwich-distill (the
    /// largest teaching the other two) or bilateral (one sampled network on the first
    /// and on the last channels).
    #[arg(long, default_value = "masked")]
    pub weight_step: WeightStep,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// Time both kinds of step, or only one (for a profile of it).
    #[arg(long, value_enum, default_value = "both")]
    pub only: crate::bench::Steps,
    /// Time nothing: write the `branches` supernet's weights (`weights.safetensors`) and
    /// its logits under uniform and one-hot architecture weights (`check.json`) into this
    /// directory, for `benches/pytorch_reference.py --check` (the same network on both
    /// sides of `benches/compare.sh`).
    #[arg(long, value_name = "DIR", requires = "space")]
    pub dump_reference: Option<PathBuf>,
}

pub fn run(args: BenchArgs, device: &burn::tensor::Device) -> Result<()> {
    if args.batch_size == 0 || args.steps == 0 {
        anyhow::bail!("--batch-size and --steps must be positive");
    }
    if let Some(dir) = &args.data {
        return loader(dir, &args);
    }
    let path = args
        .space
        .as_ref()
        .expect("clap requires --space or --data");
    let space = Space::load(path).with_context(|| format!("reading space {}", path.display()))?;
    if let Some(dir) = &args.dump_reference {
        return dump_reference(&space, dir, device);
    }
    let r = crate::bench::bench(
        &space,
        args.op_sharing,
        args.weight_step,
        args.batch_size,
        args.steps,
        args.only,
        device,
    )?;
    if args.json {
        println!("{}", serde_json::to_string(&r)?);
    } else {
        println!(
            "{} ({:?}, {:?} weight step) batch {} ({} threads), median of {} steps:",
            r.space.as_deref().unwrap_or("space"),
            args.op_sharing,
            args.weight_step,
            r.batch_size,
            r.threads,
            r.steps
        );
        let kinds = [("weight step", &r.weight_step), ("arch step", &r.arch_step)];
        for (name, s) in kinds.iter().filter_map(|(n, s)| Some((n, s.as_ref()?))) {
            println!(
                "  {name}: {:.1} ms, {:.1} images/s, peak {:.1} MiB",
                s.median_ms, s.images_per_s, s.peak_mib
            );
        }
        println!("  model + optimizers: {:.1} MiB", r.model_mib);
    }
    Ok(())
}

/// `--data`: the loader alone, `--steps` batches of each kind.
fn loader(dir: &std::path::Path, args: &BenchArgs) -> Result<()> {
    if args.input_size == 0 {
        anyhow::bail!("--input-size must be positive");
    }
    let data = super::open_data(dir, crate::data::Split::Train, args.input_size)?;
    let r = crate::bench::bench_loader(
        std::sync::Arc::new(data),
        args.batch_size,
        args.steps,
        args.input_size,
    )?;
    if args.json {
        println!("{}", serde_json::to_string(&r)?);
    } else {
        println!(
            "loader: {} batches of {} at {}x{} ({} decoding threads): training {:.1} images/s, evaluation {:.1} images/s, peak RSS +{:.1} MiB",
            r.batches,
            r.batch_size,
            r.input_size,
            r.input_size,
            r.decode_threads,
            r.train_images_per_s,
            r.eval_images_per_s,
            r.rss_growth_mib
        );
    }
    Ok(())
}

/// `--dump-reference DIR`: the check's weights as SafeTensors (f32, little-endian) and its
/// cases as JSON.
fn dump_reference(
    space: &Space,
    dir: &std::path::Path,
    device: &burn::tensor::Device,
) -> Result<()> {
    use safetensors::{Dtype, tensor::TensorView};
    let check = crate::bench::reference_check(space, 4, device)?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let bytes: Vec<Vec<u8>> = check
        .tensors
        .iter()
        .map(|t| t.values.iter().flat_map(|v| v.to_le_bytes()).collect())
        .collect();
    let views = check
        .tensors
        .iter()
        .zip(&bytes)
        .map(|(t, b)| {
            Ok((
                t.name.clone(),
                TensorView::new(Dtype::F32, t.shape.clone(), b)?,
            ))
        })
        .collect::<std::result::Result<Vec<_>, safetensors::SafeTensorError>>()?;
    let weights = dir.join("weights.safetensors");
    safetensors::serialize_to_file(views, None, &weights)
        .with_context(|| format!("writing {}", weights.display()))?;
    let json = dir.join("check.json");
    std::fs::write(&json, serde_json::to_string(&check)?)
        .with_context(|| format!("writing {}", json.display()))?;
    Ok(())
}
