//! `dmasking bench --space FILE [--batch-size N] [--steps N] [--json]`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use crate::search::WeightStep;
use crate::space::Space;
use crate::supernet::OpSharing;

/// Arguments of `dmasking bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Search-space file (dmasking-space/1).
    #[arg(long)]
    pub space: PathBuf,
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Timed steps of each kind (after one untimed warm-up step).
    #[arg(long, default_value_t = 5)]
    pub steps: usize,
    /// branches or superkernel.
    #[arg(long, default_value = "branches")]
    pub op_sharing: OpSharing,
    /// masked (the paper's step), single-path (ours: only one sampled network) or
    /// sandwich (largest + smallest + one sampled network).
    #[arg(long, default_value = "masked")]
    pub weight_step: WeightStep,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: BenchArgs, device: &burn::tensor::Device) -> Result<()> {
    let space = Space::load(&args.space)
        .with_context(|| format!("reading space {}", args.space.display()))?;
    if args.batch_size == 0 || args.steps == 0 {
        anyhow::bail!("--batch-size and --steps must be positive");
    }
    let r = crate::bench::bench(
        &space,
        args.op_sharing,
        args.weight_step,
        args.batch_size,
        args.steps,
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
        for (name, s) in [("weight step", &r.weight_step), ("arch step", &r.arch_step)] {
            println!(
                "  {name}: {:.1} ms, {:.1} images/s, peak {:.1} MiB",
                s.median_ms, s.images_per_s, s.peak_mib
            );
        }
        println!("  model + optimizers: {:.1} MiB", r.model_mib);
    }
    Ok(())
}
