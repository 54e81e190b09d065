//! `dmasking train`: train the fixed network of an architecture file from scratch;
//! `--resume` continues a run.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::arch::Arch;
use crate::cost::count;
use crate::data::{ImageData, Split, split_sizes};
use crate::run::{Attach, RunDir};
use crate::train::{TrainConfig, Trainer};

/// Arguments of `dmasking train`.
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Architecture file (dmasking-arch/1); with --resume, the run's own copy is used.
    #[arg(long)]
    pub arch: Option<PathBuf>,
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
    /// Peak learning rate.
    #[arg(long)]
    pub lr: Option<f64>,
    /// Train on a seeded random subset of N images.
    #[arg(long)]
    pub max_images: Option<usize>,
    /// Test on a seeded random subset of N test images.
    #[arg(long)]
    pub max_test_images: Option<usize>,
    /// Also checkpoint mid-epoch every N steps (default: by time only).
    #[arg(long)]
    pub checkpoint_steps: Option<usize>,
    /// Also checkpoint mid-epoch every M minutes (default 30; 0: at epoch ends only).
    #[arg(long)]
    pub checkpoint_minutes: Option<f64>,
    /// A JSON file of training settings (any subset of TrainConfig's fields).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Continue the run in --out from its last checkpoint.
    #[arg(long, conflicts_with = "force")]
    pub resume: bool,
    /// Overwrite an existing run directory.
    #[arg(long)]
    pub force: bool,
}

fn settings(args: &TrainArgs) -> Result<TrainConfig> {
    let mut cfg: TrainConfig = super::settings_file(args.config.as_deref(), "training config")?;
    if let Some(v) = args.epochs {
        cfg.epochs = v;
    }
    if let Some(v) = args.batch_size {
        cfg.batch_size = v;
    }
    if let Some(v) = args.seed {
        cfg.seed = v;
    }
    if let Some(v) = args.lr {
        cfg.lr = v;
    }
    if args.max_images.is_some() {
        cfg.max_images = args.max_images;
    }
    if args.max_test_images.is_some() {
        cfg.max_test_images = args.max_test_images;
    }
    if let Some(v) = args.checkpoint_steps {
        cfg.checkpoint_steps = v;
    }
    if let Some(v) = args.checkpoint_minutes {
        cfg.checkpoint_minutes = v;
    }
    if !(cfg.lr.is_finite() && cfg.lr > 0.0) {
        bail!("--lr must be a positive number");
    }
    cfg.validate()?;
    Ok(cfg)
}

pub fn run(args: TrainArgs, device: &burn::tensor::Device) -> Result<()> {
    let trainer = if args.resume {
        Trainer::resume(RunDir::open(&args.out)?, device)?
    } else {
        let Some(path) = &args.arch else {
            bail!("--arch is required (unless --resume)");
        };
        let arch =
            Arch::load(path).with_context(|| format!("reading architecture {}", path.display()))?;
        Trainer::new(arch, settings(&args)?, device)
    };
    let (arch, cfg) = (trainer.arch().clone(), trainer.config().clone());
    let layout = arch.layout()?;
    let data = super::data_dir(args.data.as_deref())?;
    let mut train_set = super::open_data(&data, Split::Train, arch.input_size)?;
    let mut test_set = super::open_data(&data, Split::Test, arch.input_size)?;
    if let Some(n) = cfg.max_images {
        train_set = train_set.train_subset(n, cfg.seed);
    }
    if let Some(n) = cfg.max_test_images {
        test_set = test_set.test_subset(n);
    }
    let trainer = match args.resume {
        true => trainer,
        // Created once the inputs have been read, so bad input leaves no directory.
        false => trainer.run_dir(RunDir::create(&args.out, args.force)?),
    };
    let stop = super::stop_on_ctrl_c();
    let c = count(&layout, arch.input_size);
    let held_out = match cfg.validation_fraction > 0.0 {
        true => split_sizes(train_set.len(), 1.0 - cfg.validation_fraction).1,
        false => 0,
    };
    println!(
        "training {} ({:.2} MFLOPs, {:.3} M params) on {} images ({} of them held out for validation), testing on {} ({} epochs, batch {}, lr {}) -> {}",
        arch.name.as_deref().unwrap_or("architecture"),
        c.flops as f64 / 1e6,
        c.params as f64 / 1e6,
        train_set.len(),
        held_out,
        test_set.len(),
        cfg.epochs,
        cfg.batch_size,
        cfg.lr,
        args.out.display()
    );
    let out = trainer
        .stop_token(stop)
        .observer(super::console::Console::new(args.resume))
        .run(&train_set, &test_set)?;
    let val = match out.best_val_top1 {
        Some(v) => format!("validation top-1 {v:.4}, "),
        None => String::new(),
    };
    println!(
        "best.bpk: epoch {} ({val}test top-1 {:.4}); last epoch test top-1 {:.4}; {:.0} s, {:.1} images/s -> {}",
        out.best_epoch + 1,
        out.best_top1,
        out.last.top1,
        out.wall_seconds,
        out.images_per_second,
        args.out.join("best.bpk").display()
    );
    Ok(())
}
