//! Your own space on your own in-memory images, through the library API alone: search,
//! derive, retrain for a few steps. Needs only `features = ["flex"]`.
//!
//! ```text
//! cargo run --release --example custom_search
//! ```

use dmasking::prelude::*;
use dmasking::search::LossMode;

/// A small MobileNet-style space for 16x16 RGB images of 3 classes: a searched stem
/// width, one stage with searched kernel and expansion, one with a searched width and
/// an optional skip.
const SPACE: &str = r#"{
  "format": "dmasking-space/1", "name": "stripes", "input_size": 16, "in_channels": 3,
  "num_classes": 3, "width_divisor": 8,
  "stem": {"out": [8, 16], "kernel": 3, "stride": 1, "act": "relu"},
  "stages": [
    {"blocks": 1, "stride": 2, "out": [16], "expansion": [1, 3], "kernel": [3, 5]},
    {"blocks": 2, "stride": 2, "out": [16, 24], "expansion": [3], "skip": true}
  ],
  "head": {"op": "conv", "out": [32, 64], "act": "relu"},
  "dropout": 0.0
}"#;

/// `n` noisy images of horizontal stripes, vertical stripes or a checkerboard.
fn images(n: usize, seed: u64) -> dmasking::Result<ImageSet> {
    let (mut pixels, mut labels) = (Vec::new(), Vec::new());
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    let mut noise = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 58) as u8 // 0..63
    };
    for i in 0..n {
        let class = (i % 3) as u8;
        for p in 0..3 * 16 * 16 {
            let (y, x) = ((p / 16) % 16, p % 16);
            let on = [y % 4 < 2, x % 4 < 2, (x / 2 + y / 2) % 2 == 0][class as usize];
            pixels.push(if on { 160 } else { 40 } + noise());
        }
        labels.push(u32::from(class));
    }
    let classes = ["horizontal", "vertical", "checkers"]
        .map(String::from)
        .to_vec();
    ImageSet::new(3, 16, pixels, labels, classes)
}

fn main() -> dmasking::Result<()> {
    let device = Device::default();
    let space = Space::from_json(SPACE)?;
    let train = images(480, 1)?;
    let test = images(96, 2)?.with_transform(train.transform.clone()); // train's statistics

    // Search: 1 weight-only epoch, then 2 with architecture steps.
    let config = SearchConfig {
        epochs: 3,
        batch_size: 16,
        temperature_end: Some(1.0),
        loss: LossMode::Additive, // the fbnet loss needs networks above 1 MFLOP
        log_every: 0,
        select_candidates: 4,
        ..SearchConfig::default()
    };
    let (min, max) = space.flops_range()?;
    println!("space: {min} to {max} FLOPs");
    let found = Searcher::new(space, config, &device).run(&train)?;
    let c = found.arch.cost()?;
    assert!((min..=max).contains(&c.flops));
    println!(
        "derived: {} blocks, {} FLOPs",
        found.arch.blocks.len(),
        c.flops
    );

    // Retrain the derived network from scratch for a few steps.
    let recipe = TrainConfig {
        epochs: 2,
        batch_size: 16,
        lr: 0.05,
        log_every: 0,
        ..TrainConfig::default()
    };
    let trained = Trainer::new(found.arch, recipe, &device).run(&train, &test)?;
    println!("retrained: test top-1 {:.3}", trained.best_top1);

    // Predict: images are resampled to the network's input size, as in evaluation.
    let predictions = trained.predict(&test)?;
    let right = (0..test.len())
        .filter(|&i| predictions[i].class == test.label(i))
        .count();
    println!("predicted: {right} of {} right", test.len());
    Ok(())
}
