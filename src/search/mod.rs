//! The search (docs/ALGORITHM.md, "The alternating loop"): alternating weight steps (SGD,
//! cosine LR) on one split and architecture steps (Adam) on the other under a FLOP-aware
//! loss, with Gumbel temperature annealing. A run directory records the config, metrics,
//! checkpoints (every epoch and on Ctrl-C) and the derived architecture; a resumed run
//! continues exactly where it stopped.

pub mod config;
pub mod fidelity;
pub mod oneshot;
pub mod progress;
pub mod run_dir;
pub mod trainer;

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::time::Instant;

use burn::tensor::{Device, Int, Tensor};
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde_json::json;

pub use config::{LossMode, SearchConfig, WeightStep};
pub use progress::{Progress, Sums};
pub use run_dir::{RunConfig, RunDir, RunKind, write_atomic};
pub use trainer::Trainer;

use crate::arch::Arch;
use crate::cost::count;
use crate::data::{Batch, ImageSet, epoch_batches, split};
use crate::error::{Error, Result};
use crate::space::Space;
use crate::supernet::{ArchLogits, Plan, gumbel_values};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Ask a running search or training run to checkpoint and stop at the next step (a
/// Ctrl-C handler).
pub fn request_stop() {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Whether [`request_stop`] was called since the run started.
pub(crate) fn stop_requested() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Forget an earlier stop request (a run starting).
pub(crate) fn clear_stop() {
    INTERRUPTED.store(false, Ordering::SeqCst);
}

/// What a finished search reports.
#[derive(Clone, Debug)]
pub struct SearchOutcome {
    pub arch: Arch,
    pub exact_flops: u64,
    pub expected_mflops: f64,
    pub wall_seconds: f64,
    /// Training images (weight and architecture steps) per second.
    pub images_per_second: f64,
}

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

/// Loss and accuracy sums: a host base plus device partial sums, so that a step never
/// waits on the device; read (one sync) at log lines and checkpoints.
pub(crate) struct Running {
    base: Sums,
    loss: Option<Tensor<1>>,
    correct: Option<Tensor<1, Int>>,
    seen: usize,
}

impl Running {
    pub(crate) fn new(base: Sums) -> Self {
        Running {
            base,
            loss: None,
            correct: None,
            seen: 0,
        }
    }
    pub(crate) fn add(&mut self, loss: Tensor<1>, logits: Tensor<2>, y: Tensor<1, Int>) {
        let n = y.dims()[0];
        let correct = logits.argmax(1).reshape([n]).equal(y).int().sum();
        let loss = loss.mul_scalar(n as f64);
        self.loss = Some(match self.loss.take() {
            Some(l) => l + loss,
            None => loss,
        });
        self.correct = Some(match self.correct.take() {
            Some(c) => c + correct,
            None => correct,
        });
        self.seen += n;
    }
    /// Fold the device sums into the host base and return it.
    pub(crate) fn sums(&mut self) -> Sums {
        if let Some(l) = self.loss.take() {
            self.base.loss += l.into_scalar::<f32>() as f64;
        }
        if let Some(c) = self.correct.take() {
            self.base.correct += c.into_scalar::<i64>() as f64;
        }
        self.base.seen += std::mem::take(&mut self.seen);
        self.base
    }
    pub(crate) fn take(&mut self) -> Sums {
        let s = self.sums();
        self.base = Sums::default();
        s
    }
}

/// The progress bar of one epoch (interactive terminals only), at batch `pos`.
pub(crate) fn epoch_bar(
    epoch: usize,
    epochs: usize,
    steps: usize,
    pos: usize,
) -> indicatif::ProgressBar {
    let b = indicatif::ProgressBar::new(steps as u64);
    b.set_style(
        indicatif::ProgressStyle::with_template(
            "epoch {prefix} {bar:30} {pos}/{len} {msg} [{elapsed}<{eta}]",
        )
        .expect("valid template"),
    );
    b.set_prefix(format!("{}/{epochs}", epoch + 1));
    b.set_position(pos as u64);
    b
}

pub(crate) fn epoch_seed(seed: u64, epoch: usize, stream: u64) -> u64 {
    seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add((epoch as u64) << 20)
        .wrapping_add(stream)
}

pub(crate) fn skip(rx: &Receiver<Batch>, n: usize) -> Result<()> {
    for _ in 0..n {
        rx.recv()
            .map_err(|_| Error::Other("data worker stopped while resuming".into()))?;
    }
    Ok(())
}

/// Run (or, with `resume`, continue) a search of `space` on `train`, writing into `run`.
pub fn search(
    space: &Space,
    train: &ImageSet,
    cfg: &SearchConfig,
    device: &Device,
    run: &RunDir,
    resume: bool,
) -> Result<SearchOutcome> {
    INTERRUPTED.store(false, Ordering::SeqCst);
    let start = Instant::now();
    if train.size != space.input_size || train.channels != space.in_channels {
        return Err(Error::Other(format!(
            "data has {}x{}x{} images but the space expects {}x{}x{}",
            train.channels,
            train.size,
            train.size,
            space.in_channels,
            space.input_size,
            space.input_size
        )));
    }
    let (w_idx, a_idx) = split(train.len(), cfg.weight_fraction, cfg.seed);
    if w_idx.len() < cfg.batch_size || a_idx.len() < cfg.batch_size {
        return Err(Error::Other(format!(
            "{} images give {} weight and {} architecture images, fewer than one batch of {}",
            train.len(),
            w_idx.len(),
            a_idx.len(),
            cfg.batch_size
        )));
    }
    let mut tr = Trainer::new(space, cfg, device)?;
    let mut prog = Progress::default();
    if resume && let Some((dir, p)) = run.resume_point::<Progress>()? {
        tr = tr.load(&dir)?;
        tr.mu = p.budget_mu;
        prog = p;
    }
    let ad = device.clone().autodiff();
    let plan = tr.net.plan.clone();
    let set = Arc::new(train.clone());
    let steps_per_epoch = w_idx.len() / cfg.batch_size;
    let total_steps = steps_per_epoch * cfg.epochs;
    let n_opts = tr.logits.num_options();
    let interactive = std::io::stdout().is_terminal();
    let mut metrics_lines = prog.metrics_lines;
    let log = |v: serde_json::Value, lines: &mut usize| -> Result<()> {
        run.append_metrics(&v)?;
        *lines += 1;
        Ok(())
    };
    while prog.epoch < cfg.epochs {
        let epoch = prog.epoch;
        let temperature = cfg.temperature(epoch);
        let search_arch = epoch >= cfg.warmup_epochs;
        let mut rng = StdRng::seed_from_u64(epoch_seed(cfg.seed, epoch, 1));
        for _ in 0..prog.noise_draws {
            gumbel_values(&mut rng, n_opts);
        }
        let w_batches = epoch_batches(
            set.clone(),
            w_idx.clone(),
            cfg.batch_size,
            epoch_seed(cfg.seed, epoch, 2),
            true,
        );
        skip(&w_batches, prog.batch)?;
        let new_a = |round: u64| {
            epoch_batches(
                set.clone(),
                a_idx.clone(),
                cfg.batch_size,
                epoch_seed(cfg.seed, epoch, 3 + (round << 8)),
                true,
            )
        };
        let mut a_batches = new_a(prog.arch_round);
        skip(&a_batches, prog.arch_used)?;
        let bar = interactive.then(|| epoch_bar(epoch, cfg.epochs, steps_per_epoch, prog.batch));
        let mut epoch_w = Running::new(prog.epoch_weight);
        let mut log_w = Running::new(prog.log_weight);
        let mut log_a = Running::new(prog.log_arch);
        for batch in w_batches.iter() {
            if INTERRUPTED.load(Ordering::SeqCst) {
                prog.epoch_weight = epoch_w.sums();
                prog.log_weight = log_w.sums();
                prog.log_arch = log_a.sums();
                prog.budget_mu = tr.mu;
                prog.metrics_lines = metrics_lines;
                prog.seconds += start.elapsed().as_secs_f64();
                run.checkpoint(&prog, |d| tr.save(d))?;
                if let Some(b) = bar {
                    b.abandon();
                }
                return Err(Error::Interrupted(run.path.join("checkpoint")));
            }
            let lr = cfg.weight_lr_at(prog.step, total_steps);
            // The backend RNG (dropout) is reseeded per step, so a resumed run draws the
            // same numbers as an uninterrupted one.
            ad.seed(epoch_seed(cfg.seed, prog.step, 4));
            let (x, y) = batch.to_tensors(&ad);
            let values = gumbel_values(&mut rng, n_opts);
            prog.noise_draws += 1;
            // Full-width warm-up: a draw of its own per step, so resuming replays it.
            let full = cfg.full_width_prob(prog.step, total_steps)
                > StdRng::seed_from_u64(epoch_seed(cfg.seed, prog.step, 5)).random::<f64>();
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
                let batch: Batch = match a_batches.recv() {
                    Ok(b) => b,
                    Err(_) => {
                        prog.arch_round += 1;
                        prog.arch_used = 0;
                        a_batches = new_a(prog.arch_round);
                        a_batches
                            .recv()
                            .map_err(|_| Error::Other("data worker stopped".into()))?
                    }
                };
                prog.arch_used += 1;
                let (x, y) = batch.to_tensors(&ad);
                let noise =
                    Tensor::<1>::from_floats(gumbel_values(&mut rng, n_opts).as_slice(), &ad);
                prog.noise_draws += 1;
                let (ce, out) = tr.arch_step(x, y.clone(), temperature, &noise, cfg);
                log_a.add(ce, out, y);
                prog.images += cfg.batch_size;
            }
            prog.step += 1;
            prog.batch += 1;
            if let Some(b) = &bar {
                b.inc(1);
            }
            if cfg.log_every > 0 && prog.step.is_multiple_of(cfg.log_every) {
                let (wl, wa) = log_w.take().means();
                let (al, aa) = log_a.take().means();
                let mflops = tr.expected_flops() / 1e6;
                if let Some(b) = &bar {
                    b.set_message(format!(
                        "loss {:.3} acc {:.3} | {mflops:.2} MFLOPs | T {temperature:.2}",
                        wl.unwrap_or(f64::NAN),
                        wa.unwrap_or(f64::NAN)
                    ));
                }
                log(
                    json!({
                        "kind": "step", "epoch": epoch, "step": prog.step,
                        "weight_loss": wl, "weight_acc": wa, "arch_loss": al, "arch_acc": aa,
                        "expected_mflops": mflops, "temperature": temperature,
                        "weight_lr": lr, "arch_lr": cfg.arch_lr, "budget_mu": tr.mu,
                    }),
                    &mut metrics_lines,
                )?;
            }
        }
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        let probs = tr.logits.probabilities();
        if probs.iter().flatten().any(|p| !p.is_finite()) {
            return Err(Error::Other(format!(
                "architecture probabilities became NaN in epoch {}: lower the architecture learning rate",
                epoch + 1
            )));
        }
        let (wl, wa) = epoch_w.take().means();
        if wl.is_some_and(|l| !l.is_finite()) {
            return Err(Error::Other(format!(
                "weight loss is NaN in epoch {}: lower the weight learning rate",
                epoch + 1
            )));
        }
        let expected = tr.expected_flops();
        let entropy = mean_entropy(&probs);
        let named: serde_json::Map<String, serde_json::Value> = plan
            .choices
            .iter()
            .zip(&probs)
            .map(|(c, p)| (c.name.clone(), json!(p)))
            .collect();
        let derived = plan.derive(&tr.logits.argmax())?;
        let exact = count(&derived.layout()?, derived.input_size).flops;
        log(
            json!({
                "kind": "epoch", "epoch": epoch, "step": prog.step,
                "weight_loss": wl, "weight_acc": wa,
                "expected_mflops": expected / 1e6, "argmax_mflops": exact as f64 / 1e6,
                "temperature": temperature,
                "weight_lr": cfg.weight_lr_at(prog.step, total_steps), "arch_lr": cfg.arch_lr,
                "budget_mu": tr.mu, "mean_entropy": entropy, "probabilities": named,
            }),
            &mut metrics_lines,
        )?;
        println!(
            "epoch {}/{}: loss {:.4} acc {:.3} | expected {:.2} MFLOPs, argmax {:.2} MFLOPs | T {:.3} | entropy {:.3} | {:.0} s",
            epoch + 1,
            cfg.epochs,
            wl.unwrap_or(f64::NAN),
            wa.unwrap_or(f64::NAN),
            expected / 1e6,
            exact as f64 / 1e6,
            temperature,
            entropy,
            prog.seconds + start.elapsed().as_secs_f64()
        );
        prog.epoch += 1;
        prog.batch = 0;
        prog.arch_round = 0;
        prog.arch_used = 0;
        prog.noise_draws = 0;
        prog.epoch_weight = Sums::default();
        prog.log_weight = log_w.sums();
        prog.log_arch = log_a.sums();
        prog.budget_mu = tr.mu;
        prog.metrics_lines = metrics_lines;
        let mut saved = prog.clone();
        saved.seconds += start.elapsed().as_secs_f64();
        run.checkpoint(&saved, |d| tr.save(d))?;
    }
    let (picks, argmax) = final_picks(&plan, &tr.logits, cfg)?;
    let argmax_flops = plan.flops_of(&argmax)?;
    let mut arch = plan.derive(&picks)?;
    let exact = count(&arch.layout()?, arch.input_size).flops;
    let expected = tr.expected_flops();
    let wall = prog.seconds + start.elapsed().as_secs_f64();
    let config_text =
        serde_json::to_string(&json!({"space": space, "search": cfg})).expect("config serializes");
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
        "projected_to_budget": picks != argmax,
        "picks": picks,
    }));
    run.write_atomic("arch.json", &arch.to_json())?;
    Ok(SearchOutcome {
        arch,
        exact_flops: exact,
        expected_mflops: expected / 1e6,
        wall_seconds: wall,
        images_per_second: prog.images as f64 / wall.max(1e-9),
    })
}

/// The picks a search ends with, and the argmax they start from: the argmax of every
/// choice; in budget mode *(ours)*, moved into the band by the cheapest changes in
/// log-probability when the argmax falls outside it.
pub fn final_picks(
    plan: &Plan,
    logits: &ArchLogits,
    cfg: &SearchConfig,
) -> Result<(Vec<usize>, Vec<usize>)> {
    let argmax = logits.argmax();
    let picks = match cfg.budget_flops() {
        Some(target) => plan.project_to_budget(
            &argmax,
            &logits.probabilities(),
            target,
            cfg.budget_tolerance,
        )?,
        None => argmax.clone(),
    };
    Ok((picks, argmax))
}

/// FNV-1a, a stable hash of the resolved config for provenance.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
