//! `dmasking random --space FILE --count N --match-mflops X [--tolerance 0.05]`: random
//! architectures of a space with matched FLOPs, the baseline every NAS result needs.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::json;

use crate::run::write_atomic;
use crate::space::Space;
use crate::supernet::Plan;

/// Arguments of `dmasking random`.
#[derive(Args, Debug)]
pub struct RandomArgs {
    #[arg(long)]
    pub space: PathBuf,
    #[arg(long, default_value_t = 3)]
    pub count: usize,
    /// Target FLOPs in millions; architectures within the tolerance are kept.
    #[arg(long)]
    pub match_mflops: f64,
    /// Relative tolerance around the target.
    #[arg(long, default_value_t = 0.05)]
    pub tolerance: f64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Directory for random_K.json (default: current directory).
    #[arg(long, default_value = ".")]
    pub out: PathBuf,
    /// Uniform draws to try before giving up.
    #[arg(long, default_value_t = 200_000)]
    pub max_draws: usize,
}

pub fn run(args: RandomArgs) -> Result<()> {
    let space = Space::load(&args.space)
        .with_context(|| format!("reading space {}", args.space.display()))?;
    if !(args.match_mflops > 0.0 && args.tolerance >= 0.0) {
        bail!("--match-mflops must be positive and --tolerance non-negative");
    }
    let plan = Plan::new(&space);
    let archs = plan.random_matched(
        args.count,
        args.match_mflops * 1e6,
        args.tolerance,
        args.seed,
        args.max_draws,
    )?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    for (k, r) in archs.into_iter().enumerate() {
        let (mut arch, flops, method) = (r.arch, r.flops, r.method);
        arch.name = Some(format!(
            "{}-random{k}",
            space.name.as_deref().unwrap_or("space")
        ));
        arch.provenance = Some(json!({
            "random": {"space": space.name, "seed": args.seed, "match_mflops": args.match_mflops,
                        "tolerance": args.tolerance, "method": method},
            "exact_flops": flops,
            "picks": r.picks,
        }));
        let path = args.out.join(format!("random_{k}.json"));
        write_atomic(&path, arch.to_json())?;
        println!(
            "random {k}: {:.3} MFLOPs ({method}) -> {}",
            flops as f64 / 1e6,
            path.display()
        );
    }
    Ok(())
}
