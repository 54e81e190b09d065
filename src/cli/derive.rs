//! `dmasking derive --run DIR [--out FILE] [--sample N]`: architectures from a run's
//! checkpoint: the argmax of every choice, or N distinct samples of softmax(alpha).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use burn::module::Module;
use clap::Args;
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde_json::json;

use crate::cost::count;
use crate::search::{RunDir, run_dir::write_atomic};
use crate::supernet::{ArchLogits, Plan};

/// Arguments of `dmasking derive`.
#[derive(Args, Debug)]
pub struct DeriveArgs {
    /// A search run directory (with config.json and a checkpoint).
    #[arg(long)]
    pub run: PathBuf,
    /// Where to write the argmax architecture (default: RUN/arch.json); with --sample,
    /// a directory for arch_sample_K.json (default: RUN).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Sample N distinct architectures from softmax(alpha) instead of the argmax.
    #[arg(long)]
    pub sample: Option<usize>,
    /// Seed of the sampling.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Option index drawn from probabilities `p`.
fn draw<R: Rng>(rng: &mut R, p: &[f32]) -> usize {
    let u: f32 = rng.random_range(0.0..1.0);
    let mut acc = 0.0;
    for (i, &x) in p.iter().enumerate() {
        acc += x;
        if u < acc {
            return i;
        }
    }
    p.len() - 1
}

pub fn run(args: DeriveArgs) -> Result<()> {
    let run = RunDir::open(&args.run)?;
    let saved = run.config()?;
    let Some((dir, progress)) = run.latest_checkpoint::<crate::search::Progress>()? else {
        bail!(
            "{}: no checkpoint yet (the run has not finished an epoch)",
            args.run.display()
        );
    };
    let plan = Plan::new(&saved.space);
    let device = burn::tensor::Device::default();
    let logits = ArchLogits::new(&plan.choices, &device)
        .try_load_file(dir.join("logits.bpk"))
        .map_err(|e| anyhow::anyhow!("{}: loading logits: {e:?}", dir.display()))?;
    let probs = logits.probabilities();
    let provenance = |kind: &str, picks: &[usize]| {
        json!({
            "space": saved.space.name, "search": saved.search, "seed": saved.search.seed,
            "epoch": progress.epoch, "derive": kind, "run": args.run.display().to_string(),
            "picks": picks,
        })
    };
    match args.sample {
        None => {
            let (picks, _) = crate::search::final_picks(&plan, &logits, &saved.search)?;
            let kind = if saved.search.budget_flops().is_some() {
                "argmax projected to the budget band"
            } else {
                "argmax"
            };
            let mut arch = plan.derive(&picks)?;
            arch.provenance = Some(provenance(kind, &picks));
            let c = count(&arch.layout()?, arch.input_size);
            let out = args.out.unwrap_or_else(|| args.run.join("arch.json"));
            write_atomic(&out, arch.to_json())?;
            println!(
                "argmax architecture after {} epochs: {:.2} MFLOPs, {} params -> {}",
                progress.epoch,
                c.flops as f64 / 1e6,
                c.params,
                out.display()
            );
        }
        Some(n) => {
            let out = args.out.unwrap_or_else(|| args.run.clone());
            std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            let mut rng = StdRng::seed_from_u64(args.seed);
            let mut seen = std::collections::BTreeSet::new();
            let mut tries = 0;
            while seen.len() < n && tries < 1000 * n.max(1) {
                tries += 1;
                let picks: Vec<usize> = probs.iter().map(|p| draw(&mut rng, p)).collect();
                let mut arch = plan.derive(&picks)?;
                if !seen.insert(arch.network_key()) {
                    continue;
                }
                arch.provenance = Some(provenance("sample", &picks));
                let k = seen.len() - 1;
                let c = count(&arch.layout()?, arch.input_size);
                let path = out.join(format!("arch_sample_{k}.json"));
                write_atomic(&path, arch.to_json())?;
                println!(
                    "sample {k}: {:.2} MFLOPs -> {}",
                    c.flops as f64 / 1e6,
                    path.display()
                );
            }
            if seen.len() < n {
                bail!(
                    "only {} distinct architectures found in {tries} draws (the distribution is nearly deterministic)",
                    seen.len()
                );
            }
        }
    }
    Ok(())
}
