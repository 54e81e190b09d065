//! Retraining, evaluation and reports on real CIFAR-10 images (the shared JPEG copy
//! unpacked into a temp dir where it exists, else the subset the repo ships): a short
//! run beats chance, `eval` agrees with the run's own test accuracy, a killed run resumes
//! to the same result, bad input exits with 2.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;

use crate::util::{
    TempDir, checkpoint_position, command, dmasking, epoch_lines, kill_in_the_second_epoch, repo,
    repo_str,
};

/// Real CIFAR-10 images for the runs: the shared JPEG archive
/// (../shared/data/cifar10-jpeg.tar.gz, unpacked once per test process and removed at its
/// exit) where it exists beside the repo, as in CI; else the 1,000 / 200-image binary subset the repo ships
/// (data/cifar10-mini), so that a fresh clone passes too.
struct Data {
    dir: String,
    /// Training images per run.
    train: &'static str,
    /// Test images per run.
    test: &'static str,
    /// Epochs of the short run that must beat chance.
    epochs: &'static str,
}

fn data_set() -> &'static Data {
    static DATA: OnceLock<Data> = OnceLock::new();
    DATA.get_or_init(|| {
        let archive = repo("../shared/data/cifar10-jpeg.tar.gz");
        if !archive.exists() {
            return Data {
                dir: repo_str("data/cifar10-mini"),
                train: "1000",
                test: "200",
                epochs: "6",
            };
        }
        let dir = TempDir::create("cifar-jpeg").until_exit();
        let ok = Command::new("tar")
            .arg("xzf")
            .arg(&archive)
            .arg("-C")
            .arg(&dir)
            .status()
            .unwrap()
            .success();
        assert!(ok, "unpacking {}", archive.display());
        Data {
            dir: dir.to_str().unwrap().to_string(),
            train: "2560",
            test: "1000",
            epochs: "4",
        }
    })
}

fn data() -> &'static str {
    &data_set().dir
}

/// A small network at 16×16 input (the 32×32 images are subsampled to its lattice).
const ARCH: &str = r#"{
  "format": "dmasking-arch/1",
  "name": "test-net",
  "input_size": 16,
  "in_channels": 3,
  "num_classes": 10,
  "width_divisor": 8,
  "stem": {"out": 16, "kernel": 3, "stride": 1, "act": "relu"},
  "blocks": [
    {"op": "ir", "out": 24, "stride": 2, "kernel": 3, "expansion": 3},
    {"op": "ir", "out": 24, "stride": 1, "kernel": 5, "expansion": 3, "se": true, "act": "hswish"},
    {"op": "ir", "out": 48, "stride": 2, "kernel": 3, "expansion": 3, "act": "hswish"}
  ],
  "head": {"op": "ir_pool", "expansion": 2.0, "out": 128, "act": "hswish"},
  "dropout": 0.1
}"#;

fn arch_file(dir: &Path) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let p = dir.join("arch.json");
    std::fs::write(&p, ARCH).unwrap();
    p.to_str().unwrap().to_string()
}

fn train_args<'a>(arch: &'a str, out: &'a str, epochs: &'a str) -> Vec<&'a str> {
    vec![
        "train",
        "--arch",
        arch,
        "--data",
        data(),
        "--out",
        out,
        "--epochs",
        epochs,
        "--max-images",
        data_set().train,
        "--max-test-images",
        data_set().test,
        "--lr",
        "0.2",
        "--seed",
        "5",
    ]
}

/// Chance is 10 %; its 99.9 % quantile is near 13 % on 1,000 test images and near 16.5 %
/// on the shipped subset's 200.
#[test]
fn short_training_beats_chance_and_eval_agrees_with_the_run() {
    let dir = TempDir::new("train");
    let arch = arch_file(&dir);
    let out = dir.join("run");
    let o = dmasking(&train_args(&arch, out.to_str().unwrap(), data_set().epochs));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let epochs = epoch_lines(&out);
    assert_eq!(epochs.len().to_string(), data_set().epochs);
    let last = epochs.last().unwrap()["test_top1"].as_f64().unwrap();
    // best.bpk is the epoch with the best validation top-1 (the first of ties), chosen on
    // images held out of the training set, never on the test set; the run reports that
    // epoch's test top-1 as its best.
    let (mut best_val, mut best) = (f64::MIN, f64::NAN);
    for e in &epochs {
        let v = e["val_top1"]
            .as_f64()
            .expect("every epoch line has val_top1");
        assert_eq!(e["best"].as_bool().unwrap(), v > best_val, "{e}");
        if v > best_val {
            (best_val, best) = (v, e["test_top1"].as_f64().unwrap());
        }
    }
    assert!(last > 0.2, "test top-1 after the short run: {last}");
    for f in [
        "best.bpk",
        "last.bpk",
        "arch.json",
        "config.json",
        "summary.json",
    ] {
        assert!(out.join(f).exists(), "{f} missing");
    }

    // eval of the last weights on the same 1,000 test images reproduces the logged top-1.
    let o = dmasking(&[
        "eval",
        "--run",
        out.to_str().unwrap(),
        "--data",
        data(),
        "--weights",
        "last",
        "--max-test-images",
        data_set().test,
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let ev: Value = serde_json::from_slice(&o.stdout).unwrap();
    let n_test: u64 = data_set().test.parse().unwrap();
    assert_eq!(ev["images"], n_test);
    assert!((ev["top1"].as_f64().unwrap() - last).abs() < 1e-9);
    let confusion: Vec<Vec<u64>> = serde_json::from_value(ev["confusion"].clone()).unwrap();
    assert_eq!(confusion.len(), 10);
    let total: u64 = confusion.iter().flatten().sum();
    assert_eq!(total, n_test);
    let trace: u64 = (0..10).map(|c| confusion[c][c]).sum();
    assert!((trace as f64 / n_test as f64 - last).abs() < 1e-9);
    let per_class: Vec<f64> = serde_json::from_value(ev["per_class"].clone()).unwrap();
    for (c, row) in confusion.iter().enumerate() {
        let n: u64 = row.iter().sum();
        assert!((per_class[c] - row[c] as f64 / n as f64).abs() < 1e-12);
    }
    assert_eq!(ev["classes"][0], "airplane");

    // best.bpk holds that epoch.
    let o = dmasking(&[
        "eval",
        "--run",
        out.to_str().unwrap(),
        "--data",
        data(),
        "--max-test-images",
        data_set().test,
        "--json",
    ]);
    let ev: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!((ev["top1"].as_f64().unwrap() - best).abs() < 1e-9);

    // The report: plots in both formats and a page with the architecture table.
    let o = dmasking(&["report", "--run", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rep = out.join("report");
    for f in ["loss", "accuracy", "lr"] {
        let png = std::fs::read(rep.join(format!("{f}.png"))).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{f}.png is not a PNG");
        let svg = std::fs::read_to_string(rep.join(format!("{f}.svg"))).unwrap();
        assert!(svg.contains("<svg"), "{f}.svg");
    }
    let md = std::fs::read_to_string(rep.join("report.md")).unwrap();
    // Three blocks and their widths, and the per-class table from eval.json.
    assert!(
        md.contains("| 2 | ir | 3x3 | 24 | 72 | 48 | 2 | - | hswish |"),
        "{md}"
    );
    assert!(md.contains("| truck |"), "{md}");
    let html = std::fs::read_to_string(rep.join("index.html")).unwrap();
    assert!(html.contains("<img src=\"accuracy.svg\""));

    // A comparison of finished runs: its row carries the run's exact cost and accuracy.
    let cmp = dir.join("compare");
    let o = dmasking(&[
        "report",
        "--compare",
        out.to_str().unwrap(),
        "--out",
        cmp.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows: Value =
        serde_json::from_str(&std::fs::read_to_string(cmp.join("compare.json")).unwrap()).unwrap();
    let flops = dmasking(&["flops", "--arch", &arch, "--json"]);
    let flops: Value = serde_json::from_slice(&flops.stdout).unwrap();
    let row = &rows[0];
    assert!((row["mflops"].as_f64().unwrap() * 1e6 - flops["flops"].as_f64().unwrap()).abs() < 1.0);
    assert!((row["best_top1"].as_f64().unwrap() - best).abs() < 1e-9);
    assert_eq!(row["epochs"].to_string(), data_set().epochs);
    assert!(cmp.join("accuracy_vs_mflops.png").exists());
}

/// A run killed between mid-epoch checkpoints (every 2 steps) and resumed from the last
/// one ends with the metrics of one never stopped.
#[test]
fn killed_training_resumes_to_the_same_result() {
    let dir = TempDir::new("train-resume");
    let arch = arch_file(&dir);
    let whole = dir.join("whole");
    let o = dmasking(&train_args(&arch, whole.to_str().unwrap(), "2"));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let cut = dir.join("cut");
    let mut args = train_args(&arch, cut.to_str().unwrap(), "2");
    args.extend(["--checkpoint-steps", "2"]);
    // Kill once a mid-epoch checkpoint of the second epoch exists.
    kill_in_the_second_epoch(args, &cut, Duration::from_secs(600));
    let (epoch, batch) = checkpoint_position(&cut).unwrap();
    assert!(epoch == 1 && batch > 0, "the resume starts mid-epoch");
    let o = dmasking(&[
        "train",
        "--resume",
        "--out",
        cut.to_str().unwrap(),
        "--data",
        data(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The resumed run sees the same batches, learning rates and dropout masks from the
    // restored weights, momentum and BN statistics: every line is identical except the
    // epoch's mean training loss, whose running sum comes back from JSON (about 1e-7).
    let (a, b) = (epoch_lines(&whole), epoch_lines(&cut));
    assert_eq!(a.len(), 2);
    assert_eq!(b.len(), 2);
    let strip = |v: &Value| {
        let mut v = v.clone();
        let o = v.as_object_mut().unwrap();
        o.remove("seconds");
        o.remove("images_per_second");
        let loss = o.remove("train_loss").unwrap().as_f64().unwrap();
        (v, loss)
    };
    for (x, y) in a.iter().zip(&b) {
        let ((x, u), (y, v)) = (strip(x), strip(y));
        assert_eq!(x, y);
        assert!((u - v).abs() <= 1e-6 * u.abs(), "train_loss: {u} vs {v}");
    }
    // The first epoch ran before the kill: identical but for the wall time.
    let strip = |v: &Value| {
        let mut v = v.clone();
        v.as_object_mut().unwrap().remove("seconds");
        v
    };
    assert_eq!(strip(&a[0]), strip(&b[0]));
}

fn error_of(args: &[&str]) -> String {
    let o = dmasking(args);
    assert_eq!(o.status.code(), Some(2), "{args:?} should exit with 2");
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one-line error: {err}");
    err
}

#[test]
fn bad_training_inputs_fail_with_exit_2() {
    let dir = TempDir::new("train-bad");
    let arch = arch_file(&dir);
    let d = dir.to_str().unwrap();
    let missing = format!("{d}/nope.json");
    let err = error_of(&["train", "--arch", &missing, "--data", data(), "--out", d]);
    assert!(err.contains("nope.json"), "{err}");
    let err = error_of(&[
        "train",
        "--arch",
        &arch,
        "--data",
        "/nonexistent",
        "--out",
        &format!("{d}/r"),
    ]);
    assert!(err.contains("/nonexistent"), "{err}");
    // An existing directory is not overwritten.
    std::fs::write(dir.join("keep.txt"), "x").unwrap();
    let err = error_of(&["train", "--arch", &arch, "--data", data(), "--out", d]);
    assert!(err.contains("--resume"), "{err}");
    assert_eq!(std::fs::read_to_string(dir.join("keep.txt")).unwrap(), "x");
    // A settings file with an unknown field names it.
    let cfg = dir.join("bad.json");
    std::fs::write(&cfg, r#"{"epochs": 1, "learning_rate": 0.1}"#).unwrap();
    let err = error_of(&[
        "train",
        "--arch",
        &arch,
        "--data",
        data(),
        "--out",
        &format!("{d}/r2"),
        "--config",
        cfg.to_str().unwrap(),
    ]);
    assert!(err.contains("learning_rate"), "{err}");
    // eval needs a training run.
    let err = error_of(&["eval", "--run", d, "--data", data()]);
    assert!(err.contains("config.json"), "{err}");
}

/// Without --data and without network (DMASKING_OFFLINE), the embedded demo subset is
/// written to the cache and used, and the user is told it is demo-sized.
#[test]
fn offline_default_data_is_the_embedded_demo_subset() {
    let dir = TempDir::new("train-offline");
    let arch = arch_file(&dir);
    let cache = dir.join("cache");
    let o = command()
        .args([
            "train",
            "--arch",
            &arch,
            "--out",
            dir.join("run").to_str().unwrap(),
            "--epochs",
            "1",
            "--max-test-images",
            "50",
        ])
        .env("DMASKING_OFFLINE", "1")
        .env("DMASKING_CACHE", &cache)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("DEMO-SIZED") && err.contains("--data"),
        "{err}"
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("on 1000 images (100 of them held out for validation), testing on 50"),
        "{out}"
    );
    for f in ["data_batch_1.bin", "data_batch_5.bin", "test_batch.bin"] {
        let n = std::fs::metadata(cache.join("cifar10-demo").join(f))
            .unwrap()
            .len();
        assert_eq!(n, 200 * 3073, "{f}");
    }
}

/// Every parameter of the network trains: in one training step each float parameter gets
/// a gradient, the zero-initialised last BN scale of the residual block included (an
/// untracked parameter would keep its initial value through the whole run, and a scale
/// of 0 would leave the block's branch dead).
#[test]
fn every_parameter_of_a_fixed_network_gets_a_gradient() {
    use burn::module::{Module, ModuleVisitor, Param};
    use burn::tensor::{Distribution, Gradients, Tensor};
    struct Check<'a> {
        grads: &'a Gradients,
        path: Vec<String>,
        missing: Vec<String>,
        zero_at_start: Vec<String>,
        seen: usize,
    }
    impl ModuleVisitor for Check<'_> {
        fn enter_module(&mut self, name: &str, _: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            self.seen += 1;
            let name = self.path.join(".");
            if !name.contains("running_") && p.val().abs().max().into_scalar::<f32>() == 0.0 {
                self.zero_at_start.push(name.clone());
            }
            if name.contains("running_") {
                return; // BN's running statistics: state, not trained
            }
            // At the first step the residual branch behind a zero scale gets zero
            // gradients, but a gradient; the zero scale itself a nonzero one.
            match p.val().grad(self.grads) {
                None => self.missing.push(name),
                Some(g) => {
                    let zero_start =
                        name.ends_with("bn.gamma") && self.zero_at_start.last() == Some(&name);
                    if zero_start && g.abs().max().into_scalar::<f32>() == 0.0 {
                        self.missing.push(format!("{name} (zero gradient)"));
                    }
                }
            }
        }
    }
    let _rng = crate::util::device_rng_shared();
    let dev = crate::util::plain_device().autodiff();
    let arch = dmasking::arch::Arch::from_json(ARCH).unwrap();
    let mut net = dmasking::nn::FixedNet::new(&arch, &dev).unwrap();
    net.head.dropout = burn::nn::DropoutConfig::new(0.0).init();
    let x = Tensor::<4>::random([8, 3, 16, 16], Distribution::Normal(0.0, 1.0), &dev);
    let r = Tensor::<2>::random([8, 10], Distribution::Normal(0.0, 1.0), &dev);
    let grads = (net.forward(x) * r).sum().backward();
    let mut check = Check {
        grads: &grads,
        path: vec![],
        missing: vec![],
        zero_at_start: vec![],
        seen: 0,
    };
    net.visit(&mut check);
    assert!(check.seen > 20, "{} parameters", check.seen);
    assert!(
        check.zero_at_start.iter().any(|n| n.contains("bn.gamma")),
        "the residual block's last BN scale starts at 0: {:?}",
        check.zero_at_start
    );
    assert!(check.missing.is_empty(), "no gradient: {:?}", check.missing);
}
