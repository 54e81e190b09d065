//! Image folders of any image size, streamed from disk: a folder of JPEGs and PNGs of
//! mixed, non-square sizes (CIFAR-10 images of the subset the repo ships, resized) is
//! searched and retrained from the command line; a folder whose images all have the
//! network's input size is decoded into memory instead; an unreadable file is an error
//! that names it.

use std::path::Path;

use dmasking::data::{ImageData, Images, Split, make_batch, open};
use rand::{Rng, SeedableRng, rngs::StdRng};

use crate::util::{TempDir, command, dmasking, repo};

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
    let root = TempDir::new("folder-mixed");
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
    // Training batches take RandomResizedCrops of the originals: reproducible with the
    // seed (whichever decoding thread reads which image), new with another seed, and not
    // the evaluation view.
    assert!(train.transform().resized_crop.is_some());
    let idx: Vec<usize> = (0..24).collect();
    let batch = |seed: Option<u64>| {
        let mut rng = seed.map(StdRng::seed_from_u64);
        make_batch(&train, &idx, rng.as_mut()).unwrap().images
    };
    let (a, b, other, plain) = (batch(Some(1)), batch(Some(1)), batch(Some(2)), batch(None));
    assert_eq!(a, b);
    assert_ne!(a, other);
    assert_ne!(a, plain);
    assert_eq!(a.len(), 24 * 3 * 16 * 16);
    let same = TempDir::new("folder-same");
    write_folder(&same, 10, Some(16));
    assert!(matches!(
        open(&same, Split::Train, 16).unwrap(),
        Images::Memory(_)
    ));
    // The same folder at another input size streams.
    assert!(open(&same, Split::Train, 24).unwrap().is_streamed());
}

#[test]
fn search_and_train_run_on_a_streamed_folder_and_a_bad_file_is_named() {
    let root = TempDir::new("folder-run");
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
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("0007.jpg"), "{err}");
}

/// ImageNet's layout: `train/<class>/*` with the test split as `val/`, either in class
/// folders or flat with a label file; the flat images get the labels the file gives them,
/// in the training split's class order; label files that do not fit are named errors.
#[test]
fn imagenet_layouts_with_val_in_class_folders_or_flat_with_a_label_file() {
    let root = TempDir::new("folder-imagenet");
    write_folder(&root, 8, None);
    std::fs::rename(root.join("test"), root.join("val")).unwrap();
    let nested = open(&root, Split::Test, 16).unwrap();
    assert_eq!(nested.len(), 6);
    // A test split without some classes keeps the training split's labels; one with a
    // class training does not have is an error naming it.
    let part = TempDir::new("folder-imagenet-part");
    write_folder(&part, 8, None);
    std::fs::remove_dir_all(part.join("test/airplane")).unwrap();
    let test = open(&part, Split::Test, 16).unwrap();
    assert_eq!(test.classes(), ["airplane", "automobile", "bird"]);
    assert!((0..test.len()).all(|i| test.label(i) >= 1));
    assert!((0..test.len()).any(|i| test.label(i) == 2));
    std::fs::rename(part.join("test/bird"), part.join("test/zebra")).unwrap();
    let err = open(&part, Split::Test, 16).unwrap_err().to_string();
    assert!(
        err.contains("class folder `zebra` is not a class of the training split"),
        "{err}"
    );
    drop(part);
    // Flatten val/ (renaming files so the names say nothing of the class) and write the
    // labels in both accepted formats.
    let flat = root.join("flat");
    std::fs::create_dir_all(&flat).unwrap();
    let mut lines = Vec::new();
    let mut expect = Vec::new();
    let classes = ["airplane", "automobile", "bird"];
    for (label, class) in classes.iter().enumerate().rev() {
        let mut files: Vec<_> = std::fs::read_dir(root.join("val").join(class))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for f in files {
            let ext = f.extension().unwrap().to_str().unwrap().to_string();
            let name = format!("val_{:05}", 100 - lines.len());
            std::fs::rename(&f, flat.join(format!("{name}.{ext}"))).unwrap();
            lines.push((name, class.to_string()));
            expect.push((format!("val_{:05}", 100 - expect.len()), label));
        }
    }
    std::fs::remove_dir_all(root.join("val")).unwrap();
    std::fs::rename(&flat, root.join("val")).unwrap();
    let err = open(&root, Split::Test, 16).unwrap_err().to_string();
    assert!(
        err.contains("no class folders") && err.contains("val_labels.txt"),
        "{err}"
    );
    let labels_txt: String = lines
        .iter()
        .map(|(n, c)| format!("{n}.jpg {c}\n"))
        .collect();
    let kaggle: String = std::iter::once("ImageId,PredictionString\n".to_string())
        .chain(lines.iter().map(|(n, c)| format!("{n},{c} 1 2 3 4\n")))
        .collect();
    for (file, text) in [
        ("val_labels.txt", &labels_txt),
        ("LOC_val_solution.csv", &kaggle),
    ] {
        std::fs::write(root.join(file), text).unwrap();
        let test = open(&root, Split::Test, 16).unwrap();
        assert_eq!(test.len(), 6, "{file}");
        assert_eq!(test.classes(), classes, "{file}");
        let Images::Folder(f) = &test else {
            panic!("mixed sizes stream")
        };
        for (i, path) in f.files().iter().enumerate() {
            let stem = path.file_stem().unwrap().to_str().unwrap();
            let want = expect.iter().find(|(n, _)| n == stem).unwrap().1;
            assert_eq!(test.label(i), want, "{file}: {stem}");
        }
        std::fs::remove_file(root.join(file)).unwrap();
    }
    let bad = [
        (
            format!("{}val_99999 bird\n", labels_txt),
            "`val_99999` is not an image",
        ),
        (
            labels_txt.replacen("bird", "zebra", 1),
            "unknown class `zebra`",
        ),
        (
            labels_txt
                .lines()
                .skip(1)
                .map(|l| format!("{l}\n"))
                .collect(),
            "no label in",
        ),
    ];
    for (text, message) in bad {
        std::fs::write(root.join("val_labels.txt"), text).unwrap();
        let err = open(&root, Split::Test, 16).unwrap_err().to_string();
        assert!(err.contains(message), "{message}: {err}");
    }
}

/// `root/{train,test}/<class>/*.jpg`: `n` training images and 20 test images, CIFAR-10
/// images of the shipped subset, cycled, each resized to a random width and height in
/// 40..300 px.
fn write_sized_folder(root: &Path, n: usize) {
    let mini = dmasking::data::load(&repo("data/cifar10-mini"), Split::Train).unwrap();
    let mut rng = StdRng::seed_from_u64(9);
    for k in 0..n + 20 {
        let i = k % mini.len();
        let split = if k < n { "train" } else { "test" };
        let dir = root
            .join(split)
            .join(&mini.classes[mini.labels[i] as usize]);
        std::fs::create_dir_all(&dir).unwrap();
        let px = mini.image(i);
        let img = image::RgbImage::from_fn(32, 32, |x, y| {
            let at = |c: usize| px[c * 1024 + (y * 32 + x) as usize];
            image::Rgb([at(0), at(1), at(2)])
        });
        let (w, h) = (rng.random_range(40..300), rng.random_range(40..300));
        image::imageops::resize(&img, w, h, image::imageops::FilterType::Triangle)
            .save(dir.join(format!("{k:05}.jpg")))
            .unwrap();
    }
}

/// Peak resident set (KiB) of a `dmasking` run, read from the kernel's accounting of
/// that one child process (reaped by `wait4`, which returns it).
#[allow(clippy::zombie_processes)]
fn peak_rss_kib(args: &[&str]) -> i64 {
    let child = command()
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value; wait4 fills it for the child it reaps.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{args:?} failed"
    );
    usage.ru_maxrss
}

/// Memory grows with the paths and labels, not the pixels: training a network at 64×64
/// input on a folder of 3,000 JPEGs of random sizes for one epoch peaks within 16 MiB of
/// training it on 300 such images for ten epochs. The runs take the same number of steps
/// and evaluate the same 20 test images without validation, since the allocator's working
/// set grows over a run's first steps and with the evaluation batch whatever the folder;
/// the 2,700 more images decoded at the input size alone would take 33 MB.
#[test]
fn training_memory_stays_bounded_when_the_folder_grows_tenfold() {
    let dir = TempDir::create("folder-mem-settings");
    let arch_file = dir.join("arch.json");
    std::fs::write(&arch_file, ARCH).unwrap();
    let settings = dir.join("train.json");
    std::fs::write(&settings, r#"{"validation_fraction": 0.0}"#).unwrap();
    let mut peaks = Vec::new();
    for (n, epochs) in [(300, "10"), (3000, "1")] {
        let root = TempDir::new(&format!("folder-mem-{n}"));
        write_sized_folder(&root, n);
        let out = root.join("run");
        let peak = peak_rss_kib(&[
            "train",
            "--arch",
            arch_file.to_str().unwrap(),
            "--data",
            root.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--epochs",
            epochs,
            "--batch-size",
            "32",
            "--config",
            settings.to_str().unwrap(),
        ]);
        let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
        assert!(metrics.contains("\"kind\":\"epoch\""), "the epochs ran");
        peaks.push(peak);
    }
    eprintln!(
        "peak RSS: 300 images {} KiB, 3,000 images {} KiB",
        peaks[0], peaks[1]
    );
    assert!(
        peaks[1] <= peaks[0] + 16 * 1024,
        "peak RSS grew from {} to {} KiB",
        peaks[0],
        peaks[1]
    );
}

/// A small network at 64×64 input.
const ARCH: &str = r#"{
  "format": "dmasking-arch/1",
  "input_size": 64,
  "num_classes": 10,
  "stem": {"out": 16, "kernel": 3, "stride": 1},
  "blocks": [
    {"op": "ir", "out": 24, "stride": 2, "kernel": 3, "expansion": 3},
    {"op": "ir", "out": 32, "stride": 2, "kernel": 3, "expansion": 3, "se": true, "act": "hswish"}
  ],
  "head": {"op": "ir_pool", "expansion": 2.0, "out": 128, "act": "hswish"}
}"#;
