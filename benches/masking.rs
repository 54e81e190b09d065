//! Masked vs naive width search: one training step of a searched-width layer stack for
//! K = 2..32 width options, time (criterion) and peak heap (counting allocator).
//!
//! `cargo bench --bench masking` (quick profile: a few samples per point). The peak memory
//! table is printed before criterion's timings.

use std::hint::black_box;

use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::{Device, Distribution, Int, Tensor, activation::softmax};
use criterion::{Criterion, criterion_group, criterion_main};
use dmasking::nn::global_pool;
use dmasking::supernet::naive::WidthChoice;

#[global_allocator]
static ALLOC: dmasking::alloc::Counting = dmasking::alloc::Counting;

const C_IN: usize = 16;
const C_MAX: usize = 128;
const BATCH: usize = 32;
const SIZE: usize = 16;

fn widths(k: usize) -> Vec<usize> {
    (1..=k).map(|i| (C_MAX * i).div_ceil(k)).collect()
}

/// Forward + backward of: searched-width 3×3 layer → global pool → linear-like sum loss.
fn step(layer: &WidthChoice, g: &Tensor<1>, x: Tensor<4>, y: Tensor<1, Int>) {
    let h = layer.forward(x, g);
    let logits: Tensor<2> = global_pool(h).flatten(1, 3).narrow(1, 0, 10);
    let loss = CrossEntropyLossConfig::new()
        .init(&logits.device())
        .forward(logits, y);
    let grads = loss.backward();
    black_box(grads);
}

fn peak_of(k: usize, naive: bool, device: &Device) -> f64 {
    let layer = WidthChoice::new(C_IN, &widths(k), 3, naive, device);
    let g = softmax(
        Tensor::<1>::random([k], Distribution::Normal(0.0, 1.0), device),
        0,
    );
    let x = Tensor::<4>::random([BATCH, C_IN, SIZE, SIZE], Distribution::Default, device);
    let y = Tensor::<1, Int>::zeros([BATCH], device);
    step(&layer, &g, x.clone(), y.clone()); // warm-up
    let base = dmasking::alloc::reset_peak();
    step(&layer, &g, x, y);
    (dmasking::alloc::peak() - base) as f64 / (1 << 20) as f64
}

fn bench(c: &mut Criterion) {
    let device = Device::flex().autodiff();
    println!(
        "peak heap of one step (MiB), batch {BATCH}, {C_IN}->{C_MAX} channels at {SIZE}x{SIZE}:"
    );
    println!("K\tmasked\tnaive");
    let (mut masked, mut naive) = (Vec::new(), Vec::new());
    for k in [2, 4, 8, 16, 32] {
        let (m, n) = (peak_of(k, false, &device), peak_of(k, true, &device));
        println!("{k}\t{m:.1}\t{n:.1}");
        masked.push((k as f64, m));
        naive.push((k as f64, n));
    }
    let svg = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/masking_memory.svg");
    dmasking::plot::line_chart(
        &svg,
        "Peak heap of one training step vs width options K",
        "K (width options)",
        "peak heap (MiB)",
        &[
            dmasking::plot::Series {
                name: "masked".into(),
                points: masked,
            },
            dmasking::plot::Series {
                name: "naive".into(),
                points: naive,
            },
        ],
    )
    .expect("plot written");
    println!("plot: {}", svg.display());
    let mut group = c.benchmark_group("width_step");
    group.sample_size(10);
    group.warm_up_time(std::time::Duration::from_millis(500));
    group.measurement_time(std::time::Duration::from_secs(2));
    for k in [2, 4, 8, 16, 32] {
        for naive in [false, true] {
            let layer = WidthChoice::new(C_IN, &widths(k), 3, naive, &device);
            let g = softmax(
                Tensor::<1>::random([k], Distribution::Normal(0.0, 1.0), &device),
                0,
            );
            let x = Tensor::<4>::random([BATCH, C_IN, SIZE, SIZE], Distribution::Default, &device);
            let y = Tensor::<1, Int>::zeros([BATCH], &device);
            let name = format!("{}/K{k}", if naive { "naive" } else { "masked" });
            group.bench_function(name, |b| b.iter(|| step(&layer, &g, x.clone(), y.clone())));
        }
    }
    group.finish();
}

/// The tiny space at 32×32 with the first `m` of 32, 28, 24, 20 as resolution options.
fn resolution_space(m: usize) -> dmasking::space::Space {
    let text = include_str!("../configs/cifar10_tiny.json");
    let mut space = dmasking::space::Space::from_json(text).unwrap();
    space.input_size = 32;
    space.resolutions = Some([32, 28, 24, 20][..m].to_vec());
    space
}

fn resolution_step(net: &dmasking::supernet::Supernet, x: Tensor<4>, y: Tensor<1, Int>) {
    let logits = dmasking::supernet::ArchLogits::new(&net.plan.choices, &x.device());
    let g = logits.sample(1.0, None, false);
    let out = net.forward(x, &g);
    let loss = CrossEntropyLossConfig::new()
        .init(&out.device())
        .forward(out, y);
    black_box(loss.backward());
}

fn bench_resolution(c: &mut Criterion) {
    let device = Device::flex().autodiff();
    println!("resolution search: peak heap of one step (MiB), batch {BATCH}, 32x32 input:");
    println!("m\tpeak");
    let mut group = c.benchmark_group("resolution_step");
    group.sample_size(10);
    group.warm_up_time(std::time::Duration::from_millis(500));
    group.measurement_time(std::time::Duration::from_secs(2));
    for m in 1..=4 {
        let net = dmasking::supernet::Supernet::new(&resolution_space(m), &device);
        let x = Tensor::<4>::random([BATCH, 3, 32, 32], Distribution::Default, &device);
        let y = Tensor::<1, Int>::zeros([BATCH], &device);
        resolution_step(&net, x.clone(), y.clone());
        let base = dmasking::alloc::reset_peak();
        resolution_step(&net, x.clone(), y.clone());
        let peak = (dmasking::alloc::peak() - base) as f64 / (1 << 20) as f64;
        println!("{m}\t{peak:.1}");
        group.bench_function(format!("resolutions/{m}"), |b| {
            b.iter(|| resolution_step(&net, x.clone(), y.clone()))
        });
    }
    group.finish();
}

criterion_group!(benches, bench, bench_resolution);
criterion_main!(benches);
