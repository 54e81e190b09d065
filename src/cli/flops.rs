//! `dmasking flops (--arch FILE | --zoo NAME | --space FILE) [--json]`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use serde_json::json;

use crate::cost::{Convention, count_in};
use crate::space::Space;
use crate::supernet::{EXTREME_LIMIT, Plan};

/// Arguments of `dmasking flops`.
#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["arch", "zoo", "space"])))]
pub struct FlopsArgs {
    /// An architecture file (dmasking-arch/1).
    #[arg(long)]
    pub arch: Option<PathBuf>,
    /// A built-in model: fbnetv2_f1..f4, fbnetv2_l1, fbnetv2_l2.
    #[arg(long)]
    pub zoo: Option<String>,
    /// A search-space file (dmasking-space/1).
    #[arg(long)]
    pub space: Option<PathBuf>,
    /// Count at this input size instead of the file's.
    #[arg(long)]
    pub input_size: Option<usize>,
    /// Counting convention: ours (MACs of convs and linears plus pooled elements; conv
    /// and linear weights) or torch (MACs of convs and linears; every learnable
    /// parameter, BN and biases included). Budgets are always in ours.
    #[arg(long, default_value = "ours")]
    pub convention: Convention,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: FlopsArgs) -> Result<()> {
    if let Some(path) = &args.space {
        let space =
            Space::load(path).with_context(|| format!("reading space {}", path.display()))?;
        return run_space(&space, args.convention, args.json);
    }
    let arch = super::arch_arg(args.arch.as_deref(), args.zoo.as_deref())?;
    let size = args.input_size.unwrap_or(arch.input_size);
    let c = count_in(&arch.layout()?, size, args.convention);
    if args.json {
        let v = json!({
            "flops": c.flops,
            "params": c.params,
            "convention": args.convention.name(),
            "name": arch.name,
            "input_size": size,
            "blocks": arch.blocks.len(),
        });
        println!("{v}");
    } else {
        println!(
            "{}: {} FLOPs ({:.2} MFLOPs), {} params ({:.3} M) at {size}x{size}{}",
            arch.name.as_deref().unwrap_or("architecture"),
            c.flops,
            c.flops as f64 / 1e6,
            c.params,
            c.params as f64 / 1e6,
            match args.convention {
                Convention::Ours => "",
                Convention::Torch => " (torch convention)",
            }
        );
    }
    Ok(())
}

/// The space's smallest and largest networks (found in our convention) and its mean,
/// counted in `cv`.
fn run_space(space: &Space, cv: Convention, json: bool) -> Result<()> {
    let plan = Plan::new(space);
    let smallest = plan.cost_in(&plan.extreme(false, EXTREME_LIMIT)?.picks, cv)?;
    let largest = plan.cost_in(&plan.extreme(true, EXTREME_LIMIT)?.picks, cv)?;
    let samples = 1000;
    let mean = plan.uniform_mean_flops_in(samples, 0, cv)?;
    let log10 = plan.log10_size();
    if json {
        let v = json!({
            "name": space.name,
            "convention": cv.name(),
            "choices": plan.choices.len(),
            "log10_size": log10,
            "min_flops": smallest.flops,
            "max_flops": largest.flops,
            "uniform_mean_flops": mean,
            "uniform_mean_samples": samples,
        });
        println!("{v}");
    } else {
        println!(
            "{}: {} choices, 10^{log10:.2} architectures",
            space.name.as_deref().unwrap_or("space"),
            plan.choices.len()
        );
        println!("  smallest: {:.2} MFLOPs", smallest.flops as f64 / 1e6);
        println!("  largest:  {:.2} MFLOPs", largest.flops as f64 / 1e6);
        println!(
            "  uniform mean: {:.2} MFLOPs ({samples} random architectures, seed 0)",
            mean / 1e6
        );
    }
    Ok(())
}
