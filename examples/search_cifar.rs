//! Search the default CIFAR-10 space end to end, then print the derived architecture.
//!
//! ```text
//! cargo run --release --example search_cifar                 # embedded demo subset
//! cargo run --release --example search_cifar -- DATA_DIR     # full CIFAR-10
//! ```
//!
//! `DATA_DIR` holds the official binary files (`data_batch_1.bin` ..) or an image folder
//! with `train/` and `test/`. Without it the example uses the small real CIFAR-10 subset
//! shipped in `data/cifar10-mini` (1,000 training images: a demo, not a benchmark).

use std::path::PathBuf;

use dmasking::cost::count;
use dmasking::data::{Split, load};
use dmasking::search::{RunDir, SearchConfig, search};
use dmasking::space::Space;

fn main() -> anyhow::Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let data = match std::env::args().nth(1) {
        Some(d) => PathBuf::from(d),
        None => {
            println!(
                "no data directory given: using the demo-sized CIFAR-10 subset in data/cifar10-mini \
                 (1,000 training images). For a real search pass the full data: \
                 cargo run --release --example search_cifar -- /path/to/cifar-10-batches-bin"
            );
            root.join("data/cifar10-mini")
        }
    };
    let space = Space::load(&root.join("configs/cifar10.json"))?;
    let train = load(&data, Split::Train)?;
    let demo = train.len() <= 5_000;
    let cfg = SearchConfig {
        epochs: if demo { 4 } else { 5 },
        batch_size: if demo { 32 } else { 64 },
        warmup_epochs: 1,
        log_every: 10,
        ..SearchConfig::default()
    };
    let out = root.join("runs/search_cifar");
    let run = RunDir::create(&out, true)?;
    println!(
        "searching {} ({} training images, {} epochs) -> {}",
        space.name.as_deref().unwrap_or("space"),
        train.len(),
        cfg.epochs,
        out.display()
    );
    let outcome = search(
        &space,
        &train,
        &cfg,
        &dmasking::device::device("cpu")?,
        &run,
        false,
    )?;
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
