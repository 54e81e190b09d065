//! `dmasking fidelity --run SEARCH_RUN --benchmark FILE`: Kendall's τ between the
//! supernet's one-shot ranking of benchmark networks and their benchmark accuracy.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use crate::data::ImageData;
use crate::run::write_atomic;
use crate::search::fidelity::fidelity;
use crate::search::oneshot;

/// Arguments of `dmasking fidelity`.
#[derive(Args, Debug)]
pub struct FidelityArgs {
    /// A search run directory of the benchmark's space (weights-only or a search).
    #[arg(long)]
    pub run: PathBuf,
    /// The benchmark's data file: NAS-Bench-Macro (data/nas-bench-macro/nas-bench-macro_cifar10.json) or Channel-Bench-Macro's Results_MobileNet.json.
    #[arg(long)]
    pub benchmark: PathBuf,
    /// Networks to score: half spread over the FLOP range, half in the ±5 % band
    /// around its middle.
    #[arg(long, default_value_t = 100)]
    pub networks: usize,
    /// CIFAR-10 binary files, or an image folder with train/ and test/ (default: the
    /// official archive, downloaded once into the cache; offline, an embedded demo subset).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Test images each network is scored on (a seeded subset).
    #[arg(long, default_value_t = 1000)]
    pub max_test_images: usize,
    /// Training images over which each network's BN statistics are re-estimated.
    #[arg(long, default_value_t = 512)]
    pub calibration_images: usize,
    #[arg(long, default_value_t = 128)]
    pub batch_size: usize,
    /// Seed of the calibration subset and of the networks drawn from the band.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Also write the report (every network's scores) to this JSON file.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print the report as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: FidelityArgs, device: &burn::tensor::Device) -> Result<()> {
    let run = super::score::open_search_run(&args.run, "fidelity")?;
    let bench = crate::benchmark::open(&args.benchmark)
        .with_context(|| format!("reading benchmark {}", args.benchmark.display()))?;
    let (cfg, net, progress, _) = oneshot::load_supernet(&run, device)?;
    let (calibration, test) = super::score::scoring_sets(
        args.data.as_deref(),
        args.calibration_images,
        args.max_test_images,
        args.batch_size,
        args.seed,
        cfg.space.input_size,
    )?;
    eprintln!(
        "{} (after {} of {} epochs): scoring {} networks, BN re-estimated on {} training images, top-1 on {} test images",
        args.run.display(),
        progress.epoch,
        cfg.search.epochs,
        args.networks,
        calibration.len(),
        test.len()
    );
    let report = fidelity(
        &net,
        cfg.search.weight_step.bilateral(),
        &*bench,
        args.networks,
        args.seed,
        &calibration,
        args.batch_size,
        &test,
        |done, total, r| {
            eprintln!(
                "  [{done}/{total}] {} {:>7.2} MFLOPs  benchmark {:.2} %  one-shot {:.2} %{}",
                r.key,
                r.flops as f64 / 1e6,
                r.benchmark_acc,
                100.0 * r.oneshot_top1,
                if r.in_band { "  (band)" } else { "" }
            )
        },
    )?;
    let text = serde_json::to_string_pretty(&report)?;
    if let Some(path) = &args.out {
        write_atomic(path, text.as_bytes())?;
    }
    if args.json {
        println!("{text}");
    } else {
        println!("Kendall tau against the benchmark accuracy (one-shot | more FLOPs is better):");
        for (what, t) in [
            ("all".to_string(), &report.overall),
            (
                format!("band ±5 % of {:.2} MFLOPs", report.band_centre as f64 / 1e6),
                &report.band,
            ),
        ] {
            println!(
                "  {what:<32} {:>3} networks  {:+.3} | {:+.3}",
                t.networks, t.oneshot, t.flops
            );
        }
    }
    Ok(())
}
