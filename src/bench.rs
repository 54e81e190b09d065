//! Timing and memory of the supernet's weight and architecture steps on random data
//! (`dmasking bench`). Peak memory is read from the counting allocator when the binary
//! installs it ([`crate::alloc::Counting`]); otherwise it reads as zero.

use std::time::Instant;

use burn::tensor::{Device, Distribution, Int, Tensor};
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde::Serialize;

use crate::error::Result;
use crate::search::{LossMode, SearchConfig, SupernetTrainer as Trainer, WeightStep};
use crate::space::Space;
use crate::supernet::{OpSharing, gumbel_values};

/// Median time, throughput and peak memory of one kind of step.
#[derive(Serialize, Clone, Debug)]
pub struct StepStats {
    pub median_ms: f64,
    pub images_per_s: f64,
    /// Peak heap above the level before the step, in MiB.
    pub peak_mib: f64,
    /// Growth of the process's peak resident set over the timed steps (after the warm-up
    /// step), in MiB: the measure `benches/pytorch_reference.py` reports as its
    /// `peak_mib`. Zero where /proc is not available.
    pub rss_growth_mib: f64,
}

/// The process's peak resident set (VmHWM), in KiB; 0 where /proc is not available.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// The report of `dmasking bench`.
#[derive(Serialize, Clone, Debug)]
pub struct BenchReport {
    pub space: Option<String>,
    pub op_sharing: OpSharing,
    /// Which weight step was timed (`weight_step` holds its timing).
    pub weight_step_kind: WeightStep,
    pub batch_size: usize,
    pub steps: usize,
    pub threads: usize,
    /// `None` when only the architecture step was timed.
    pub weight_step: Option<StepStats>,
    /// `None` when only the weight step was timed.
    pub arch_step: Option<StepStats>,
    /// Heap held by the supernet, logits and optimizers before stepping, in MiB.
    pub model_mib: f64,
    /// Expected MFLOPs at uniform architecture weights (a check that both
    /// implementations built the same supernet).
    pub uniform_expected_mflops: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// What the timed steps share: the kind of weight step, the search config and the seeded
/// random images, labels and Gumbel noise they are fed.
struct Timing<'a> {
    /// The space whose supernet is timed (input shape, classes).
    space: &'a Space,
    /// The search config of the trainer (the architecture step reads it).
    cfg: SearchConfig,
    /// Which weight step is timed.
    weight_step: WeightStep,
    /// Images per step.
    batch: usize,
    /// Timed steps of each kind (after one untimed warm-up step).
    steps: usize,
    /// The autodiff device the inputs are made on.
    ad: Device,
    /// Draws the labels.
    rng: StdRng,
    /// Draws the Gumbel noise.
    noise_rng: StdRng,
    /// Options of all choices: the length of a noise vector.
    n_opts: usize,
}

impl Timing<'_> {
    /// A batch of random images (standard normal) and uniformly drawn labels.
    fn data(&mut self) -> (Tensor<4>, Tensor<1, Int>) {
        let (batch, s) = (self.batch, self.space.input_size);
        let x = Tensor::<4>::random(
            [batch, self.space.in_channels, s, s],
            Distribution::Normal(0.0, 1.0),
            &self.ad,
        );
        let labels: Vec<i64> = (0..batch)
            .map(|_| self.rng.random_range(0..self.space.num_classes as i64))
            .collect();
        let y = Tensor::<1, Int>::from_ints(labels.as_slice(), &self.ad);
        (x, y)
    }

    /// One step of the kind timed (the architecture step when `arch`) on (x, y) with the
    /// Gumbel noise `eps`; returns its loss.
    fn step(
        &self,
        tr: &mut Trainer,
        arch: bool,
        (x, y): (Tensor<4>, Tensor<1, Int>),
        eps: &[f32],
    ) -> Tensor<1> {
        let eps_t = || Tensor::<1>::from_floats(eps, &self.ad);
        let (loss, _) = match (arch, self.weight_step) {
            (true, _) => tr.arch_step(x, y, 1.0, &eps_t(), &self.cfg),
            (false, WeightStep::Masked) => tr.weight_step(x, y, 1.0, &eps_t(), false, 0.01),
            (false, WeightStep::SinglePath) => tr.weight_step_path(x, y, eps, 0.01),
            (false, WeightStep::Sandwich) => tr.weight_step_sandwich(x, y, eps, false, 0.01),
            (false, WeightStep::SandwichDistill) => tr.weight_step_sandwich(x, y, eps, true, 0.01),
            (false, WeightStep::Bilateral) => tr.weight_step_bilateral(x, y, eps, 0.01),
        };
        loss
    }

    /// Time one untimed warm-up step and `steps` timed steps of one kind (the
    /// architecture step when `arch`): their median time, throughput and peak memory.
    fn measure(&mut self, tr: &mut Trainer, arch: bool) -> StepStats {
        let mut times = Vec::new();
        let mut peak = 0usize;
        let mut rss_before = 0;
        for i in 0..self.steps + 1 {
            if i == 1 {
                rss_before = peak_rss_kib();
            }
            let xy = self.data();
            let eps = gumbel_values(&mut self.noise_rng, self.n_opts);
            let base = crate::alloc::reset_peak();
            let t = Instant::now();
            let loss = self.step(tr, arch, xy, &eps);
            let _ = loss.into_scalar::<f32>(); // wait for the device
            if i > 0 {
                times.push(t.elapsed().as_secs_f64());
                peak = peak.max(crate::alloc::peak().saturating_sub(base));
            }
        }
        let m = median(times);
        StepStats {
            median_ms: m * 1e3,
            images_per_s: self.batch as f64 / m,
            peak_mib: peak as f64 / (1 << 20) as f64,
            rss_growth_mib: peak_rss_kib().saturating_sub(rss_before) as f64 / 1024.0,
        }
    }
}

/// Which steps `bench` times (one kind alone, for a profile of it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Steps {
    /// Weight steps, then architecture steps.
    #[default]
    Both,
    /// Weight steps only.
    Weight,
    /// Architecture steps only.
    Arch,
}

/// Time `steps` weight steps and `steps` architecture steps (or one kind, `which`) at
/// `batch` on `device`.
pub fn bench(
    space: &Space,
    op_sharing: OpSharing,
    weight_step: WeightStep,
    batch: usize,
    steps: usize,
    which: Steps,
    device: &Device,
) -> Result<BenchReport> {
    let before = crate::alloc::current();
    let cfg = SearchConfig {
        loss: LossMode::Additive,
        op_sharing,
        ..SearchConfig::default()
    };
    let mut tr = Trainer::new(space, &cfg, device)?;
    let model_mib = (crate::alloc::current().saturating_sub(before)) as f64 / (1 << 20) as f64;
    let mut timing = Timing {
        space,
        cfg,
        weight_step,
        batch,
        steps,
        ad: device.clone().autodiff(),
        rng: StdRng::seed_from_u64(0),
        noise_rng: StdRng::seed_from_u64(1),
        n_opts: tr.logits.num_options(),
    };
    let weight_stats = (which != Steps::Arch).then(|| timing.measure(&mut tr, false));
    let arch_stats = (which != Steps::Weight).then(|| timing.measure(&mut tr, true));
    Ok(BenchReport {
        space: space.name.clone(),
        op_sharing,
        weight_step_kind: weight_step,
        batch_size: batch,
        steps,
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        weight_step: weight_stats,
        arch_step: arch_stats,
        model_mib,
        uniform_expected_mflops: tr.uniform_cost / 1e6,
    })
}

/// Throughput of the data loader alone (`dmasking bench --data`).
#[derive(Serialize, Clone, Debug)]
pub struct LoaderReport {
    /// Images per batch.
    pub batch_size: usize,
    /// Batches timed in each mode.
    pub batches: usize,
    /// Threads that decode a batch.
    pub decode_threads: usize,
    /// Input side the images are made at.
    pub input_size: usize,
    /// Training batches (shuffled, augmented), images per second.
    pub train_images_per_s: f64,
    /// Evaluation batches (in order, no augmentation), images per second.
    pub eval_images_per_s: f64,
    /// Growth of the process's peak resident set while loading, in MiB.
    pub rss_growth_mib: f64,
}

/// Time `batches` batches of `batch` images of `data` read by the loop's loader
/// ([`epoch_batches`](crate::data::epoch_batches), the same worker and queue a search or
/// training run reads through), with and without augmentation; nothing else runs.
pub fn bench_loader(
    data: std::sync::Arc<dyn crate::data::ImageData>,
    batch: usize,
    batches: usize,
    input_size: usize,
) -> Result<LoaderReport> {
    use crate::data::{epoch_batches, next_batch};
    let rss0 = peak_rss_kib();
    let n = (batch * batches).min(data.len());
    let rate = |augment: bool| -> Result<f64> {
        let idx: Vec<usize> = (0..n).collect();
        let start = Instant::now();
        let rx = epoch_batches(data.clone(), idx, batch, 7, augment, 0);
        let mut images = 0;
        while let Some(b) = next_batch(&rx)? {
            images += b.labels.len();
        }
        Ok(images as f64 / start.elapsed().as_secs_f64())
    };
    let train_images_per_s = rate(true)?;
    let eval_images_per_s = rate(false)?;
    Ok(LoaderReport {
        batch_size: batch,
        batches: n / batch.max(1),
        decode_threads: crate::data::loader::decode_threads(),
        input_size,
        train_images_per_s,
        eval_images_per_s,
        rss_growth_mib: peak_rss_kib().saturating_sub(rss0) as f64 / 1024.0,
    })
}

/// One named float tensor of a module: its path (`blocks.3.branches.0.dw.conv.weight`),
/// shape and values.
#[derive(Clone, Debug)]
pub struct NamedTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// One forward pass of a [`ReferenceCheck`]: the architecture weights (one vector per
/// choice) and the logits the supernet gives under them.
#[derive(Serialize, Clone, Debug)]
pub struct ReferenceCase {
    pub name: String,
    pub weights: Vec<Vec<f32>>,
    pub logits: Vec<Vec<f32>>,
}

/// What `benches/pytorch_reference.py --check` compares its own supernet with: the
/// weights of a `branches` supernet (every batch-norm scale and shift and every bias moved
/// off its initial value by seeded noise, so that a zero-initialised scale cannot hide a
/// block), and its training-mode logits on [`reference_input`] under uniform and one-hot
/// architecture weights, with dropout off. Both sides then time the same network only if
/// they agree.
#[derive(Serialize, Clone, Debug)]
pub struct ReferenceCheck {
    pub space: Option<String>,
    pub batch_size: usize,
    /// Choice names and their number of options, in the order of the weights.
    pub choices: Vec<(String, usize)>,
    pub cases: Vec<ReferenceCase>,
    /// The supernet's float tensors (parameters and batch-norm running statistics).
    #[serde(skip)]
    pub tensors: Vec<NamedTensor>,
}

/// The check's input images [batch, C, R, R]: element i (row-major) is sin(0.37 i),
/// computed in f64 and rounded to f32, so any implementation can make the same batch.
pub fn reference_input(batch: usize, space: &Space, device: &Device) -> Tensor<4> {
    let shape = [batch, space.in_channels, space.input_size, space.input_size];
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|i| (0.37 * i as f64).sin() as f32).collect();
    Tensor::<1>::from_floats(v.as_slice(), device).reshape(shape)
}

/// Moves every rank-1 float parameter (batch-norm scale and shift, biases) by uniform noise
/// in [-0.5, 0.5) drawn from a seeded generator.
struct Perturb(StdRng);

impl burn::module::ModuleMapper for Perturb {
    fn map_float<const D: usize>(
        &mut self,
        param: burn::module::Param<Tensor<D>>,
    ) -> burn::module::Param<Tensor<D>> {
        if D != 1 {
            return param;
        }
        let rng = &mut self.0;
        param.map(|t| {
            let n = t.shape().num_elements();
            let noise: Vec<f32> = (0..n).map(|_| rng.random_range(-0.5..0.5)).collect();
            let device = t.device();
            t.clone() + Tensor::<1>::from_floats(noise.as_slice(), &device).reshape(t.shape())
        })
    }
}

/// Collects a module's float tensors with their paths (enum variants left out of the path,
/// as burn-store writes them).
#[derive(Default)]
struct Collect {
    path: Vec<String>,
    out: Vec<NamedTensor>,
}

impl Collect {
    fn push<const D: usize>(&mut self, t: &Tensor<D>) {
        let values = t
            .to_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .unwrap_or_default();
        self.out.push(NamedTensor {
            name: self.path.join("."),
            shape: t.dims().to_vec(),
            values,
        });
    }
}

impl burn::module::ModuleVisitor for Collect {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        if !container_type.starts_with("Enum:") {
            self.path.push(name.to_string());
        }
    }
    fn exit_module(&mut self, _name: &str, container_type: &str) {
        if !container_type.starts_with("Enum:") {
            self.path.pop();
        }
    }
    fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
        self.push(&param.val());
    }
    fn visit_float_with_path<const D: usize>(
        &mut self,
        path: &[String],
        _id: burn::module::ParamId,
        tensor: &Tensor<D>,
    ) {
        let saved = std::mem::replace(&mut self.path, path.to_vec());
        self.push(tensor);
        self.path = saved;
    }
}

/// Build the [`ReferenceCheck`] of `space` at `batch` images: uniform weights, then
/// one-hot weights picking every choice's first option, its last, and option
/// (3c + 1) mod n of choice c.
pub fn reference_check(space: &Space, batch: usize, device: &Device) -> Result<ReferenceCheck> {
    use crate::supernet::{ArchWeights, Supernet};
    use burn::module::Module;
    let ad = device.clone().autodiff();
    // Dropout off: it is random, and the logits must be reproducible on the other side.
    let space = &Space {
        dropout: 0.0,
        ..space.clone()
    };
    let net = Supernet::with_sharing(space, OpSharing::Branches, &ad)
        .map(&mut Perturb(StdRng::seed_from_u64(7)));
    let choices = &net.plan.choices;
    let n: Vec<usize> = choices.iter().map(|c| c.options.len()).collect();
    let uniform: Vec<Vec<f32>> = n.iter().map(|&k| vec![1.0 / k as f32; k]).collect();
    let one_hot = |pick: &dyn Fn(usize, usize) -> usize| -> Vec<Vec<f32>> {
        n.iter()
            .enumerate()
            .map(|(c, &k)| {
                (0..k)
                    .map(|i| f32::from(u8::from(i == pick(c, k))))
                    .collect()
            })
            .collect()
    };
    let weights = [
        ("uniform", uniform),
        ("first", one_hot(&|_, _| 0)),
        ("last", one_hot(&|_, k| k - 1)),
        ("mixed", one_hot(&|c, k| (3 * c + 1) % k)),
    ];
    let x = reference_input(batch, space, &ad);
    let mut cases = Vec::new();
    for (name, w) in weights {
        let g = ArchWeights(
            w.iter()
                .map(|v| Tensor::<1>::from_floats(v.as_slice(), &ad))
                .collect(),
        );
        let logits = net.forward(x.clone(), &g).detach();
        let [rows, cols] = logits.shape().dims();
        let v = logits.to_data().try_to_vec::<f32>().unwrap_or_default();
        let logits = (0..rows)
            .map(|r| v[r * cols..(r + 1) * cols].to_vec())
            .collect();
        cases.push(ReferenceCase {
            name: name.to_string(),
            weights: w,
            logits,
        });
    }
    let mut collect = Collect::default();
    net.visit(&mut collect);
    Ok(ReferenceCheck {
        space: space.name.clone(),
        batch_size: batch,
        choices: choices
            .iter()
            .map(|c| (c.name.clone(), c.options.len()))
            .collect(),
        cases,
        tensors: collect.out,
    })
}
