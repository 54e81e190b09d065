//! `dmasking scale --space FILE --match-mflops M [--by width|resolution] --out FILE`: the
//! space's largest network scaled to a FLOP budget, the baseline a search should beat.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use crate::run::write_atomic;
use crate::space::Space;
use crate::supernet::{Plan, ScaleBy, scaled_baseline};

/// Arguments of `dmasking scale`.
#[derive(Args, Debug)]
pub struct ScaleArgs {
    /// A search-space file (dmasking-space/1).
    #[arg(long)]
    pub space: PathBuf,
    /// Target FLOPs in millions (our convention).
    #[arg(long)]
    pub match_mflops: f64,
    /// width (every width times one factor, rounded to the width divisor) or resolution (a
    /// smaller input).
    #[arg(long, default_value = "width")]
    pub by: ScaleBy,
    /// Relative tolerance: outside it the nearest network is still written, with a warning.
    #[arg(long, default_value_t = 0.05)]
    pub tolerance: f64,
    /// The architecture file to write.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(args: ScaleArgs) -> Result<()> {
    let space = Space::load(&args.space)
        .with_context(|| format!("reading space {}", args.space.display()))?;
    let s = scaled_baseline(&Plan::new(&space), args.match_mflops * 1e6, args.by)?;
    write_atomic(&args.out, s.arch.to_json())?;
    let off = s.flops as f64 / (args.match_mflops * 1e6) - 1.0;
    let how = match args.by {
        ScaleBy::Width => format!("widths × {:.3}", s.factor),
        ScaleBy::Resolution => format!("input {}", s.arch.input_size),
    };
    println!(
        "largest network, {how}: {:.3} MFLOPs ({:+.1} % of {}) -> {}",
        s.flops as f64 / 1e6,
        100.0 * off,
        args.match_mflops,
        args.out.display()
    );
    if off.abs() > args.tolerance {
        eprintln!(
            "warning: the nearest scaled network is {:+.1} % from the target (tolerance ±{:.0} %)",
            100.0 * off,
            100.0 * args.tolerance
        );
    }
    Ok(())
}
