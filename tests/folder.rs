//! Image folders of any image size, streamed from disk: a folder of JPEGs and PNGs of
//! mixed, non-square sizes (CIFAR-10 images of the subset the repo ships, resized) is
//! searched and retrained from the command line; a folder whose images all have the
//! network's input size is decoded into memory instead; an unreadable file is an error
//! that names it.

mod common;

use std::path::{Path, PathBuf};

use common::{dmasking, repo};
use dmasking::data::{ImageData, Images, Split, open};
use rand::{Rng, SeedableRng, rngs::StdRng};

fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("dmasking-folder-{name}-{}", std::process::id()));
    std::fs::remove_dir_all(&d).ok();
    d
}

/// `root/{train,test}/<class>/*`: `per_class` training and a quarter as many test images
/// of three CIFAR-10 classes, each resized to a random width and height in 20..100 px
/// (`fixed`: all `fixed` × `fixed`), every fifth a PNG, the rest JPEGs.
fn write_folder(root: &Path, per_class: usize, fixed: Option<u32>) {
    let mini = dmasking::data::load(&repo("data/cifar10-mini"), Split::Train).unwrap();
    let mut rng = StdRng::seed_from_u64(3);
    let mut written = [0usize; 3];
    for i in 0..mini.len() {
        let label = mini.labels[i] as usize;
        if label >= 3 || written[label] >= per_class + per_class / 4 {
            continue;
        }
        let k = written[label];
        written[label] += 1;
        let split = if k < per_class { "train" } else { "test" };
        let dir = root.join(split).join(&mini.classes[label]);
        std::fs::create_dir_all(&dir).unwrap();
        let px = mini.image(i);
        let img = image::RgbImage::from_fn(32, 32, |x, y| {
            let at = |c: usize| px[c * 1024 + (y * 32 + x) as usize];
            image::Rgb([at(0), at(1), at(2)])
        });
        let (w, h) = match fixed {
            Some(s) => (s, s),
            None => (rng.random_range(20..100), rng.random_range(20..100)),
        };
        let img = image::imageops::resize(&img, w, h, image::imageops::FilterType::Triangle);
        let ext = if k % 5 == 0 { "png" } else { "jpg" };
        img.save(dir.join(format!("{k:04}.{ext}"))).unwrap();
    }
}

#[test]
fn a_folder_of_mixed_sizes_streams_and_one_of_the_input_size_is_read_into_memory() {
    let root = temp("mixed");
    write_folder(&root, 40, None);
    let train = open(&root, Split::Train, 16).unwrap();
    assert!(train.is_streamed());
    assert_eq!(train.len(), 120);
    assert_eq!(train.shape(), [3, 16, 16]);
    assert_eq!(train.classes(), ["airplane", "automobile", "bird"]);
    let mut img = vec![0u8; 3 * 16 * 16];
    train.read(7, &mut img).unwrap();
    // A resized photo, not a constant or empty buffer.
    assert!(img.iter().max() > img.iter().min());
    let same = temp("same");
    write_folder(&same, 10, Some(16));
    assert!(matches!(
        open(&same, Split::Train, 16).unwrap(),
        Images::Memory(_)
    ));
    // The same folder at another input size streams.
    assert!(open(&same, Split::Train, 24).unwrap().is_streamed());
    for d in [root, same] {
        std::fs::remove_dir_all(d).ok();
    }
}

#[test]
fn search_and_train_run_on_a_streamed_folder_and_a_bad_file_is_named() {
    let root = temp("run");
    write_folder(&root, 40, None);
    let data = root.to_str().unwrap();
    let space = repo("configs/cifar10_tiny.json");
    let search = |out: &Path, epochs: &str| {
        dmasking(&[
            "search",
            "--space",
            space.to_str().unwrap(),
            "--data",
            data,
            "--out",
            out.to_str().unwrap(),
            "--epochs",
            epochs,
            "--batch-size",
            "16",
            "--select",
            "2",
            "--loss",
            "additive",
        ])
    };
    let run = root.join("runs/search");
    let o = search(&run, "2");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let arch = run.join("arch.json");
    assert!(arch.exists());
    let trained = root.join("runs/trained");
    let o = dmasking(&[
        "train",
        "--arch",
        arch.to_str().unwrap(),
        "--data",
        data,
        "--out",
        trained.to_str().unwrap(),
        "--epochs",
        "1",
        "--batch-size",
        "16",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(trained.join("summary.json")).unwrap())
            .unwrap();
    assert!(summary["best_top1"].as_f64().is_some());
    // A file that is not an image.
    let bad = root.join("train/bird/0007.jpg");
    std::fs::write(&bad, b"not a jpeg").unwrap();
    let o = search(&root.join("runs/bad"), "1");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("0007.jpg"), "{err}");
    std::fs::remove_dir_all(&root).ok();
}
