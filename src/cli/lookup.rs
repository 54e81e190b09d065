//! `dmasking lookup --benchmark FILE --arch FILE [--json]`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use crate::arch::Arch;
use crate::benchmark::{BAND, lookup};

/// Arguments of `dmasking lookup`.
#[derive(Args, Debug)]
pub struct LookupArgs {
    /// The benchmark's data file: NAS-Bench-Macro (data/nas-bench-macro/nas-bench-macro_cifar10.json) or Channel-Bench-Macro's Results_MobileNet.json.
    #[arg(long)]
    pub benchmark: PathBuf,
    /// An architecture file (dmasking-arch/1) of the benchmark's space.
    #[arg(long)]
    pub arch: PathBuf,
    /// The benchmark's measured network latencies (`dmasking latency benchmark`): also its
    /// percentile among the networks within ±5 % of its latency.
    #[arg(long)]
    pub latency: Option<PathBuf>,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: LookupArgs) -> Result<()> {
    let bench = crate::benchmark::open(&args.benchmark)
        .with_context(|| format!("reading benchmark {}", args.benchmark.display()))?;
    let arch = Arch::load(&args.arch)
        .with_context(|| format!("reading architecture {}", args.arch.display()))?;
    let found = match &args.latency {
        Some(p) => {
            let lat = crate::latency::NetworkLatencies::read(p)?;
            crate::benchmark::lookup_with_latency(&*bench, &arch, &lat)?
        }
        None => lookup(&*bench, &arch)?,
    };
    if args.json {
        println!("{}", serde_json::to_string(&found)?);
    } else {
        println!(
            "{}: {} key {}, mean accuracy {:.2} %, {} FLOPs, {} params",
            arch.name.as_deref().unwrap_or("architecture"),
            bench.name(),
            found.key,
            found.mean_acc,
            found.flops,
            found.params
        );
        println!(
            "  percentile {:.1} within ±{:.0} % FLOPs ({} networks)",
            found.percentile,
            BAND * 100.0,
            found.band_size
        );
        if let Some(l) = &found.latency {
            println!(
                "  {:.4} ms measured: percentile {:.1} within ±{:.0} % latency ({} networks)",
                l.ms,
                l.percentile,
                BAND * 100.0,
                l.band_size
            );
        }
        if !found.same_as.is_empty() {
            println!("  same network as {}", found.same_as.join(", "));
        }
    }
    Ok(())
}
