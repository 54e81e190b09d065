//! `dmasking latency table | predict | measure`: latency tables measured in ONNX Runtime,
//! a network's or a space's latency predicted from one, a whole network measured.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use serde_json::json;

use crate::latency::measure::{
    arch_pieces, build_table, calibrate, check_resumable, measure_arch, measure_networks,
    space_pieces,
};
use crate::latency::runtime::{Timing, load_average, runtime};
use crate::latency::{LatencyTable, NetworkLatencies};
use crate::run::write_atomic;
use crate::space::Space;
use crate::supernet::{EXTREME_LIMIT, Plan};

/// Arguments of `dmasking latency`.
#[derive(Args, Debug)]
pub struct LatencyArgs {
    #[command(subcommand)]
    pub command: LatencyCommand,
}

/// How graphs are timed (every table entry and every measurement).
#[derive(Args, Debug, Clone)]
pub struct TimingArgs {
    /// Intra-op threads of ONNX Runtime (inter-op threads 1, sequential execution).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Images per call.
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// Untimed calls before timing.
    #[arg(long, default_value_t = 20)]
    pub warmup: usize,
    /// Timed calls (their median is the result).
    #[arg(long, default_value_t = 200)]
    pub runs: usize,
}

impl TimingArgs {
    fn timing(&self) -> Result<Timing> {
        for (name, v) in [
            ("--threads", self.threads),
            ("--batch", self.batch),
            ("--runs", self.runs),
        ] {
            if v == 0 {
                bail!("{name} must be at least 1");
            }
        }
        Ok(Timing {
            threads: self.threads,
            batch: self.batch,
            warmup: self.warmup,
            runs: self.runs,
        })
    }
}

/// `latency` subcommands.
#[derive(Subcommand, Debug)]
pub enum LatencyCommand {
    /// Measure every piece a space can run (input, stem, blocks, head), or only the pieces
    /// some networks run, in ONNX Runtime on this machine into a latency table; an existing
    /// table is completed (resumed).
    Table {
        /// A search-space file (dmasking-space/1): all its pieces.
        #[arg(long, required_unless_present = "arch")]
        space: Option<PathBuf>,
        /// Architecture files (dmasking-arch/1): only the pieces they run (with --space too:
        /// both).
        #[arg(long, num_args = 1..)]
        arch: Vec<PathBuf>,
        /// The table to write (or to complete, when it exists).
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        timing: TimingArgs,
        /// Seed of the shuffled measuring order.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// A network's latency predicted from a table (`--arch`), or the smallest and largest
    /// latency of a space's networks (`--space`).
    Predict {
        /// An architecture file (dmasking-arch/1).
        #[arg(long, conflicts_with = "space", required_unless_present = "space")]
        arch: Option<PathBuf>,
        /// A search-space file (dmasking-space/1).
        #[arg(long)]
        space: Option<PathBuf>,
        /// The latency table.
        #[arg(long)]
        table: PathBuf,
        /// Print one JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Fit a table's correction on whole networks: random networks of a space (`--space`,
    /// uniform draws) or given ones (`--arch`), each measured with the table's settings;
    /// predictions from the table are then multiplied by the least-squares factor.
    Calibrate {
        /// The latency table (rewritten with its calibration).
        #[arg(long)]
        table: PathBuf,
        /// Draw the networks from this space.
        #[arg(long, required_unless_present = "arch", conflicts_with = "arch")]
        space: Option<PathBuf>,
        /// How many networks to draw.
        #[arg(long, default_value_t = 20)]
        count: usize,
        /// Seed of the draws.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Architecture files to fit on instead.
        #[arg(long, num_args = 1..)]
        arch: Vec<PathBuf>,
    },
    /// Measure every distinct network of a tabular benchmark whole (its keys → median ms),
    /// for `lookup --latency`; an existing file is completed (resumed).
    Benchmark {
        /// The benchmark's data file (as `lookup --benchmark` takes it).
        #[arg(long)]
        benchmark: PathBuf,
        /// The latency file to write (or to complete).
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        timing: TimingArgs,
    },
    /// Measure the whole exported network of an architecture in ONNX Runtime.
    Measure {
        /// An architecture file (dmasking-arch/1).
        #[arg(long)]
        arch: PathBuf,
        #[command(flatten)]
        timing: TimingArgs,
        /// Print one JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(args: LatencyArgs) -> Result<()> {
    match args.command {
        LatencyCommand::Table {
            space,
            arch,
            out,
            timing,
            seed,
        } => table(space.as_deref(), &arch, &out, &timing.timing()?, seed),
        LatencyCommand::Predict {
            arch,
            space,
            table,
            json,
        } => {
            let t = LatencyTable::read(&table)?;
            match (arch, space) {
                (Some(a), _) => predict_arch(&a, &t, json),
                (None, Some(s)) => predict_space(&s, &t, json),
                (None, None) => bail!("give --arch FILE or --space FILE"),
            }
        }
        LatencyCommand::Calibrate {
            table,
            space,
            count,
            seed,
            arch,
        } => calibrate_table(&table, space.as_deref(), count, seed, &arch),
        LatencyCommand::Benchmark {
            benchmark,
            out,
            timing,
        } => measure_benchmark(&benchmark, &out, &timing.timing()?),
        LatencyCommand::Measure { arch, timing, json } => {
            let timing = timing.timing()?;
            let a = crate::arch::Arch::load(&arch)
                .with_context(|| format!("reading architecture {}", arch.display()))?;
            let load = load_average();
            let ms = measure_arch(&a, &timing)?;
            let rt = runtime()?;
            if json {
                let v = json!({
                    "measured_ms": ms,
                    "runtime": format!("onnxruntime {}", rt.version),
                    "threads": timing.threads,
                    "batch": timing.batch,
                    "runs": timing.runs,
                    "load_average": load,
                });
                println!("{v}");
            } else {
                println!(
                    "{}: {ms:.4} ms measured (median of {} calls, batch {}, {} thread(s), onnxruntime {})",
                    arch.display(),
                    timing.runs,
                    timing.batch,
                    timing.threads,
                    rt.version
                );
            }
            Ok(())
        }
    }
}

fn table(
    space: Option<&Path>,
    archs: &[PathBuf],
    out: &Path,
    timing: &Timing,
    seed: u64,
) -> Result<()> {
    let mut pieces = Vec::new();
    let mut labels = Vec::new();
    if let Some(space) = space {
        let s = Space::load(space).with_context(|| format!("reading space {}", space.display()))?;
        pieces.extend(space_pieces(&s)?);
        labels.push(s.name.unwrap_or_else(|| "space".into()));
    }
    if !archs.is_empty() {
        let mut list = Vec::new();
        for a in archs {
            list.push(
                crate::arch::Arch::load(a)
                    .with_context(|| format!("reading architecture {}", a.display()))?,
            );
        }
        pieces.extend(arch_pieces(&list)?);
        labels.push(format!("{} architecture files", archs.len()));
    }
    let label = labels.join(" and ");
    let existing = if out.exists() {
        let t = LatencyTable::read(out)?;
        check_resumable(&t, timing).with_context(|| format!("completing {}", out.display()))?;
        Some(t)
    } else {
        None
    };
    let mut seen = std::collections::HashSet::new();
    pieces.retain(|p| seen.insert(p.key.clone()));
    let rt = runtime()?;
    eprintln!(
        "{} pieces of {label} ({} already in {}); onnxruntime {} from {}; load average {:.2}",
        pieces.len(),
        existing.as_ref().map_or(0, |t| t.entries.len()),
        out.display(),
        rt.version,
        rt.path.display(),
        load_average()
    );
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("measuring {bar:30} {pos}/{len} [{elapsed}<{eta}]")
            .expect("valid template"),
    );
    let t = build_table(pieces, &label, timing, existing, seed, |step| {
        bar.set_length(step.total as u64);
        bar.set_position(step.done as u64);
        if step.done % 10 == 0 || step.done == step.total {
            write_atomic(out, step.table.to_json())?;
        }
        Ok(())
    })?;
    bar.finish_and_clear();
    write_atomic(out, t.to_json())?;
    let drift = t
        .anchors
        .iter()
        .filter_map(|a| t.get(&a.key).map(|first| a.ms / first))
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), r| {
            (lo.min(r), hi.max(r))
        });
    println!(
        "{}: {} entries, call {:.4} ms{}",
        out.display(),
        t.entries.len(),
        t.call_ms,
        if t.anchors.is_empty() {
            String::new()
        } else {
            format!(
                "; anchor re-measured {} times at {:.3}–{:.3}× its first time",
                t.anchors.len(),
                drift.0,
                drift.1
            )
        }
    );
    Ok(())
}

fn measure_benchmark(path: &Path, out: &Path, timing: &Timing) -> Result<()> {
    let bench = crate::benchmark::open(path)
        .with_context(|| format!("reading benchmark {}", path.display()))?;
    let existing = if out.exists() {
        Some(NetworkLatencies::read(out)?)
    } else {
        None
    };
    let networks = crate::benchmark::distinct_networks(&*bench)?;
    let rt = runtime()?;
    eprintln!(
        "{} distinct networks of {} ({} keys); onnxruntime {}; load average {:.2}",
        networks.len(),
        bench.name(),
        bench.keys().len(),
        rt.version,
        load_average()
    );
    let bar = indicatif::ProgressBar::new(networks.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("measuring {bar:30} {pos}/{len} [{elapsed}<{eta}]")
            .expect("valid template"),
    );
    let file = measure_networks(
        networks,
        bench.name(),
        timing,
        existing,
        |done, total, f| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
            if done % 100 == 0 || done == total {
                write_atomic(out, f.to_json())?;
            }
            Ok(())
        },
    )
    .with_context(|| format!("measuring into {}", out.display()))?;
    bar.finish_and_clear();
    write_atomic(out, file.to_json())?;
    println!(
        "{}: {} keys, {} networks",
        out.display(),
        file.latency_ms.len(),
        file.networks
    );
    Ok(())
}

fn calibrate_table(
    path: &Path,
    space: Option<&Path>,
    count: usize,
    seed: u64,
    files: &[PathBuf],
) -> Result<()> {
    use rand::SeedableRng;
    let mut table = LatencyTable::read(path)?;
    let (archs, networks) = match space {
        Some(s) => {
            let sp = Space::load(s).with_context(|| format!("reading space {}", s.display()))?;
            let plan = Plan::new(&sp);
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let archs = (0..count)
                .map(|_| plan.derive(&plan.random_picks(&mut rng)))
                .collect::<crate::error::Result<Vec<_>>>()?;
            let name = sp.name.unwrap_or_else(|| "space".into());
            (
                archs,
                format!("{count} uniform random networks of {name}, seed {seed}"),
            )
        }
        None => {
            let mut archs = Vec::new();
            for f in files {
                archs.push(
                    crate::arch::Arch::load(f)
                        .with_context(|| format!("reading architecture {}", f.display()))?,
                );
            }
            (archs, format!("{} architecture files", files.len()))
        }
    };
    let bar = indicatif::ProgressBar::new(archs.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("measuring {bar:30} {pos}/{len} [{elapsed}<{eta}]")
            .expect("valid template"),
    );
    calibrate(&mut table, &archs, networks, |i| bar.set_position(i as u64))
        .with_context(|| format!("calibrating {}", path.display()))?;
    bar.finish_and_clear();
    write_atomic(path, table.to_json())?;
    let c = table.calibration.as_ref().expect("just calibrated");
    println!(
        "{}: predictions × {:.4} ({}); mean |error| {:.1} % before, {:.1} % after",
        path.display(),
        c.scale,
        c.networks,
        100.0 * c.mean_abs_rel_error_before,
        100.0 * c.mean_abs_rel_error_after
    );
    Ok(())
}

fn predict_arch(path: &Path, t: &LatencyTable, json: bool) -> Result<()> {
    let arch = crate::arch::Arch::load(path)
        .with_context(|| format!("reading architecture {}", path.display()))?;
    let p = t.predict(&arch)?;
    if json {
        let v = json!({
            "predicted_ms": p.ms,
            "call_ms": t.call_ms,
            "pieces": p.pieces.iter().map(|(k, ms)| json!({"key": k, "ms": ms})).collect::<Vec<_>>(),
            "runtime": t.measured.runtime,
        });
        println!("{v}");
    } else {
        println!(
            "{}: {:.4} ms predicted ({} pieces; {})",
            path.display(),
            p.ms,
            p.pieces.len(),
            t.measured.runtime
        );
    }
    Ok(())
}

fn predict_space(path: &Path, t: &LatencyTable, json: bool) -> Result<()> {
    let space = Space::load(path).with_context(|| format!("reading space {}", path.display()))?;
    let plan = Plan::new(&space);
    let cost = |p: &[usize]| Ok(t.predict(&plan.derive(p)?)?.ms);
    let (min, _) = plan.extreme_by(false, EXTREME_LIMIT, &cost)?;
    let (max, _) = plan.extreme_by(true, EXTREME_LIMIT, &cost)?;
    if json {
        println!(
            "{}",
            json!({"min_ms": min, "max_ms": max, "runtime": t.measured.runtime})
        );
    } else {
        println!(
            "{}: {min:.4} – {max:.4} ms predicted ({})",
            space.name.as_deref().unwrap_or("space"),
            t.measured.runtime
        );
    }
    Ok(())
}
