//! `dmasking search`: search a space on CIFAR-10-style data.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use crate::data::{Split, load};
use crate::search::{LossMode, RunDir, SearchConfig, search};
use crate::space::Space;

/// Arguments of `dmasking search`.
#[derive(Args, Debug)]
pub struct SearchArgs {
    /// Search-space file (dmasking-space/1).
    #[arg(long)]
    pub space: PathBuf,
    /// CIFAR-10 binary files, or an image folder with train/ and test/.
    #[arg(long)]
    pub data: PathBuf,
    /// Run directory (must not exist, or be empty, unless --force).
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long)]
    pub epochs: Option<usize>,
    #[arg(long)]
    pub batch_size: Option<usize>,
    #[arg(long)]
    pub seed: Option<u64>,
    /// fbnet | additive | budget
    #[arg(long)]
    pub loss: Option<LossMode>,
    /// Target of the budget loss, in MFLOPs.
    #[arg(long)]
    pub budget_mflops: Option<f64>,
    /// Weight of the additive loss's FLOP term.
    #[arg(long)]
    pub lambda: Option<f64>,
    /// Use only the first N training images.
    #[arg(long)]
    pub max_images: Option<usize>,
    /// Weight-only warm-up epochs.
    #[arg(long)]
    pub warmup_epochs: Option<usize>,
    /// Overwrite an existing run directory.
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: SearchArgs, device: &burn::tensor::Device) -> Result<()> {
    let space = Space::load(&args.space)
        .with_context(|| format!("reading space {}", args.space.display()))?;
    let mut cfg = SearchConfig::default();
    if let Some(v) = args.epochs {
        cfg.epochs = v;
    }
    if let Some(v) = args.batch_size {
        cfg.batch_size = v;
    }
    if let Some(v) = args.seed {
        cfg.seed = v;
    }
    if let Some(v) = args.loss {
        cfg.loss = v;
    }
    if let Some(v) = args.lambda {
        cfg.additive_lambda = v;
    }
    if let Some(v) = args.warmup_epochs {
        cfg.warmup_epochs = v;
    }
    cfg.budget_mflops = args.budget_mflops;
    cfg.max_images = args.max_images;
    let mut train = load(&args.data, Split::Train)
        .with_context(|| format!("reading data {}", args.data.display()))?;
    if let Some(n) = cfg.max_images {
        train.truncate(n);
    }
    let run = RunDir::create(&args.out, args.force)?;
    run.write_atomic(
        "config.json",
        &serde_json::to_string_pretty(&serde_json::json!({"space": space, "search": cfg}))?,
    )?;
    println!(
        "searching {} on {} images ({} epochs, batch {}, loss {:?}) -> {}",
        space.name.as_deref().unwrap_or("space"),
        train.len(),
        cfg.epochs,
        cfg.batch_size,
        cfg.loss,
        args.out.display()
    );
    let outcome = search(&space, &train, &cfg, device, &run)?;
    println!(
        "derived architecture: {:.2} MFLOPs exact ({} blocks, input {}), {:.0} s, {:.1} images/s -> {}",
        outcome.exact_flops as f64 / 1e6,
        outcome.arch.blocks.len(),
        outcome.arch.input_size,
        outcome.wall_seconds,
        outcome.images_per_second,
        args.out.join("arch.json").display()
    );
    Ok(())
}
