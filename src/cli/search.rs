//! `dmasking search`: search a space on CIFAR-10-style data; `--resume` continues a run.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::data::{Split, load};
use crate::search::{LossMode, RunConfig, RunDir, SearchConfig, request_stop, search};
use crate::space::Space;

/// Arguments of `dmasking search`.
#[derive(Args, Debug)]
pub struct SearchArgs {
    /// Search-space file (dmasking-space/1); with --resume, the run's own copy is used.
    #[arg(long)]
    pub space: Option<PathBuf>,
    /// CIFAR-10 binary files, or an image folder with train/ and test/.
    #[arg(long)]
    pub data: PathBuf,
    /// Run directory (must not exist or be empty, unless --force or --resume).
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
    let mut cfg = match &args.config {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("reading search config {}", p.display()))?;
            crate::json::parse::<SearchConfig>(&text)
                .with_context(|| format!("reading search config {}", p.display()))?
        }
        None => SearchConfig::default(),
    };
    let set = |dst: &mut usize, v: Option<usize>| {
        if let Some(v) = v {
            *dst = v;
        }
    };
    set(&mut cfg.epochs, args.epochs);
    set(&mut cfg.batch_size, args.batch_size);
    set(&mut cfg.warmup_epochs, args.warmup_epochs);
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
    if args.max_images.is_some() {
        cfg.max_images = args.max_images;
    }
    if cfg.epochs == 0 || cfg.batch_size == 0 {
        bail!("--epochs and --batch-size must be positive");
    }
    Ok(cfg)
}

pub fn run(args: SearchArgs, device: &burn::tensor::Device) -> Result<()> {
    let (space, cfg, run) = if args.resume {
        let run = RunDir::open(&args.out)?;
        let saved = run.config()?;
        (saved.space, saved.search, Some(run))
    } else {
        let Some(path) = &args.space else {
            bail!("--space is required (unless --resume)");
        };
        let space =
            Space::load(path).with_context(|| format!("reading space {}", path.display()))?;
        (space, settings(&args)?, None)
    };
    let mut train = load(&args.data, Split::Train)
        .with_context(|| format!("reading data {}", args.data.display()))?;
    if let Some(n) = cfg.max_images {
        // A seeded random subset: image folders are sorted by class.
        let (keep, _) = crate::data::split(train.len(), 1.0, cfg.seed ^ 0x5EED);
        let keep: Vec<usize> = keep.into_iter().take(n).collect();
        train = train.subset(&keep);
    }
    let resume = run.is_some();
    let run = match run {
        Some(r) => r,
        None => {
            let r = RunDir::create(&args.out, args.force)?;
            r.write_config(&RunConfig {
                space: space.clone(),
                search: cfg.clone(),
            })?;
            r
        }
    };
    // Ctrl-C: checkpoint at the next step and stop (a second Ctrl-C kills at once).
    let _ = ctrlc::set_handler(|| {
        static ONCE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        if ONCE.swap(true, std::sync::atomic::Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\ninterrupt: writing a checkpoint after this step (Ctrl-C again to quit now)");
        request_stop();
    });
    println!(
        "searching {} on {} images ({} epochs, batch {}, loss {:?}) -> {}",
        space.name.as_deref().unwrap_or("space"),
        train.len(),
        cfg.epochs,
        cfg.batch_size,
        cfg.loss,
        args.out.display()
    );
    let outcome = search(&space, &train, &cfg, device, &run, resume)?;
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
