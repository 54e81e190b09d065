//! `dmasking eval --run DIR --data DIR`: test-set top-1, per-class accuracy and the
//! confusion matrix of a training run's weights; also written to RUN/eval.json.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use clap::Args;

use crate::arch::Arch;
use crate::data::Split;
use crate::eval::{Evaluation, evaluate};
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

/// `dmasking eval`: evaluate the network on the test set, print the result (one JSON
/// object with --json) and, for a training run, write RUN/eval.json.
pub fn run(args: EvalArgs, device: &burn::tensor::Device) -> Result<()> {
    if args.batch_size == 0 {
        bail!("--batch-size must be positive");
    }
    let (arch, path, run) = network(&args)?;
    let net = super::load_net(&arch, &path, device)?;
    let data = super::data_dir(args.data.as_deref())?;
    let mut test = super::open_data(&data, Split::Test, arch.input_size)?;
    if let Some(n) = args.max_test_images {
        test = test.test_subset(n);
    }
    let ev = evaluate(&net, &test, args.batch_size, arch.input_size)?;
    if let Some(run) = &run {
        write_eval_json(run, &path, &ev)?;
    }
    if args.json {
        println!("{}", serde_json::to_string(&ev)?);
        return Ok(());
    }
    print_evaluation(&path, &ev);
    if let Some(run) = &run {
        println!("\nwritten to {}", run.path.join("eval.json").display());
    }
    Ok(())
}

/// The network, its weights (named for the output) and the run to write eval.json into:
/// a training run's `best` or `last` weights, or an architecture or zoo model with a
/// weights file.
fn network(args: &EvalArgs) -> Result<(Arch, PathBuf, Option<RunDir>)> {
    match &args.run {
        Some(dir) => {
            let (arch, path, run) = run_weights(dir, args.weights.as_deref())?;
            Ok((arch, path, Some(run)))
        }
        None => {
            let arch = super::arch_arg(args.arch.as_deref(), args.zoo.as_deref())?;
            let path = PathBuf::from(args.weights.as_deref().expect("clap requires --weights"));
            Ok((arch, path, None))
        }
    }
}

/// The architecture of training run `dir` and its weights file (`weights`: `best`, the
/// default, or `last`); an error for a search run or a run without weights yet.
fn run_weights(dir: &Path, weights: Option<&str>) -> Result<(Arch, PathBuf, RunDir)> {
    let run = RunDir::open(dir)?;
    if run.kind()? != RunKind::Train {
        bail!(
            "{} is a search run; eval needs a training run (dmasking train --arch ...)",
            dir.display()
        );
    }
    let saved: TrainRunConfig = run.read_json("config.json")?;
    let file = match weights.unwrap_or("best") {
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
    Ok((saved.arch, path, run))
}

/// Write RUN/eval.json: the weights file's name and the evaluation.
fn write_eval_json(run: &RunDir, weights: &Path, ev: &Evaluation) -> Result<()> {
    let name = weights
        .file_name()
        .map(|n| n.to_string_lossy().into_owned());
    let text = serde_json::to_string_pretty(&serde_json::json!({
        "weights": name, "evaluation": ev,
    }))?;
    run.write_atomic("eval.json", &text)?;
    Ok(())
}

/// Print the evaluation of the weights `weights`: top-1 and loss, the accuracy of every
/// class and the confusion matrix.
fn print_evaluation(weights: &Path, ev: &Evaluation) {
    println!(
        "{} on {} test images: top-1 {:.4}, loss {:.4}",
        weights.display(),
        ev.images,
        ev.top1,
        ev.loss
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
}
