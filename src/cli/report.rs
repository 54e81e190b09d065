//! `dmasking report --run DIR [--out DIR]`: plots (SVG and PNG) and an index.html /
//! report.md page of a search or training run.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use crate::run::RunDir;

/// Arguments of `dmasking report`.
#[derive(Args, Debug)]
pub struct ReportArgs {
    /// A search or training run directory.
    #[arg(long, required_unless_present = "compare")]
    pub run: Option<PathBuf>,
    /// Compare finished training runs instead: a table and top-1 vs MFLOPs.
    #[arg(long, num_args = 1.., conflicts_with = "run")]
    pub compare: Vec<PathBuf>,
    /// Where to write the report (default: RUN/report; with --compare, required).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn run(args: ReportArgs) -> Result<()> {
    if !args.compare.is_empty() {
        let Some(out) = &args.out else {
            anyhow::bail!("--compare needs --out DIR");
        };
        let runs = args
            .compare
            .iter()
            .map(RunDir::open)
            .collect::<crate::error::Result<Vec<_>>>()?;
        let files = crate::report::compare(&runs, out)?;
        println!(
            "wrote {} files; see {}",
            files.len(),
            out.join("compare.md").display()
        );
        return Ok(());
    }
    let path = args.run.expect("clap requires --run without --compare");
    let run = RunDir::open(&path)?;
    let out = args.out.unwrap_or_else(|| path.join("report"));
    let files = crate::report::report(&run, &out)?;
    println!(
        "wrote {} files; open {}",
        files.len(),
        out.join("index.html").display()
    );
    Ok(())
}
