//! `dmasking eval --run DIR --data DIR`: test-set top-1, per-class accuracy and the
//! confusion matrix of a training run's weights; also written to RUN/eval.json.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;

use crate::data::Split;
use crate::eval::evaluate;
use crate::run::{RunDir, RunKind};
use crate::train::TrainRunConfig;

/// Arguments of `dmasking eval`.
#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("network").required(true).args(["run", "arch", "zoo"])))]
pub struct EvalArgs {
    /// A training run directory (from `dmasking train`).
    #[arg(long)]
    pub run: Option<PathBuf>,
    /// An architecture file (dmasking-arch/1), with --weights FILE.
    #[arg(long, requires = "weights")]
    pub arch: Option<PathBuf>,
    /// A built-in model (fbnetv2_f1..f4, l1, l2), with --weights FILE.
    #[arg(long, requires = "weights")]
    pub zoo: Option<String>,
    /// With --run: `best` (default) or `last`. With --arch or --zoo: a weights file, a
    /// training run's .bpk or a PyTorch state dict (.pth/.pt) named as mobile-vision's
    /// FBNetV2 models name their parameters.
    #[arg(long)]
    pub weights: Option<String>,
    /// CIFAR-10 binary files, or an image folder with train/ and test/ (default: the
    /// official archive, downloaded once into the cache; offline, an embedded demo subset).
    #[arg(long)]
    pub data: Option<PathBuf>,
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
    if args.batch_size == 0 {
        bail!("--batch-size must be positive");
    }
    // The network, its weights (named for the output) and the run to write eval.json into.
    let (arch, path, run) = match &args.run {
        Some(dir) => {
            let run = RunDir::open(dir)?;
            if run.kind()? != RunKind::Train {
                bail!(
                    "{} is a search run; eval needs a training run (dmasking train --arch ...)",
                    dir.display()
                );
            }
            let saved: TrainRunConfig = run.read_json("config.json")?;
            let file = match args.weights.as_deref().unwrap_or("best") {
                "best" => "best.bpk",
                "last" => "last.bpk",
                other => bail!("--weights with --run is `best` or `last`, not `{other}`"),
            };
            let path = run.path.join(file);
            if !path.exists() {
                bail!(
                    "{}: no weights yet (the run has not finished an epoch)",
                    path.display()
                );
            }
            (saved.arch, path, Some(run))
        }
        None => {
            let arch = super::arch_arg(args.arch.as_deref(), args.zoo.as_deref())?;
            let path = PathBuf::from(args.weights.as_deref().expect("clap requires --weights"));
            (arch, path, None)
        }
    };
    let net = super::load_net(&arch, &path, device)?;
    let data = super::data_dir(args.data.as_deref())?;
    let mut test = super::open_data(&data, Split::Test, arch.input_size)?;
    if let Some(n) = args.max_test_images {
        test = test.test_subset(n);
    }
    let ev = evaluate(&net, &test, args.batch_size, arch.input_size)?;
    let file = path.display().to_string();
    if let Some(run) = &run {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let text = serde_json::to_string_pretty(&serde_json::json!({
            "weights": name, "evaluation": &ev,
        }))?;
        run.write_atomic("eval.json", &text)?;
    }
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
    if let Some(run) = &run {
        println!("\nwritten to {}", run.path.join("eval.json").display());
    }
    Ok(())
}
