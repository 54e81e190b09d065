//! `dmasking eval --run DIR --data DIR`: test-set top-1, per-class accuracy and the
//! confusion matrix of a training run's weights; also written to RUN/eval.json.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::{Args, ValueEnum};

use crate::data::Split;
use crate::eval::evaluate;
use crate::run::{RunDir, RunKind};
use crate::train::{TrainRunConfig, load_weights};

/// Which saved weights to evaluate.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Weights {
    Best,
    Last,
}

/// Arguments of `dmasking eval`.
#[derive(Args, Debug)]
pub struct EvalArgs {
    /// A training run directory (from `dmasking train`).
    #[arg(long)]
    pub run: PathBuf,
    /// CIFAR-10 binary files, or an image folder with train/ and test/ (default: the
    /// official archive, downloaded once into the cache; offline, an embedded demo subset).
    #[arg(long)]
    pub data: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "best")]
    pub weights: Weights,
    /// Evaluate a seeded random subset of N test images.
    #[arg(long)]
    pub max_test_images: Option<usize>,
    #[arg(long, default_value_t = 200)]
    pub batch_size: usize,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: EvalArgs, device: &burn::tensor::Device) -> Result<()> {
    let run = RunDir::open(&args.run)?;
    if run.kind()? != RunKind::Train {
        bail!(
            "{} is a search run; eval needs a training run (dmasking train --arch ...)",
            args.run.display()
        );
    }
    if args.batch_size == 0 {
        bail!("--batch-size must be positive");
    }
    let saved: TrainRunConfig = run.read_json("config.json")?;
    let file = match args.weights {
        Weights::Best => "best.bpk",
        Weights::Last => "last.bpk",
    };
    let path = run.path.join(file);
    if !path.exists() {
        bail!(
            "{}: no weights yet (the run has not finished an epoch)",
            path.display()
        );
    }
    let net = load_weights(&saved.arch, &path, device)?;
    let data = super::data_dir(args.data.as_deref())?;
    let mut test = super::open_data(&data, Split::Test, saved.arch.input_size)?;
    if let Some(n) = args.max_test_images {
        test = test.test_subset(n);
    }
    let ev = evaluate(&net, &test, args.batch_size, saved.arch.input_size)?;
    let text = serde_json::to_string_pretty(&serde_json::json!({
        "weights": file, "evaluation": &ev,
    }))?;
    run.write_atomic("eval.json", &text)?;
    if args.json {
        println!("{}", serde_json::to_string(&ev)?);
        return Ok(());
    }
    println!(
        "{} on {} test images: top-1 {:.4}, loss {:.4}",
        file, ev.images, ev.top1, ev.loss
    );
    let w = ev.classes.iter().map(|c| c.len()).max().unwrap_or(5).max(5);
    println!("\n{:>w$}  accuracy", "class");
    for (c, a) in ev.classes.iter().zip(&ev.per_class) {
        println!("{c:>w$}  {a:.4}");
    }
    println!("\nconfusion matrix (rows: true class, columns: predicted)");
    print!("{:>w$}", "");
    for c in 0..ev.classes.len() {
        print!(" {c:>5}");
    }
    println!();
    for (c, row) in ev.classes.iter().zip(&ev.confusion) {
        print!("{c:>w$}");
        for n in row {
            print!(" {n:>5}");
        }
        println!();
    }
    println!("\nwritten to {}", run.path.join("eval.json").display());
    Ok(())
}
