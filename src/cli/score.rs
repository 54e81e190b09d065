//! `dmasking score --run SEARCH_RUN --arch FILE...`: the one-shot accuracy of
//! architectures of the run's space with the supernet's inherited weights: how the
//! supernet ranks them, to set against their accuracy when retrained.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::json;

use crate::arch::Arch;
use crate::data::{ImageData, Images, Split};
use crate::run::{RunDir, RunKind};
use crate::search::oneshot;

/// Arguments of `dmasking score`.
#[derive(Args, Debug)]
pub struct ScoreArgs {
    /// A search run directory (with a checkpoint).
    #[arg(long)]
    pub run: PathBuf,
    /// Architecture files of the run's space (derived, sampled, random or hand-written).
    #[arg(long, num_args = 1.., required = true)]
    pub arch: Vec<PathBuf>,
    /// CIFAR-10 binary files, or an image folder with train/ and test/ (default: the
    /// official archive, downloaded once into the cache; offline, an embedded demo subset).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Test images (a seeded subset, the same as `train` and `eval` use).
    #[arg(long, default_value_t = 2000)]
    pub max_test_images: usize,
    /// Training images over which each network's BN statistics are re-estimated.
    #[arg(long, default_value_t = 3200)]
    pub calibration_images: usize,
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Seed of the calibration subset.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print one JSON array on stdout.
    #[arg(long)]
    pub json: bool,
}

/// A search run directory (not a training run) for `command`.
pub(super) fn open_search_run(path: &std::path::Path, command: &str) -> Result<RunDir> {
    let run = RunDir::open(path)?;
    if run.kind()? != RunKind::Search {
        bail!(
            "{} is a training run; {command} needs a search run (its supernet)",
            path.display()
        );
    }
    Ok(run)
}

/// The calibration subset (`calibration` training images, seeded) and the test subset
/// (`test` images) one-shot scores use; `batch_size` and `test` must be positive.
pub(super) fn scoring_sets(
    data: Option<&std::path::Path>,
    calibration: usize,
    test: usize,
    batch_size: usize,
    seed: u64,
    size: usize,
) -> Result<(Images, Images)> {
    if batch_size == 0 || test == 0 {
        bail!("--batch-size and --max-test-images must be positive");
    }
    let data = super::data_dir(data)?;
    let read = |split| super::open_data(&data, split, size);
    Ok((
        read(Split::Train)?.train_subset(calibration, seed),
        read(Split::Test)?.test_subset(test),
    ))
}

pub fn run(args: ScoreArgs, device: &burn::tensor::Device) -> Result<()> {
    let run = open_search_run(&args.run, "score")?;
    let archs = args
        .arch
        .iter()
        .map(|p| Arch::load(p).with_context(|| format!("reading architecture {}", p.display())))
        .collect::<Result<Vec<_>>>()?;
    let (cfg, net, progress, _) = oneshot::load_supernet(&run, device)?;
    let picks = archs
        .iter()
        .zip(&args.arch)
        .map(|(a, p)| {
            net.plan
                .picks_for(a)
                .with_context(|| format!("{}", p.display()))
        })
        .collect::<Result<Vec<_>>>()?;
    let (calibration, test) = scoring_sets(
        args.data.as_deref(),
        args.calibration_images,
        args.max_test_images,
        args.batch_size,
        args.seed,
        cfg.space.input_size,
    )?;
    if !args.json {
        println!(
            "{} ({}, after {} of {} epochs): one-shot top-1 on {} test images, BN re-estimated on {} training images",
            args.run.display(),
            cfg.space.name.as_deref().unwrap_or("space"),
            progress.epoch,
            cfg.search.epochs,
            test.len(),
            calibration.len()
        );
    }
    let mut rows = Vec::new();
    for ((arch, path), picks) in archs.iter().zip(&args.arch).zip(&picks) {
        let ev = oneshot::score(
            &net,
            picks,
            cfg.search.weight_step.bilateral(),
            &calibration,
            args.batch_size,
            &test,
        )?;
        let c = arch.cost()?;
        if !args.json {
            println!(
                "  {:<40} {:>8.3} MFLOPs  top-1 {:.4}  loss {:.4}",
                path.display(),
                c.flops as f64 / 1e6,
                ev.top1,
                ev.loss
            );
        }
        rows.push(json!({
            "arch": path.display().to_string(), "flops": c.flops, "params": c.params,
            "images": ev.images, "top1": ev.top1, "loss": ev.loss,
        }));
    }
    if args.json {
        println!("{}", serde_json::to_string(&rows)?);
    }
    Ok(())
}
