//! `dmasking random --space FILE --count N --match-mflops X [--tolerance 0.05]`: random
//! architectures of a space with matched FLOPs, the baseline every NAS result needs; or
//! `--latency-table TABLE --match-ms T`: matched predicted latency.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::json;

use crate::run::write_atomic;
use crate::search::loss::cost::{Flops, SearchCost};
use crate::search::loss::latency::Latency;
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
    #[arg(
        long,
        required_unless_present = "match_ms",
        conflicts_with = "match_ms"
    )]
    pub match_mflops: Option<f64>,
    /// Target latency in milliseconds, predicted by `--latency-table`.
    #[arg(long, requires = "latency_table")]
    pub match_ms: Option<f64>,
    /// A latency table of the space (`dmasking latency table`), for `--match-ms`.
    #[arg(long, requires = "match_ms")]
    pub latency_table: Option<PathBuf>,
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
    let plan = Plan::new(&space);
    let (cost, target): (Box<dyn SearchCost>, f64) = match (&args.latency_table, args.match_ms) {
        (Some(table), Some(ms)) => (Box::new(Latency::new(table, &plan)?), ms),
        _ => (Box::new(Flops), args.match_mflops.unwrap_or(f64::NAN)),
    };
    if !(target > 0.0 && target.is_finite() && args.tolerance >= 0.0) {
        bail!("the target must be positive and --tolerance non-negative");
    }
    let what = format!("{target} {}", cost.unit());
    let range = cost.range(&plan)?;
    let raw = target * cost.scale();
    if raw * (1.0 + args.tolerance) < range.min || raw * (1.0 - args.tolerance) > range.max {
        bail!(
            "{what} is outside the space's range {:.4}–{:.4} {} (±{:.0}% allowed)",
            range.min / cost.scale(),
            range.max / cost.scale(),
            cost.unit(),
            args.tolerance * 100.0
        );
    }
    let exact = |p: &[usize]| cost.exact(&plan, p);
    let archs = plan.random_matched_by(
        args.count,
        raw,
        args.tolerance,
        args.seed,
        args.max_draws,
        &exact,
        &what,
    )?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    for (k, r) in archs.into_iter().enumerate() {
        let mut arch = r.arch;
        arch.name = Some(format!(
            "{}-random{k}",
            space.name.as_deref().unwrap_or("space")
        ));
        let random = match args.match_ms {
            Some(ms) => json!({"space": space.name, "seed": args.seed, "match_ms": ms,
                               "tolerance": args.tolerance, "method": r.method}),
            None => json!({"space": space.name, "seed": args.seed, "match_mflops": target,
                           "tolerance": args.tolerance, "method": r.method}),
        };
        let mut provenance = json!({"random": random, "exact_flops": r.flops, "picks": r.picks});
        if let (Some(p), Some(serde_json::Value::Object(extra))) =
            (provenance.as_object_mut(), cost.describe(&plan, &r.picks)?)
        {
            p.extend(extra);
        }
        arch.provenance = Some(provenance);
        let path = args.out.join(format!("random_{k}.json"));
        write_atomic(&path, arch.to_json())?;
        let latency = match args.match_ms {
            Some(_) => format!(", {:.4} ms predicted", r.cost / cost.scale()),
            None => String::new(),
        };
        println!(
            "random {k}: {:.3} MFLOPs{latency} ({}) -> {}",
            r.flops as f64 / 1e6,
            r.method,
            path.display()
        );
    }
    Ok(())
}
