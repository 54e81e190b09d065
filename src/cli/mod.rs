//! Command-line interface (`dmasking <command>`). Errors print one line and exit with 2.

mod bench;
mod console;
mod derive;
mod eval;
mod export;
mod fidelity;
mod flops;
mod latency;
mod lookup;
mod random;
mod report;
mod scale;
mod score;
mod search;
mod train;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// DMaskingNAS (FBNetV2) on Burn: search, derive and count efficient convnets.
#[derive(Parser, Debug)]
#[command(name = "dmasking", version, about)]
pub struct Cli {
    /// Backend: cpu (Burn's pure-Rust Flex), ndarray, wgpu or cuda.
    #[arg(long, global = true, default_value = "cpu")]
    pub device: String,
    #[command(subcommand)]
    pub command: Command,
}

/// Commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// FLOPs and params of an architecture, a zoo model or a search space.
    Flops(flops::FlopsArgs),
    /// Search a space for an architecture (alternating weight / architecture steps).
    Search(search::SearchArgs),
    /// Derive architectures from a search run's checkpoint (argmax or samples).
    Derive(derive::DeriveArgs),
    /// Time the supernet's weight and architecture steps on random data.
    Bench(bench::BenchArgs),
    /// Random architectures of a space with matched FLOPs (the baseline for a search).
    Random(random::RandomArgs),
    /// The space's largest network scaled to a FLOP budget by width or input size.
    Scale(scale::ScaleArgs),
    /// Train the network of an architecture file from scratch.
    Train(train::TrainArgs),
    /// Test-set accuracy, per class and confusion matrix, of a training run.
    Eval(eval::EvalArgs),
    /// Write a fixed network as an ONNX file (for ONNX Runtime, TensorRT, mobile runtimes).
    Export(export::ExportArgs),
    /// Plots and an HTML/Markdown page of a search or training run.
    Report(report::ReportArgs),
    /// One-shot accuracy of architectures with a search run's inherited supernet weights.
    Score(score::ScoreArgs),
    /// Kendall's tau of the supernet's one-shot ranking against a tabular benchmark.
    Fidelity(fidelity::FidelityArgs),
    /// A network's accuracy and percentile in a tabular benchmark (NAS-Bench-Macro).
    Lookup(lookup::LookupArgs),
    /// Latency tables measured in ONNX Runtime, predictions from them, measurements.
    Latency(latency::LatencyArgs),
}

/// A settings file (`--config`): any subset of `T`'s fields, parsed strictly.
fn settings_file<T: serde::de::DeserializeOwned + Default>(
    path: Option<&std::path::Path>,
    what: &str,
) -> anyhow::Result<T> {
    use anyhow::Context;
    let Some(p) = path else {
        return Ok(T::default());
    };
    let text =
        std::fs::read_to_string(p).with_context(|| format!("reading {what} {}", p.display()))?;
    crate::json::parse::<T>(&text).with_context(|| format!("reading {what} {}", p.display()))
}

/// The `--data` directory, or the default data (downloaded full CIFAR-10, else the
/// embedded demo subset).
fn data_dir(arg: Option<&std::path::Path>) -> anyhow::Result<std::path::PathBuf> {
    Ok(match arg {
        Some(d) => d.to_path_buf(),
        None => {
            let bar = indicatif::ProgressBar::hidden();
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "downloading CIFAR-10 {bar:30} {bytes}/{total_bytes} {bytes_per_sec} [{eta}]",
                )
                .expect("valid template"),
            );
            let data = crate::data::default_data(&mut |done, total| {
                if bar.is_hidden() {
                    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                }
                if let Some(t) = total {
                    bar.set_length(t);
                }
                bar.set_position(done);
            })?;
            bar.finish_and_clear();
            eprintln!("{}", data.describe());
            data.path().to_path_buf()
        }
    })
}

/// `split` of the data directory for networks of input `size` (`data::open`), saying on
/// stderr when it streams from disk.
fn open_data(
    data: &std::path::Path,
    split: crate::data::Split,
    size: usize,
) -> anyhow::Result<crate::data::Images> {
    use anyhow::Context;
    let images = crate::data::open(data, split, size)
        .with_context(|| format!("reading data {}", data.display()))?;
    if images.is_streamed() {
        eprintln!(
            "data: {} images of {} streamed from disk at {size}x{size} (training: random resized crops and flips; evaluation: shorter side resized, centre crop)",
            crate::data::ImageData::len(&images),
            data.display()
        );
    }
    Ok(images)
}

/// The architecture of `--arch FILE` or `--zoo NAME` (one of them is given).
fn arch_arg(
    arch: Option<&std::path::Path>,
    zoo: Option<&str>,
) -> anyhow::Result<crate::arch::Arch> {
    use anyhow::Context;
    Ok(match (arch, zoo) {
        (Some(path), _) => crate::arch::Arch::load(path)
            .with_context(|| format!("reading architecture {}", path.display()))?,
        (None, Some(name)) => crate::zoo::get(name)?,
        (None, None) => anyhow::bail!("give --arch FILE or --zoo NAME"),
    })
}

/// The network of `arch` with the weights in `path`: a PyTorch state dict (.pth / .pt,
/// mobile-vision's FBNetV2 names) or a Burn record (a training run's .bpk).
fn load_net(
    arch: &crate::arch::Arch,
    path: &std::path::Path,
    device: &burn::tensor::Device,
) -> anyhow::Result<crate::nn::FixedNet> {
    if !path.exists() {
        anyhow::bail!("{}: no such weights file", path.display());
    }
    let torch = matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("pth" | "pt")
    );
    Ok(if torch {
        crate::pretrained::load_mobile_vision(
            crate::nn::FixedNet::new(arch, device)?,
            path,
            device,
        )?
    } else {
        crate::train::load_weights(arch, path, device)?
    })
}

/// Ctrl-C: checkpoint at the next step and stop (a second Ctrl-C quits at once).
fn stop_on_ctrl_c() -> crate::run::StopToken {
    let token = crate::run::StopToken::new();
    let t = token.clone();
    let _ = ctrlc::set_handler(move || {
        if t.is_stopped() {
            std::process::exit(130);
        }
        eprintln!("\ninterrupt: writing a checkpoint after this step (Ctrl-C again to quit now)");
        t.stop();
    });
    token
}

/// What to do about a library error, in flags (the library's messages name no flags).
fn advice(err: &crate::error::Error) -> Option<&'static str> {
    use crate::error::Error;
    match err {
        Error::RunExists(_) => Some("pass --resume to continue it or --force to overwrite it"),
        Error::Interrupted(_) => Some("continue with --resume"),
        Error::BudgetOutOfRange { .. } => {
            Some("choose a --budget-mflops inside the range (`dmasking flops --space`)")
        }
        _ => None,
    }
}

/// Parse arguments, run, and map errors to exit code 2 with a one-line message.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = crate::device::device(&cli.device)
        .map_err(anyhow::Error::from)
        .and_then(|device| match cli.command {
            Command::Flops(args) => flops::run(args),
            Command::Search(args) => search::run(args, &device),
            Command::Derive(args) => derive::run(args, &device),
            Command::Bench(args) => bench::run(args, &device),
            Command::Random(args) => random::run(args),
            Command::Scale(args) => scale::run(args),
            Command::Train(args) => train::run(args, &device),
            Command::Eval(args) => eval::run(args, &device),
            Command::Export(args) => export::run(args, &device),
            Command::Report(args) => report::run(args),
            Command::Score(args) => score::run(args, &device),
            Command::Lookup(args) => lookup::run(args),
            Command::Fidelity(args) => fidelity::run(args, &device),
            Command::Latency(args) => latency::run(args),
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let chain: Vec<String> = err.chain().map(|e| e.to_string()).collect();
            match err.downcast_ref::<crate::error::Error>().and_then(advice) {
                Some(advice) => eprintln!("error: {}; {advice}", chain.join(": ")),
                None => eprintln!("error: {}", chain.join(": ")),
            }
            ExitCode::from(2)
        }
    }
}
