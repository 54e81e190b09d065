//! `dmasking derive --run DIR [--out FILE] [--sample N | --select N --data DIR]`:
//! architectures from a run's checkpoint: the argmax of every choice (moved into the
//! budget band in budget mode), N distinct samples of softmax(alpha), or the best of N
//! candidates by one-shot score (`search::select`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::module::Module;
use clap::Args;
use rand::{SeedableRng, rngs::StdRng};
use serde_json::{Value, json};

use crate::data::{ImageData, Split, Subset};
use crate::run::{RunDir, write_atomic};
use crate::search::SelectBy;
use crate::search::select::{self, Selection, draw};
use crate::search::{RunConfig, oneshot};
use crate::supernet::{ArchLogits, Plan};

/// Arguments of `dmasking derive`.
#[derive(Args, Debug)]
pub struct DeriveArgs {
    /// A search run directory (with config.json and a checkpoint).
    #[arg(long)]
    pub run: PathBuf,
    /// Where to write the architecture (default: RUN/argmax.json, with --select
    /// RUN/arch.json, the search's own choice); with --sample, a directory for
    /// arch_sample_K.json (default: RUN).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Sample N distinct architectures from softmax(alpha) instead of the argmax.
    #[arg(long)]
    pub sample: Option<usize>,
    /// Seed of --sample (--select draws with the run's own seed, so that it reproduces
    /// the search's selection).
    #[arg(long, default_value_t = 0, conflicts_with = "select")]
    pub seed: u64,
    /// Choose among N candidates (the argmax and samples, moved into the FLOP band) by
    /// one-shot top-1 on the run's held-out architecture-split images; needs the run's
    /// training data (--data). Writes RUN/selection.json beside the architecture.
    #[arg(long, conflicts_with = "sample")]
    pub select: Option<usize>,
    /// The run's training data (as given to `search`), for --select.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// With --select: score on this many architecture-split images instead of the run's
    /// `select_images` (at most the split's size).
    #[arg(long, requires = "select")]
    pub select_images: Option<usize>,
    /// With --select: re-estimate BN on this many weight-split images instead of the
    /// run's `select_calibration_images`.
    #[arg(long, requires = "select")]
    pub select_calibration_images: Option<usize>,
    /// With --select: rank by `top1` or `loss` (the negated mean cross-entropy) instead
    /// of the run's `select_by`.
    #[arg(long, requires = "select")]
    pub select_by: Option<SelectBy>,
}

/// Print what a selection compared and chose.
pub(super) fn print_selection(s: &Selection, path: &std::path::Path) {
    let c = &s.candidates[s.chosen];
    let argmax = &s.candidates[0];
    println!(
        "selected candidate {} of {} ({}) by {:?}: one-shot top-1 {:.3}, loss {:.4} on {} held-out images, {:.2} MFLOPs (argmax: {:.3}, {:.2} MFLOPs) -> {}",
        s.chosen,
        s.candidates.len(),
        c.source,
        s.select_by,
        c.top1,
        c.loss.unwrap_or(f64::NAN),
        s.validation_images,
        c.flops as f64 / 1e6,
        argmax.top1,
        argmax.flops as f64 / 1e6,
        path.display()
    );
    // The runner-up by the selection's score, and whether the margin clears the noise.
    let runner_up = (0..s.candidates.len())
        .filter(|&i| i != s.chosen)
        .max_by(|&a, &b| {
            let score = |i: usize| s.candidates[i].score(s.select_by);
            score(a).total_cmp(&score(b))
        });
    if let (Some(r), Some(se), SelectBy::Top1) = (runner_up, c.top1_se, s.select_by) {
        let r = &s.candidates[r];
        println!(
            "  top-1 s.e. {:.3}; runner-up top-1 {:.3}, margin {:+.3}, paired s.e. of the margin {:.3}",
            se,
            r.top1,
            c.top1 - r.top1,
            r.paired_se_to_chosen.unwrap_or(f64::NAN)
        );
    }
}

/// `dmasking derive`: the argmax, N samples (--sample) or the best of N candidates
/// (--select) of a search run's newest checkpoint.
pub fn run(args: DeriveArgs, device: &burn::tensor::Device) -> Result<()> {
    if let Some(n) = args.select {
        return run_select(&args, n, device);
    }
    let ck = Checkpoint::open(&args.run)?;
    match args.sample {
        None => {
            let out = args.out.unwrap_or_else(|| args.run.join("argmax.json"));
            write_argmax(&ck, &out)
        }
        Some(n) => {
            let out = args.out.unwrap_or_else(|| args.run.clone());
            write_samples(&ck, n, args.seed, &out)
        }
    }
}

/// A search run's newest checkpoint as `derive` reads it: the run's saved config, the
/// epoch reached, and the plan of its space with the architecture logits there.
struct Checkpoint {
    /// The run directory, as given on the command line.
    run: PathBuf,
    /// The run's config.json.
    saved: RunConfig,
    /// The epoch of the checkpoint.
    epoch: usize,
    /// The plan of the run's space.
    plan: Plan,
    /// The architecture logits of the checkpoint.
    logits: ArchLogits,
}

impl Checkpoint {
    /// The newest checkpoint of the search run `run` (its logits on the default device);
    /// an error when the run has not finished an epoch.
    fn open(run_dir: &Path) -> Result<Self> {
        let run = RunDir::open(run_dir)?;
        let saved = RunConfig::read(&run)?;
        let Some((dir, progress)) = run.latest_checkpoint::<crate::search::Progress>()? else {
            bail!(
                "{}: no checkpoint yet (the run has not finished an epoch)",
                run_dir.display()
            );
        };
        let plan = Plan::new(&saved.space);
        let device = burn::tensor::Device::default();
        let logits = ArchLogits::new(&plan.choices, &device)
            .try_load_file(dir.join("logits.bpk"))
            .map_err(|e| anyhow::anyhow!("{}: loading logits: {e:?}", dir.display()))?;
        Ok(Self {
            run: run_dir.to_path_buf(),
            saved,
            epoch: progress.epoch,
            plan,
            logits,
        })
    }

    /// The provenance of an architecture derived from this checkpoint as `kind`.
    fn provenance(&self, kind: &str, picks: &[usize]) -> Value {
        provenance(&self.saved, self.epoch, &self.run, kind, picks)
    }
}

/// The provenance of an architecture derived as `kind` (with `picks`) from search run
/// `run` (config `saved`) at `epoch`.
fn provenance(saved: &RunConfig, epoch: usize, run: &Path, kind: &str, picks: &[usize]) -> Value {
    json!({
        "space": saved.space.name, "search": saved.search, "seed": saved.search.seed,
        "epoch": epoch, "derive": kind, "run": run.display().to_string(),
        "picks": picks,
    })
}

/// Add what the search's cost records of a derived network (a latency cost's prediction
/// and table) to its provenance.
fn with_cost(prov: &mut serde_json::Value, extra: Option<serde_json::Value>) {
    if let (serde_json::Value::Object(p), Some(serde_json::Value::Object(extra))) = (prov, extra) {
        p.extend(extra);
    }
}

/// `derive` without --sample: the argmax of every choice (moved into the budget band in
/// budget mode), written to `out`.
fn write_argmax(ck: &Checkpoint, out: &Path) -> Result<()> {
    let cost = crate::search::loss::search_cost(&ck.saved.search, &ck.plan)?;
    let (picks, _) = crate::search::final_picks(&ck.plan, &ck.logits, &ck.saved.search, &*cost)?;
    let kind = if crate::search::band::budget_band(&ck.saved.search, &*cost).is_some() {
        "argmax projected to the budget band"
    } else {
        "argmax"
    };
    let mut arch = ck.plan.derive(&picks)?;
    let mut prov = ck.provenance(kind, &picks);
    with_cost(&mut prov, cost.describe(&ck.plan, &picks)?);
    arch.provenance = Some(prov);
    let c = arch.cost()?;
    write_atomic(out, arch.to_json())?;
    println!(
        "argmax architecture after {} epochs: {:.2} MFLOPs, {} params -> {}",
        ck.epoch,
        c.flops as f64 / 1e6,
        c.params,
        out.display()
    );
    Ok(())
}

/// `derive --sample N`: N distinct architectures drawn from softmax(alpha) with `seed`,
/// written into the directory `out` as arch_sample_K.json; an error when 1000 N draws
/// find fewer.
fn write_samples(ck: &Checkpoint, n: usize, seed: u64, out: &Path) -> Result<()> {
    let probs = ck.logits.probabilities();
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut seen = std::collections::BTreeSet::new();
    let mut tries = 0;
    while seen.len() < n && tries < 1000 * n.max(1) {
        tries += 1;
        let picks: Vec<usize> = probs.iter().map(|p| draw(&mut rng, p)).collect();
        let mut arch = ck.plan.derive(&picks)?;
        if !seen.insert(arch.network_key()) {
            continue;
        }
        arch.provenance = Some(ck.provenance("sample", &picks));
        let k = seen.len() - 1;
        let c = arch.cost()?;
        let path = out.join(format!("arch_sample_{k}.json"));
        write_atomic(&path, arch.to_json())?;
        println!(
            "sample {k}: {:.2} MFLOPs -> {}",
            c.flops as f64 / 1e6,
            path.display()
        );
    }
    if seen.len() < n {
        bail!(
            "only {} distinct architectures found in {tries} draws (the distribution is nearly deterministic)",
            seen.len()
        );
    }
    Ok(())
}

/// `derive --select N`: the best of N candidates by one-shot score, as a search with
/// `--select N` would have chosen at its newest checkpoint.
fn run_select(args: &DeriveArgs, n: usize, device: &burn::tensor::Device) -> Result<()> {
    if n == 0 {
        bail!("--select needs at least one candidate");
    }
    let run = super::score::open_search_run(&args.run, "derive --select")?;
    let (mut saved, net, progress, dir) = oneshot::load_supernet(&run, device)?;
    let s = &mut saved.search;
    s.select_images = args.select_images.unwrap_or(s.select_images);
    s.select_calibration_images = args
        .select_calibration_images
        .unwrap_or(s.select_calibration_images);
    s.select_by = args.select_by.unwrap_or(s.select_by);
    if s.select_images == 0 || s.select_calibration_images == 0 {
        bail!("--select-images and --select-calibration-images must be positive");
    }
    let logits = ArchLogits::new(&net.plan.choices, &net.one.device())
        .try_load_file(dir.join("logits.bpk"))
        .map_err(|e| anyhow::anyhow!("{}: loading logits: {e:?}", dir.display()))?;
    let data = super::data_dir(args.data.as_deref())?;
    let mut train = super::open_data(&data, Split::Train, saved.space.input_size)?;
    if let Some(m) = saved.search.max_images {
        train = train.train_subset(m, saved.search.seed);
    }
    let (cal_idx, val_idx) = select::held_out_indices(train.len(), &saved.search);
    let (calibration, validation) = (Subset::new(&train, &cal_idx), Subset::new(&train, &val_idx));
    if validation.is_empty() || calibration.is_empty() {
        bail!("the run's data leaves no held-out images to score candidates on");
    }
    let cost = crate::search::loss::search_cost(&saved.search, &net.plan)?;
    let (first, _) = crate::search::final_picks(&net.plan, &logits, &saved.search, &*cost)?;
    let s = select::select(
        &net,
        &logits,
        first,
        &saved.search,
        &*cost,
        n,
        (&calibration, &validation),
    )?;
    let picks = s.picks().to_vec();
    let mut arch = net.plan.derive(&picks)?;
    let mut prov = provenance(
        &saved,
        progress.epoch,
        &args.run,
        "selected by one-shot score",
        &picks,
    );
    prov["selected"] = json!({"candidates": s.candidates.len(), "chosen": s.chosen,
                              "source": s.candidates[s.chosen].source});
    with_cost(&mut prov, cost.describe(&net.plan, &picks)?);
    arch.provenance = Some(prov);
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| args.run.join("arch.json"));
    write_atomic(&out, arch.to_json())?;
    let sel = match out.file_stem().and_then(|s| s.to_str()) {
        Some("arch") | None => out.with_file_name("selection.json"),
        Some(stem) => out.with_file_name(format!("{stem}.selection.json")),
    };
    write_atomic(
        &sel,
        serde_json::to_string_pretty(&s).expect("a selection serializes"),
    )?;
    print_selection(&s, &sel);
    println!("architecture -> {}", out.display());
    Ok(())
}
