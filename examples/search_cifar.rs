//! Search the default CIFAR-10 space end to end, then print the derived architecture.
//!
//! ```text
//! cargo run --release --example search_cifar                 # default data
//! cargo run --release --example search_cifar -- DATA_DIR     # your copy of CIFAR-10
//! ```
//!
//! `DATA_DIR` holds the official binary files (`data_batch_1.bin` ..) or an image folder
//! with `train/` and `test/`. Without it the example downloads the official archive once
//! into the cache (`$DMASKING_CACHE`, else `~/.cache/dmasking`); offline it uses the small
//! real CIFAR-10 subset embedded in the library (1,000 training images: a demo, not a
//! benchmark). Either way it searches a seeded subset of at most 4,000 images so that it
//! ends in minutes on a 2-core CPU; docs/SEARCH.md gives the command of a full search.

use std::path::PathBuf;

use dmasking::data::default_data;
use dmasking::prelude::*;
use dmasking::supernet::OpSharing;

/// Prints one line per search epoch.
struct EpochLines;

impl Observer<SearchMetric> for EpochLines {
    fn on_metrics(&mut self, line: &SearchMetric) {
        if let SearchMetric::Epoch(e) = line {
            println!(
                "epoch {}: weight loss {:.4} | expected {:.2} MFLOPs, argmax {:.2} MFLOPs | entropy {:.3}",
                e.epoch + 1,
                e.weight_loss.unwrap_or(f64::NAN),
                e.expected_mflops,
                e.argmax_mflops,
                e.mean_entropy
            );
        }
    }
}

fn main() -> anyhow::Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let data = match std::env::args().nth(1) {
        Some(d) => PathBuf::from(d),
        None => {
            let data = default_data(&mut |_, _| {})?;
            eprintln!("{}", data.describe());
            data.path().to_path_buf()
        }
    };
    let space = Space::load(&root.join("configs/cifar10.json"))?;
    let mut train = load(&data, Split::Train)?;
    let demo = train.len() <= 1_000;
    let cfg = SearchConfig {
        epochs: if demo { 4 } else { 5 },
        batch_size: if demo { 32 } else { 64 },
        warmup_epochs: 1,
        log_every: 10,
        op_sharing: OpSharing::Superkernel,
        max_images: (train.len() > 4_000).then_some(4_000),
        ..SearchConfig::default()
    };
    if let Some(n) = cfg.max_images {
        // The same seeded subset `dmasking search --max-images` takes.
        train = train.train_subset(n, cfg.seed);
    }
    let out = root.join("runs/search_cifar");
    println!(
        "searching {} ({} training images, {} epochs) -> {}",
        space.name.as_deref().unwrap_or("space"),
        train.len(),
        cfg.epochs,
        out.display()
    );
    let outcome = Searcher::new(space, cfg, &dmasking::device::device("cpu")?)
        .run_dir(RunDir::create(&out, true)?)
        .observer(EpochLines)
        .run(&train)?;
    let arch = &outcome.arch;
    println!(
        "\nderived architecture ({} blocks, input {}):",
        arch.blocks.len(),
        arch.input_size
    );
    for b in &arch.blocks {
        println!("  {}", serde_json::to_string(b)?);
    }
    let c = count(&arch.layout()?, arch.input_size);
    println!(
        "exact cost: {} FLOPs ({:.2} MFLOPs), {} params; {:.0} s, {:.1} images/s",
        c.flops,
        c.flops as f64 / 1e6,
        c.params,
        outcome.wall_seconds,
        outcome.images_per_second
    );
    println!("written to {}", out.join("arch.json").display());
    Ok(())
}
