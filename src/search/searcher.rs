//! [`Searcher`], the entry point of a search: a space, its settings and a device, with an
//! optional run directory, stop token and observer; [`Searcher::run`] searches a data set
//! and returns the derived network.

use std::sync::Arc;
use std::time::Instant;

use burn::tensor::{Device, Tensor};
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde_json::json;

use super::metrics::{SearchEpoch, SearchMetric, SearchStep};
use super::select::{self, Selection};
use super::trainer::SupernetTrainer;
use super::{Progress, RunConfig, SearchConfig, WeightStep, final_picks, fnv1a};
use crate::arch::Arch;
use crate::cost::count;
use crate::data::{ImageData, Subset, check_input, epoch_batches, next_batch, split};
use crate::error::{Error, Result};
use crate::eval::resample;
use crate::run::{Attach, Attachments, Cadence, RunDir, Running, Started, Sums, stream_seed};
use crate::space::Space;
use crate::supernet::gumbel_values;

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
    pub fn run<D: ImageData + Clone + 'static>(mut self, train: &D) -> Result<SearchOutcome> {
        let (space, cfg) = (&self.space, &self.config);
        cfg.validate()?;
        let start = Instant::now();
        let input = space.input_size;
        check_input(train, "the data", space.in_channels, input)?;
        let (w_idx, a_idx) = split(train.len(), cfg.weight_fraction, cfg.seed);
        if w_idx.len() < cfg.batch_size || a_idx.len() < cfg.batch_size {
            return Err(Error::Data(format!(
                "{} images give {} weight and {} architecture images, fewer than one batch of {}",
                train.len(),
                w_idx.len(),
                a_idx.len(),
                cfg.batch_size
            )));
        }
        let mut tr = SupernetTrainer::new(space, cfg, &self.device)?;
        let mut prog = Progress::default();
        let Started {
            point,
            mut log,
            run,
            stop,
        } = self.attach.start::<Progress>(|r| {
            r.write_config(&RunConfig {
                space: space.clone(),
                search: cfg.clone(),
            })
        })?;
        if let Some((dir, p)) = point {
            tr = tr.load(&dir)?;
            tr.mu = p.budget_mu;
            prog = p;
        }
        let ad = self.device.clone().autodiff();
        let plan = tr.net.plan.clone();
        let set: Arc<dyn ImageData> = Arc::new(train.clone());
        let steps_per_epoch = w_idx.len() / cfg.batch_size;
        let total_steps = steps_per_epoch * cfg.epochs;
        let n_opts = tr.logits.num_options();
        let mut cadence = Cadence::new(cfg.checkpoint_steps, cfg.checkpoint_minutes, prog.step);
        while prog.epoch < cfg.epochs {
            let epoch = prog.epoch;
            let temperature = cfg.temperature(epoch);
            let search_arch = epoch >= cfg.warmup_epochs;
            let mut rng = StdRng::seed_from_u64(stream_seed(cfg.seed, epoch, 1));
            for _ in 0..prog.noise_draws {
                gumbel_values(&mut rng, n_opts);
            }
            let w_batches = epoch_batches(
                set.clone(),
                w_idx.clone(),
                cfg.batch_size,
                stream_seed(cfg.seed, epoch, 2),
                true,
                prog.batch,
            );
            let new_a = |round: u64, start: usize| {
                epoch_batches(
                    set.clone(),
                    a_idx.clone(),
                    cfg.batch_size,
                    stream_seed(cfg.seed, epoch, 3 + (round << 8)),
                    true,
                    start,
                )
            };
            let mut a_batches = new_a(prog.arch_round, prog.arch_used);
            log.observer()
                .on_epoch_start(epoch, cfg.epochs, steps_per_epoch, prog.batch);
            let mut epoch_w = Running::new(prog.epoch_weight);
            let mut log_w = Running::new(prog.log_weight);
            let mut log_a = Running::new(prog.log_arch);
            while let Some(batch) = next_batch(&w_batches)? {
                // A stop request, or a mid-epoch checkpoint due: the checkpoint holds the
                // epoch's batches and noise draws so far and its running sums.
                let stopping = stop.is_stopped();
                if stopping && run.is_none() {
                    log.observer().on_stop();
                    return Err(Error::Stopped);
                }
                if let Some(run) = run.filter(|_| stopping || cadence.due(prog.step)) {
                    let mut saved = prog.clone();
                    saved.epoch_weight = epoch_w.peek();
                    saved.log_weight = log_w.peek();
                    saved.log_arch = log_a.peek();
                    saved.budget_mu = tr.mu;
                    saved.metrics_lines = log.lines;
                    saved.seconds += start.elapsed().as_secs_f64();
                    run.checkpoint(&saved, |d| tr.save(d))?;
                    if stopping {
                        log.observer().on_stop();
                        return Err(Error::Interrupted(run.path.join("checkpoint")));
                    }
                }
                let lr = cfg.weight_lr_at(prog.step, total_steps);
                // The backend RNG (dropout) is reseeded per step, so a resumed run draws the
                // same numbers as an uninterrupted one.
                ad.seed(stream_seed(cfg.seed, prog.step, 4));
                let (x, y) = batch.to_tensors(&ad);
                let x = resample(x, input);
                let values = gumbel_values(&mut rng, n_opts);
                prog.noise_draws += 1;
                // Full-width warm-up: a draw of its own per step, so resuming replays it.
                let full = cfg.full_width_prob(prog.step, total_steps)
                    > StdRng::seed_from_u64(stream_seed(cfg.seed, prog.step, 5)).random::<f64>();
                let (loss, out) = match cfg.weight_step {
                    _ if full => {
                        let largest = tr.largest.clone();
                        tr.weight_step_picks(x, y.clone(), &largest, lr)
                    }
                    WeightStep::Masked => {
                        let noise = Tensor::<1>::from_floats(values.as_slice(), &ad);
                        tr.weight_step(x, y.clone(), temperature, &noise, cfg.hard, lr)
                    }
                    WeightStep::SinglePath => tr.weight_step_path(x, y.clone(), &values, lr),
                    WeightStep::Sandwich => tr.weight_step_sandwich(x, y.clone(), &values, lr),
                };
                epoch_w.add(loss.clone(), out.clone(), y.clone());
                log_w.add(loss, out, y);
                prog.images += cfg.batch_size;
                if search_arch && (prog.batch + 1).is_multiple_of(cfg.arch_every.max(1)) {
                    let batch = match next_batch(&a_batches)? {
                        Some(b) => b,
                        None => {
                            prog.arch_round += 1;
                            prog.arch_used = 0;
                            a_batches = new_a(prog.arch_round, 0);
                            next_batch(&a_batches)?
                                .ok_or_else(|| Error::Other("data worker stopped".into()))?
                        }
                    };
                    prog.arch_used += 1;
                    let (x, y) = batch.to_tensors(&ad);
                    let x = resample(x, input);
                    let noise =
                        Tensor::<1>::from_floats(gumbel_values(&mut rng, n_opts).as_slice(), &ad);
                    prog.noise_draws += 1;
                    let (ce, out) = tr.arch_step(x, y.clone(), temperature, &noise, cfg);
                    log_a.add(ce, out, y);
                    prog.images += cfg.batch_size;
                }
                prog.step += 1;
                prog.batch += 1;
                log.observer().on_step();
                if cfg.log_every > 0 && prog.step.is_multiple_of(cfg.log_every) {
                    let (weight_loss, weight_acc) = log_w.take().means();
                    let (arch_loss, arch_acc) = log_a.take().means();
                    log.write(SearchMetric::Step(SearchStep {
                        epoch,
                        step: prog.step,
                        weight_loss,
                        weight_acc,
                        arch_loss,
                        arch_acc,
                        expected_mflops: tr.expected_flops() / 1e6,
                        temperature,
                        weight_lr: lr,
                        arch_lr: cfg.arch_lr,
                        budget_mu: tr.mu,
                    }))?;
                }
            }
            let probs = tr.logits.probabilities();
            if probs.iter().flatten().any(|p| !p.is_finite()) {
                return Err(Error::Diverged(format!(
                    "architecture probabilities became NaN in epoch {}: lower the architecture learning rate",
                    epoch + 1
                )));
            }
            let (weight_loss, weight_acc) = epoch_w.take().means();
            if weight_loss.is_some_and(|l| !l.is_finite()) {
                return Err(Error::Diverged(format!(
                    "weight loss is NaN in epoch {}: lower the weight learning rate",
                    epoch + 1
                )));
            }
            let derived = plan.derive(&tr.logits.argmax())?;
            let argmax = count(&derived.layout()?, derived.input_size).flops;
            log.write(SearchMetric::Epoch(SearchEpoch {
                epoch,
                step: prog.step,
                weight_loss,
                weight_acc,
                expected_mflops: tr.expected_flops() / 1e6,
                argmax_mflops: argmax as f64 / 1e6,
                temperature,
                weight_lr: cfg.weight_lr_at(prog.step, total_steps),
                arch_lr: cfg.arch_lr,
                budget_mu: tr.mu,
                mean_entropy: mean_entropy(&probs),
                probabilities: plan
                    .choices
                    .iter()
                    .zip(&probs)
                    .map(|(c, p)| (c.name.clone(), json!(p)))
                    .collect(),
                seconds: prog.seconds + start.elapsed().as_secs_f64(),
            }))?;
            prog.epoch += 1;
            prog.batch = 0;
            prog.arch_round = 0;
            prog.arch_used = 0;
            prog.noise_draws = 0;
            prog.epoch_weight = Sums::default();
            prog.log_weight = log_w.sums();
            prog.log_arch = log_a.sums();
            prog.budget_mu = tr.mu;
            prog.metrics_lines = log.lines;
            if let Some(run) = run {
                let mut saved = prog.clone();
                saved.seconds += start.elapsed().as_secs_f64();
                run.checkpoint(&saved, |d| tr.save(d))?;
                cadence.written(prog.step);
            }
        }
        let (projected, argmax) = final_picks(&plan, &tr.logits, cfg)?;
        let selection = if cfg.select_candidates > 1 {
            let (cal_idx, val_idx) = select::held_out_indices(train.len(), cfg);
            let s = select::select(
                &tr.net,
                &tr.logits,
                projected.clone(),
                cfg,
                cfg.select_candidates,
                &Subset::new(train, &cal_idx),
                &Subset::new(train, &val_idx),
            )?;
            if let Some(run) = run {
                run.write_atomic(
                    "selection.json",
                    &serde_json::to_string_pretty(&s).expect("a selection serializes"),
                )?;
            }
            Some(s)
        } else {
            None
        };
        let picks = match &selection {
            Some(s) => s.picks().to_vec(),
            None => projected.clone(),
        };
        let argmax_flops = plan.flops_of(&argmax)?;
        let mut arch = plan.derive(&picks)?;
        let exact = count(&arch.layout()?, arch.input_size).flops;
        let expected = tr.expected_flops();
        let wall = prog.seconds + start.elapsed().as_secs_f64();
        let config_text = serde_json::to_string(&json!({"space": space, "search": cfg}))
            .expect("config serializes");
        arch.provenance = Some(json!({
            "space": space.name,
            "search": cfg,
            "config_hash": format!("{:016x}", fnv1a(config_text.as_bytes())),
            "seed": cfg.seed,
            "epochs": cfg.epochs,
            "final_temperature": cfg.temperature(cfg.epochs.saturating_sub(1)),
            "expected_flops": expected,
            "exact_flops": exact,
            "argmax_flops": argmax_flops,
            "projected_to_budget": projected != argmax,
            "selected": selection.as_ref().map(|s| json!({
                "candidates": s.candidates.len(), "chosen": s.chosen,
                "source": s.candidates[s.chosen].source,
            })),
            "picks": picks,
        }));
        if let Some(run) = run {
            run.write_atomic("arch.json", &arch.to_json())?;
        }
        Ok(SearchOutcome {
            arch,
            probabilities: tr.logits.probabilities(),
            picks,
            exact_flops: exact,
            expected_mflops: expected / 1e6,
            wall_seconds: wall,
            images_per_second: prog.images as f64 / wall.max(1e-9),
            argmax_flops,
            projected_flops: plan.flops_of(&projected)?,
            selection,
        })
    }
}

/// Mean entropy (nats) of the choices' distributions.
fn mean_entropy(probs: &[Vec<f32>]) -> f64 {
    let h: f64 = probs
        .iter()
        .map(|p| {
            p.iter()
                .filter(|&&x| x > 0.0)
                .map(|&x| -(x as f64) * (x as f64).ln())
                .sum::<f64>()
        })
        .sum();
    h / probs.len().max(1) as f64
}
