//! The search (DMASKING.md §6): alternating weight steps (SGD, cosine LR) on one split and
//! architecture steps (Adam) on the other under a FLOP-aware loss, with Gumbel temperature
//! annealing; the run directory records config, metrics and the derived architecture.

pub mod config;
pub mod run_dir;

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Instant;

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, GradientsParams, SgdConfig};
use burn::tensor::{Device, Int, Tensor};
use rand::{SeedableRng, rngs::StdRng};
use serde_json::json;

pub use config::{LossMode, SearchConfig};
pub use run_dir::RunDir;

use crate::arch::Arch;
use crate::cost::count;
use crate::data::{Batch, ImageSet, epoch_batches, split};
use crate::error::{Error, Result};
use crate::space::Space;
use crate::supernet::{ArchLogits, ArchWeights, Eff, Supernet, gumbel_noise};

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

fn detach(g: ArchWeights) -> ArchWeights {
    ArchWeights(g.0.into_iter().map(|t| t.detach()).collect())
}

fn scalar(t: Tensor<1>) -> f64 {
    t.into_scalar::<f32>() as f64
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

/// Sums kept on the device between log lines (no host round-trip per step).
struct Running {
    loss: Option<Tensor<1>>,
    correct: Option<Tensor<1, Int>>,
    seen: usize,
}

impl Running {
    fn new() -> Self {
        Running {
            loss: None,
            correct: None,
            seen: 0,
        }
    }
    fn add(&mut self, loss: Tensor<1>, logits: Tensor<2>, y: Tensor<1, Int>) {
        let n = y.dims()[0];
        let correct = logits.argmax(1).reshape([n]).equal(y).int().sum();
        let loss = loss.detach().mul_scalar(n as f64);
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
    /// (mean loss, accuracy), reset.
    fn take(&mut self) -> (Option<f64>, Option<f64>) {
        let n = self.seen.max(1) as f64;
        let loss = self.loss.take().map(|l| scalar(l) / n);
        let acc = self
            .correct
            .take()
            .map(|c| c.into_scalar::<i64>() as f64 / n);
        self.seen = 0;
        (loss, acc)
    }
}

/// Run a search of `space` on `train`, writing into `run`.
pub fn search(
    space: &Space,
    train: &ImageSet,
    cfg: &SearchConfig,
    device: &Device,
    run: &RunDir,
) -> Result<SearchOutcome> {
    let start = Instant::now();
    let ad = device.clone().autodiff();
    ad.seed(cfg.seed);
    let mut net = Supernet::new(space, &ad);
    let mut logits = ArchLogits::new(&net.plan.choices, &ad);
    let plan = net.plan.clone();
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
    let min_flops = plan.extreme(false, 20_000)?.flops;
    if cfg.loss == LossMode::Fbnet && min_flops <= 1_000_000 {
        return Err(Error::Other(format!(
            "loss mode fbnet needs every architecture above 1 MFLOP (ln C > 0); this space goes down to {:.3} MFLOPs: use --loss additive or budget",
            min_flops as f64 / 1e6
        )));
    }
    let budget = match (cfg.loss, cfg.budget_mflops) {
        (LossMode::Budget, Some(b)) if b > 0.0 => Some(b * 1e6),
        (LossMode::Budget, _) => {
            return Err(Error::Other(
                "loss mode budget needs a positive --budget-mflops".into(),
            ));
        }
        _ => None,
    };
    let uniform = {
        let plain = net.valid();
        let g = logits.valid().sample(1.0, None, false);
        match plain.expected_cost(&g).flops {
            Eff::Const(c) => c,
            Eff::Var(t) => scalar(t),
        }
    };
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
    let set = Arc::new(train.clone());
    let steps_per_epoch = w_idx.len() / cfg.batch_size;
    let total_steps = steps_per_epoch * cfg.epochs;
    let mut w_opt = SgdConfig::new()
        .with_momentum(Some(MomentumConfig {
            momentum: cfg.weight_momentum,
            dampening: 0.0,
            nesterov: false,
        }))
        .with_weight_decay(Some(WeightDecayConfig::new(cfg.weight_decay as f32)))
        .init();
    let mut a_opt = AdamConfig::new()
        .with_epsilon(1e-8)
        .with_weight_decay(Some(WeightDecayConfig::new(cfg.arch_weight_decay as f32)))
        .init();
    let ce_loss = CrossEntropyLossConfig::new().init(&ad);
    let mut rng = StdRng::seed_from_u64(cfg.seed ^ 0x9E37_79B9_7F4A_7C15);
    let n_opts = logits.num_options();
    let mut mu = 0.0f64;
    let mut step = 0usize;
    let mut images = 0usize;
    let interactive = std::io::stdout().is_terminal();
    for epoch in 0..cfg.epochs {
        let temperature = cfg.temperature(epoch);
        let search_arch = epoch >= cfg.warmup_epochs;
        let w_batches = epoch_batches(
            set.clone(),
            w_idx.clone(),
            cfg.batch_size,
            cfg.seed.wrapping_mul(1000).wrapping_add(epoch as u64),
            true,
        );
        let mut a_round = 0u64;
        let new_a = |round: u64| {
            epoch_batches(
                set.clone(),
                a_idx.clone(),
                cfg.batch_size,
                cfg.seed
                    .wrapping_mul(7919)
                    .wrapping_add(epoch as u64 * 1000 + round),
                true,
            )
        };
        let mut a_batches = new_a(a_round);
        let bar = interactive.then(|| {
            let b = indicatif::ProgressBar::new(steps_per_epoch as u64);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "epoch {prefix} {bar:30} {pos}/{len} {msg} [{elapsed}<{eta}]",
                )
                .expect("valid template"),
            );
            b.set_prefix(format!("{}/{}", epoch + 1, cfg.epochs));
            b
        });
        let mut w_run = Running::new();
        let mut a_run = Running::new();
        let mut epoch_w = Running::new();
        for batch in w_batches.iter() {
            let lr = cfg.weight_lr_at(step, total_steps);
            // Weight step: g detached, so no architecture gradient is computed.
            let (x, y) = batch.to_tensors(&ad);
            let noise = gumbel_noise(&mut rng, n_opts, &ad);
            let g = detach(logits.sample(temperature, Some(&noise), cfg.hard));
            let out = net.forward(x, &g);
            let loss = ce_loss.forward(out.clone(), y.clone());
            w_run.add(loss.clone(), out.clone().detach(), y.clone());
            epoch_w.add(loss.clone(), out.detach(), y.clone());
            let mut grads = loss.backward();
            let gp = GradientsParams::from_module(&mut grads, &net);
            net = w_opt.step(lr, net, gp);
            images += cfg.batch_size;
            if search_arch {
                let batch: Batch = match a_batches.recv() {
                    Ok(b) => b,
                    Err(_) => {
                        a_round += 1;
                        a_batches = new_a(a_round);
                        a_batches
                            .recv()
                            .map_err(|_| Error::Other("data worker stopped".into()))?
                    }
                };
                // Architecture step: weights frozen, so no weight gradient is computed.
                let (x, y) = batch.to_tensors(&ad);
                let frozen = net.clone().no_grad();
                let noise = gumbel_noise(&mut rng, n_opts, &ad);
                let g = logits.sample(temperature, Some(&noise), cfg.hard);
                let out = frozen.forward(x, &g);
                let ce = ce_loss.forward(out.clone(), y.clone());
                a_run.add(ce.clone(), out.detach(), y);
                let cost = frozen.expected_cost(&g).flops.into_tensor(&ad);
                let loss = match cfg.loss {
                    LossMode::Fbnet => {
                        ce * cost
                            .div_scalar(1e6)
                            .log()
                            .powf_scalar(cfg.fbnet_b)
                            .mul_scalar(cfg.fbnet_a)
                    }
                    LossMode::Additive => {
                        ce + cost.div_scalar(uniform).mul_scalar(cfg.additive_lambda)
                    }
                    LossMode::Budget => {
                        let target = budget.expect("checked above");
                        let ratio = scalar(cost.clone().detach()) / target;
                        if (ratio - 1.0).abs() > cfg.budget_tolerance {
                            mu += cfg.budget_step * (ratio - 1.0);
                        }
                        ce + cost.div_scalar(target).mul_scalar(mu)
                    }
                };
                let mut grads = loss.backward();
                let gp = GradientsParams::from_module(&mut grads, &logits);
                logits = a_opt.step(cfg.arch_lr, logits, gp);
                images += cfg.batch_size;
            }
            step += 1;
            if let Some(b) = &bar {
                b.inc(1);
            }
            if cfg.log_every > 0 && step.is_multiple_of(cfg.log_every) {
                let (wl, wa) = w_run.take();
                let (al, aa) = a_run.take();
                if let Some(b) = &bar {
                    b.set_message(format!(
                        "loss {:.3} acc {:.3} T {temperature:.2}",
                        wl.unwrap_or(f64::NAN),
                        wa.unwrap_or(f64::NAN)
                    ));
                }
                run.append_metrics(&json!({
                    "kind": "step", "epoch": epoch, "step": step,
                    "weight_loss": wl, "weight_acc": wa, "arch_loss": al, "arch_acc": aa,
                    "temperature": temperature, "weight_lr": lr, "arch_lr": cfg.arch_lr,
                    "budget_mu": mu,
                }))?;
            }
        }
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        let probs = logits.probabilities();
        for p in probs.iter().flatten() {
            if !p.is_finite() {
                return Err(Error::Other(format!(
                    "architecture probabilities became NaN at epoch {epoch}: lower --arch-lr or check the loss"
                )));
            }
        }
        let (wl, wa) = epoch_w.take();
        if wl.is_some_and(|l| !l.is_finite()) {
            return Err(Error::Other(format!(
                "weight loss is NaN at epoch {epoch}: lower the weight learning rate"
            )));
        }
        let g = logits.valid().sample(1.0, None, false);
        let expected = match net.valid().expected_cost(&g).flops {
            Eff::Const(c) => c,
            Eff::Var(t) => scalar(t),
        };
        let entropy = mean_entropy(&probs);
        let named: serde_json::Map<String, serde_json::Value> = plan
            .choices
            .iter()
            .zip(&probs)
            .map(|(c, p)| (c.name.clone(), json!(p)))
            .collect();
        run.append_metrics(&json!({
            "kind": "epoch", "epoch": epoch, "step": step,
            "weight_loss": wl, "weight_acc": wa,
            "expected_mflops": expected / 1e6, "temperature": temperature,
            "weight_lr": cfg.weight_lr_at(step, total_steps), "arch_lr": cfg.arch_lr,
            "budget_mu": mu, "mean_entropy": entropy, "probabilities": named,
        }))?;
        let derived = plan.derive(&logits.argmax())?;
        let exact = count(&derived.layout()?, derived.input_size).flops;
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
            start.elapsed().as_secs_f64()
        );
    }
    let picks = logits.argmax();
    let mut arch = plan.derive(&picks)?;
    let exact = count(&arch.layout()?, arch.input_size).flops;
    let g = logits.valid().sample(1.0, None, false);
    let expected = match net.valid().expected_cost(&g).flops {
        Eff::Const(c) => c,
        Eff::Var(t) => scalar(t),
    };
    let wall = start.elapsed().as_secs_f64();
    arch.provenance = Some(json!({
        "search": {"space": space.name, "config": cfg, "seed": cfg.seed},
        "epochs": cfg.epochs,
        "final_temperature": cfg.temperature(cfg.epochs.saturating_sub(1)),
        "expected_flops": expected,
        "exact_flops": exact,
    }));
    run.write_atomic("arch.json", &arch.to_json())?;
    Ok(SearchOutcome {
        arch,
        exact_flops: exact,
        expected_mflops: expected / 1e6,
        wall_seconds: wall,
        images_per_second: images as f64 / wall,
    })
}
