//! Command-line interface (`dmasking <command>`). Errors print one line and exit with 2.

mod bench;
mod derive;
mod flops;
mod random;
mod search;

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
}

/// Parse arguments, run, and map errors to exit code 2 with a one-line message.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = crate::device::device(&cli.device)
        .map_err(anyhow::Error::from)
        .and_then(|device| match cli.command {
            Command::Flops(args) => flops::run(args),
            Command::Search(args) => search::run(args, &device),
            Command::Derive(args) => derive::run(args),
            Command::Bench(args) => bench::run(args, &device),
            Command::Random(args) => random::run(args),
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let chain: Vec<String> = err.chain().map(|e| e.to_string()).collect();
            eprintln!("error: {}", chain.join(": "));
            ExitCode::from(2)
        }
    }
}
