//! `dmasking search`: search a space on CIFAR-10-style data; `--resume` continues a run.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::data::{ImageData, Split};
use crate::run::{Attach, RunDir};
use crate::search::WeightStep;
use crate::search::{LossMode, SearchConfig, Searcher};
use crate::space::Space;
use crate::supernet::OpSharing;

/// Arguments of `dmasking search`.
#[derive(Args, Debug)]
pub struct SearchArgs {
    /// Search-space file (dmasking-space/1); with --resume, the run's own copy is used.
    #[arg(long)]
    pub space: Option<PathBuf>,
    /// CIFAR-10 binary files, or an image folder with train/ and test/ (default: the
    /// official archive, downloaded once into the cache; offline, an embedded demo subset).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Run directory (must not exist or be empty, unless --force or --resume).
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long)]
    pub epochs: Option<usize>,
    #[arg(long)]
    pub batch_size: Option<usize>,
    #[arg(long)]
    pub seed: Option<u64>,
    /// Also checkpoint mid-epoch every N steps (default: by time only).
    #[arg(long)]
    pub checkpoint_steps: Option<usize>,
    /// Also checkpoint mid-epoch every M minutes (default 30; 0: at epoch ends only).
    #[arg(long)]
    pub checkpoint_minutes: Option<f64>,
    /// fbnet | additive | budget
    #[arg(long)]
    pub loss: Option<LossMode>,
    /// Target of the budget loss, in MFLOPs.
    #[arg(long, conflicts_with = "budget_ms")]
    pub budget_mflops: Option<f64>,
    /// Search latency, predicted from this latency table (`dmasking latency table`), in
    /// place of FLOPs, in every loss form, the budget band and the selection.
    #[arg(long)]
    pub latency_table: Option<PathBuf>,
    /// Target of the budget loss with --latency-table, in ms.
    #[arg(long, requires = "latency_table")]
    pub budget_ms: Option<f64>,
    /// Weight of the additive loss's FLOP term.
    #[arg(long)]
    pub lambda: Option<f64>,
    /// Use a seeded random subset of N training images.
    #[arg(long)]
    pub max_images: Option<usize>,
    /// branches (one block per kernel × SE option, the paper) or superkernel (one
    /// shared block; about twice as fast).
    #[arg(long)]
    pub op_sharing: Option<OpSharing>,
    /// masked (the whole supernet under g, the paper; default), single-path (ours: each
    /// weight step trains only one hard-sampled network, at that network's cost) or
    /// sandwich (the largest, the smallest and one sampled network per step) or
    /// sandwich-distill (the same, the largest teaching the other two) or bilateral
    /// (BCNet: one sampled network on the first and on the last channels of each layer;
    /// its one-shot scores average both sides).
    #[arg(long)]
    pub weight_step: Option<WeightStep>,
    /// Weight-only warm-up epochs.
    #[arg(long)]
    pub warmup_epochs: Option<usize>,
    /// Full-width warm-up (TuNAS): over this fraction of the weight steps, train the
    /// largest network with a probability falling from 1 to 0 (default 0: off).
    #[arg(long)]
    pub full_width_warmup: Option<f64>,
    /// One architecture step after every N weight steps (default 1).
    #[arg(long)]
    pub arch_every: Option<usize>,
    /// Choose the derived network among N candidates (the argmax and samples of the
    /// learned distribution, moved into the FLOP band) by one-shot top-1 on held-out
    /// architecture-split images (ours; default 16; 0 or 1: the argmax alone).
    #[arg(long)]
    pub select: Option<usize>,
    /// A JSON file of search settings (any subset of SearchConfig's fields).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Continue the run in --out from its last checkpoint.
    #[arg(long, conflicts_with = "force")]
    pub resume: bool,
    /// Overwrite an existing run directory.
    #[arg(long)]
    pub force: bool,
}

fn settings(args: &SearchArgs) -> Result<SearchConfig> {
    let mut cfg: SearchConfig = super::settings_file(args.config.as_deref(), "search config")?;
    let set = |dst: &mut usize, v: Option<usize>| {
        if let Some(v) = v {
            *dst = v;
        }
    };
    set(&mut cfg.epochs, args.epochs);
    set(&mut cfg.batch_size, args.batch_size);
    set(&mut cfg.warmup_epochs, args.warmup_epochs);
    set(&mut cfg.arch_every, args.arch_every);
    set(&mut cfg.checkpoint_steps, args.checkpoint_steps);
    if let Some(v) = args.checkpoint_minutes {
        cfg.checkpoint_minutes = v;
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
    if args.budget_mflops.is_some() {
        cfg.budget_mflops = args.budget_mflops;
    }
    if args.latency_table.is_some() {
        cfg.latency_table = args.latency_table.clone();
    }
    if args.budget_ms.is_some() {
        cfg.budget_ms = args.budget_ms;
    }
    if let Some(v) = args.op_sharing {
        cfg.op_sharing = v;
    }
    if let Some(v) = args.weight_step {
        cfg.weight_step = v;
    }
    if args.max_images.is_some() {
        cfg.max_images = args.max_images;
    }
    if let Some(v) = args.select {
        cfg.select_candidates = v;
    }
    if let Some(v) = args.full_width_warmup {
        cfg.full_width_warmup = v;
    }
    if !(0.0..=1.0).contains(&cfg.full_width_warmup) {
        bail!(
            "--full-width-warmup must be a fraction in [0, 1], got {}",
            cfg.full_width_warmup
        );
    }
    Ok(cfg)
}

pub fn run(args: SearchArgs, device: &burn::tensor::Device) -> Result<()> {
    let searcher = if args.resume {
        Searcher::resume(RunDir::open(&args.out)?, device)?
    } else {
        let Some(path) = &args.space else {
            bail!("--space is required (unless --resume)");
        };
        let space =
            Space::load(path).with_context(|| format!("reading space {}", path.display()))?;
        let cfg = settings(&args)?;
        cfg.validate()?;
        Searcher::new(space, cfg, device)
    };
    // The settings against the space (a budget outside its range) before any data is read
    // or any directory made.
    searcher.check()?;
    let (space, cfg) = (searcher.space().clone(), searcher.config().clone());
    let data = super::data_dir(args.data.as_deref())?;
    let mut train = super::open_data(&data, Split::Train, space.input_size)?;
    if let Some(n) = cfg.max_images {
        train = train.train_subset(n, cfg.seed);
    }
    let searcher = match args.resume {
        true => searcher,
        // Created once the inputs have been read, so bad input leaves no directory.
        false => searcher.run_dir(RunDir::create(&args.out, args.force)?),
    };
    let stop = super::stop_on_ctrl_c();
    println!(
        "searching {} on {} images ({} epochs, batch {}, loss {:?}, {:?}, {:?} weight steps) -> {}",
        space.name.as_deref().unwrap_or("space"),
        train.len(),
        cfg.epochs,
        cfg.batch_size,
        cfg.loss,
        cfg.op_sharing,
        cfg.weight_step,
        args.out.display()
    );
    let outcome = searcher
        .stop_token(stop)
        .observer(super::console::Console::new(args.resume))
        .run(&train)?;
    println!(
        "derived architecture: {:.2} MFLOPs exact ({} blocks, input {}), {:.0} s, {:.1} images/s -> {}",
        outcome.exact_flops as f64 / 1e6,
        outcome.arch.blocks.len(),
        outcome.arch.input_size,
        outcome.wall_seconds,
        outcome.images_per_second,
        args.out.join("arch.json").display()
    );
    if let Some(target) = cfg.budget_flops() {
        let err = |f: u64| 100.0 * (f as f64 / target - 1.0);
        let (argmax, projected) = (outcome.argmax_flops, outcome.projected_flops);
        println!(
            "budget {:.2} MFLOPs: argmax {:.2} MFLOPs ({:+.1} %), projected {:.2} MFLOPs ({:+.1} %), derived {:.2} MFLOPs ({:+.1} %)",
            target / 1e6,
            argmax as f64 / 1e6,
            err(argmax),
            projected as f64 / 1e6,
            err(projected),
            outcome.exact_flops as f64 / 1e6,
            err(outcome.exact_flops),
        );
    }
    if let (Some(target), Some(ms)) = (cfg.budget_ms, outcome.predicted_ms) {
        println!(
            "budget {target:.4} ms: derived {ms:.4} ms predicted ({:+.1} %) by {}",
            100.0 * (ms / target - 1.0),
            cfg.latency_table
                .as_deref()
                .map_or(String::new(), |p| p.display().to_string())
        );
    }
    if let Some(s) = &outcome.selection {
        super::derive::print_selection(s, &args.out.join("selection.json"));
    }
    Ok(())
}
