//! [`Searcher`], the entry point of a search: a space, its settings and a device, with an
//! optional run directory, stop token and observer; [`Searcher::run`] searches a data set
//! and returns the derived network.

use std::sync::Arc;

use burn::tensor::Device;
use serde_json::json;

use super::epochs::SearchEpochs;
use super::loss::{ArchLoss, search_cost};
use super::metrics::SearchMetric;
use super::select::{self, Selection};
use super::trainer::SupernetTrainer;
use super::{RunConfig, SearchConfig, final_picks, fnv1a};
use crate::arch::Arch;
use crate::data::{ImageData, Subset, check_input, split};
use crate::error::{Error, Result};
use crate::run::{Attach, Attachments, RunDir, drive};
use crate::space::Space;
use crate::supernet::Plan;

/// What a finished search reports.
#[derive(Clone, Debug)]
pub struct SearchOutcome {
    /// The derived network (with its provenance), as written to `arch.json`.
    pub arch: Arch,
    /// The option index of every choice (`Plan::choices` order) that derives it.
    pub picks: Vec<usize>,
    /// softmax(α) of every choice at the end of the search.
    pub probabilities: Vec<Vec<f32>>,
    /// Exact FLOPs of the derived network.
    pub exact_flops: u64,
    /// Expected MFLOPs under softmax(α).
    pub expected_mflops: f64,
    /// With a latency table: the derived network's predicted latency, in ms.
    pub predicted_ms: Option<f64>,
    /// Seconds of search (resumed runs included).
    pub wall_seconds: f64,
    /// Training images (weight and architecture steps) per second.
    pub images_per_second: f64,
    /// FLOPs of the argmax of every choice (before any move into the band).
    pub argmax_flops: u64,
    /// FLOPs of the argmax moved into the budget band (the argmax's without a budget).
    pub projected_flops: u64,
    /// The selection among candidates, when `select_candidates` > 1.
    pub selection: Option<Selection>,
}

/// A search of one space with one set of settings. The same space, settings, data and
/// backend give the same network; Burn keeps one random generator per device, so runs
/// in one process that must reproduce take turns rather than run on parallel threads.
///
/// ```no_run
/// use dmasking::prelude::*;
///
/// let space = Space::load(std::path::Path::new("configs/cifar10.json"))?;
/// let data = dmasking::data::load(std::path::Path::new("cifar10"), Split::Train)?;
/// let config = SearchConfig { epochs: 2, ..SearchConfig::default() };
/// let outcome = Searcher::new(space, config, &Device::default())
///     .run_dir(RunDir::create(std::path::Path::new("runs/s1"), false)?)
///     .run(&data)?;
/// println!("{:.2} MFLOPs", outcome.exact_flops as f64 / 1e6);
/// # Ok::<(), dmasking::Error>(())
/// ```
pub struct Searcher<'a> {
    space: Space,
    config: SearchConfig,
    device: Device,
    attach: Attachments<'a, SearchMetric>,
}

impl<'a> Attach<'a, SearchMetric> for Searcher<'a> {
    fn attachments(&mut self) -> &mut Attachments<'a, SearchMetric> {
        &mut self.attach
    }
}

impl<'a> Searcher<'a> {
    /// A search of `space` with `config` on `device` (no run directory, no observer).
    pub fn new(space: Space, config: SearchConfig, device: &Device) -> Self {
        Searcher {
            space,
            config,
            device: device.clone(),
            attach: Attachments::default(),
        }
    }

    /// Continue the search in `run` from its newest checkpoint (from the beginning when it
    /// has none), with the space and settings of its `config.json`.
    pub fn resume(run: RunDir, device: &Device) -> Result<Self> {
        let saved = RunConfig::read(&run)?;
        let mut s = Searcher::new(saved.space, saved.search, device).run_dir(run);
        s.attach.resume = true;
        Ok(s)
    }

    /// Check the settings against the space before anything runs: every setting, and the
    /// loss against the space's cost range (a budget band outside it is
    /// [`Error::BudgetOutOfRange`] naming the range). [`run`](Self::run) checks the same;
    /// call this first to fail before creating a run directory.
    pub fn check(&self) -> Result<()> {
        self.config.validate()?;
        let plan = Plan::new(&self.space);
        let cost = search_cost(&self.config, &plan)?;
        let range = cost.range(&plan)?;
        ArchLoss::new(&self.config, &*cost, range, range.max).map(|_| ())
    }

    /// The settings.
    pub fn config(&self) -> &SearchConfig {
        &self.config
    }

    /// The space.
    pub fn space(&self) -> &Space {
        &self.space
    }

    /// Search on `train` (the training images: split into weight and architecture
    /// images by `weight_fraction`; cut to `max_images` first by the caller, as the CLI
    /// does with [`ImageSet::train_subset`](crate::data::ImageSet::train_subset)). Any
    /// [`ImageData`] of square images at least the space's input size (larger ones are
    /// subsampled to it, as in retraining); it is cloned once into
    /// the data worker (share large data behind an `Arc`).
    ///
    /// A budget band that does not overlap the space's cost range is
    /// [`Error::BudgetOutOfRange`], before anything is trained or written.
    pub fn run<D: ImageData + Clone + 'static>(mut self, train: &D) -> Result<SearchOutcome> {
        let (space, cfg) = (&self.space, &self.config);
        cfg.validate()?;
        let splits = search_splits(train, space, cfg)?;
        let tr = SupernetTrainer::new(space, cfg, &self.device)?;
        let data: Arc<dyn ImageData> = Arc::new(train.clone());
        let mut epochs = SearchEpochs::new(tr, cfg, data, splits, space.input_size);
        let record = RunConfig {
            space: space.clone(),
            search: cfg.clone(),
        };
        let driven = drive(&mut epochs, &mut self.attach, |r| r.write_config(&record))?;
        let tr = &epochs.tr;
        let chosen = choose(tr, cfg, train, driven.run)?;
        let arch = derive(space, cfg, tr, &chosen)?;
        if let Some(run) = driven.run {
            run.write_atomic("arch.json", &arch.to_json())?;
        }
        let plan = &tr.net.plan;
        let predicted_ms = match &cfg.latency_table {
            Some(_) => Some(tr.cost.exact(plan, &chosen.picks)? / tr.cost.scale()),
            None => None,
        };
        Ok(SearchOutcome {
            exact_flops: plan.flops_of(&chosen.picks)?,
            argmax_flops: plan.flops_of(&chosen.argmax)?,
            projected_flops: plan.flops_of(&chosen.projected)?,
            arch,
            probabilities: tr.logits.probabilities(),
            picks: chosen.picks,
            expected_mflops: tr.expected_flops() / 1e6,
            predicted_ms,
            wall_seconds: driven.seconds,
            images_per_second: driven.images_per_second,
            selection: chosen.selection,
        })
    }
}

/// The weight and architecture images of `train`, checked: square images of the space's
/// channels at least its input size, and a batch of each.
fn search_splits(
    train: &dyn ImageData,
    space: &Space,
    cfg: &SearchConfig,
) -> Result<(Vec<usize>, Vec<usize>)> {
    check_input(train, "the data", space.in_channels, space.input_size)?;
    let (w_idx, a_idx) = split(train.len(), cfg.weight_fraction, cfg.seed);
    if w_idx.len() < cfg.batch_size || a_idx.len() < cfg.batch_size {
        return Err(Error::TooFewImages {
            what: format!(
                "{} images give {} weight and {} architecture images",
                train.len(),
                w_idx.len(),
                a_idx.len()
            ),
            batch_size: cfg.batch_size,
        });
    }
    Ok((w_idx, a_idx))
}

/// What a search ends with: the argmax, its projection into the band, and the picks the
/// selection chose among candidates (the projection without a selection).
struct Chosen {
    argmax: Vec<usize>,
    projected: Vec<usize>,
    picks: Vec<usize>,
    selection: Option<Selection>,
}

/// The end of a search: the argmax moved into the band, then (with `select_candidates`
/// > 1) the best of the candidates by one-shot score, recorded as `selection.json`.
fn choose<D: ImageData>(
    tr: &SupernetTrainer,
    cfg: &SearchConfig,
    train: &D,
    run: Option<&RunDir>,
) -> Result<Chosen> {
    let (projected, argmax) = final_picks(&tr.net.plan, &tr.logits, cfg, &*tr.cost)?;
    let selection = if cfg.select_candidates > 1 {
        let (cal_idx, val_idx) = select::held_out_indices(train.len(), cfg);
        let s = select::select(
            &tr.net,
            &tr.logits,
            projected.clone(),
            cfg,
            &*tr.cost,
            cfg.select_candidates,
            (&Subset::new(train, &cal_idx), &Subset::new(train, &val_idx)),
        )?;
        if let Some(run) = run {
            let text = serde_json::to_string_pretty(&s).expect("a selection serializes");
            run.write_atomic("selection.json", &text)?;
        }
        Some(s)
    } else {
        None
    };
    let picks = match &selection {
        Some(s) => s.picks().to_vec(),
        None => projected.clone(),
    };
    Ok(Chosen {
        argmax,
        projected,
        picks,
        selection,
    })
}

/// The derived network of `chosen` with its provenance (space, settings and their hash,
/// costs, how it was chosen).
fn derive(
    space: &Space,
    cfg: &SearchConfig,
    tr: &SupernetTrainer,
    chosen: &Chosen,
) -> Result<Arch> {
    let plan = &tr.net.plan;
    let mut arch = plan.derive(&chosen.picks)?;
    let exact = arch.cost()?.flops;
    let config_text =
        serde_json::to_string(&json!({"space": space, "search": cfg})).expect("config serializes");
    let selection = chosen.selection.as_ref();
    arch.provenance = Some(json!({
        "space": space.name,
        "search": cfg,
        "config_hash": format!("{:016x}", fnv1a(config_text.as_bytes())),
        "seed": cfg.seed,
        "epochs": cfg.epochs,
        "final_temperature": cfg.temperature(cfg.epochs.saturating_sub(1)),
        "expected_flops": tr.expected_flops(),
        "exact_flops": exact,
        "argmax_flops": plan.flops_of(&chosen.argmax)?,
        "projected_to_budget": chosen.projected != chosen.argmax,
        "selected": selection.map(|s| json!({
            "candidates": s.candidates.len(), "chosen": s.chosen,
            "source": s.candidates[s.chosen].source,
        })),
        "picks": chosen.picks,
    }));
    if let (Some(serde_json::Value::Object(p)), Some(serde_json::Value::Object(extra))) = (
        arch.provenance.as_mut(),
        tr.cost.describe(plan, &chosen.picks)?,
    ) {
        p.extend(extra);
    }
    Ok(arch)
}
