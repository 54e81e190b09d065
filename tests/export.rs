//! `dmasking export`: ONNX files that ONNX Runtime runs to dmasking's logits.
//!
//! The comparison runs scripts/onnx_check.py with Python's onnxruntime and numpy. Where
//! they are missing the ONNX Runtime half of each test says so and stops, unless
//! `DMASKING_REQUIRE_ONNXRUNTIME` is set (as `.ci/run` sets it after installing them): then
//! it fails.

use std::path::{Path, PathBuf};
use std::process::Command;

use burn::tensor::{Distribution, Tensor, TensorData};
use dmasking::arch::Arch;
use dmasking::data::{ImageData, Split, open};
use dmasking::nn::FixedNet;
use dmasking::onnx::{Normalization, to_onnx};
use serde_json::{Value, json};

use crate::util::{
    TempDir, device_rng_shared, dmasking, floats, plain_device, randomise_batch_norms, repo,
};

/// Whether ONNX Runtime can be run (a failure where it is required).
fn onnxruntime() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import onnxruntime, numpy"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("DMASKING_REQUIRE_ONNXRUNTIME").is_none(),
            "DMASKING_REQUIRE_ONNXRUNTIME is set but python3 cannot import onnxruntime and numpy"
        );
        eprintln!(
            "python3 with onnxruntime and numpy not found (pip install onnxruntime): ONNX Runtime comparison not run"
        );
    }
    ok
}

fn write_f32(path: &Path, t: Tensor<2>) {
    write_values(path, t.into_data())
}

fn write_values(path: &Path, d: TensorData) {
    let v = d.convert::<f32>().try_to_vec::<f32>().unwrap();
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    std::fs::write(path, bytes).unwrap();
}

/// `(x − mean) / std` per channel of x [N, C, H, W].
fn normalise(x: Tensor<4>, n: &Normalization) -> Tensor<4> {
    let d = x.device();
    let c = n.mean.len();
    let m = Tensor::<1>::from_floats(n.mean.as_slice(), &d).reshape([1, c, 1, 1]);
    let s = Tensor::<1>::from_floats(n.std.as_slice(), &d).reshape([1, c, 1, 1]);
    (x - m) / s
}

/// ONNX Runtime on each case (name, model, input [N, C, H, W] in [0, 1], dmasking's logits).
fn run_onnxruntime(dir: &Path, cases: &[(String, PathBuf, Tensor<4>, Tensor<2>)]) -> Vec<Value> {
    let mut list = Vec::new();
    for (name, model, x, logits) in cases {
        let input = dir.join(format!("{name}.input.f32"));
        let out = dir.join(format!("{name}.logits.f32"));
        let shape = x.dims();
        write_values(&input, x.clone().into_data());
        write_f32(&out, logits.clone());
        list.push(
            json!({"name": name, "model": model, "input": input, "logits": out, "shape": shape}),
        );
    }
    let manifest = dir.join("manifest.json");
    std::fs::write(&manifest, json!({ "cases": list }).to_string()).unwrap();
    let o = Command::new("python3")
        .arg(repo("scripts/onnx_check.py"))
        .arg(&manifest)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "onnx_check.py failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice::<Vec<Value>>(&o.stdout).unwrap()
}

/// The graph's interface and values: within 1e-4 of dmasking's logits relative to their
/// largest magnitude, for the whole batch and a batch of one.
fn assert_matches(r: &Value, classes: usize, size: usize) {
    let name = &r["name"];
    assert_eq!(r["input"]["name"], "image", "{name}");
    assert_eq!(r["input"]["type"], "tensor(float)", "{name}");
    assert_eq!(r["input"]["shape"], json!(["N", 3, size, size]), "{name}");
    assert_eq!(r["output"]["name"], "logits", "{name}");
    assert_eq!(r["output"]["shape"], json!(["N", classes]), "{name}");
    let (diff, scale) = (
        r["max_abs_diff"].as_f64().unwrap(),
        r["ref_max_abs"].as_f64().unwrap(),
    );
    assert!(scale > 0.0, "{name}: zero logits prove nothing");
    assert!(
        diff <= 1e-4 * scale,
        "{name}: ONNX Runtime differs by {diff} (largest logit {scale})"
    );
    let one = r["batch_one_diff"].as_f64().unwrap();
    assert!(
        one <= 1e-4 * scale,
        "{name}: a batch of one differs by {one}"
    );
}

/// The rest of what the format allows: MobileNetV2's `conv` head, a stem without bias or
/// activation, a stride-2 projection, SE in a relu block.
const CONV_HEAD: &str = r#"{
  "format": "dmasking-arch/1",
  "name": "conv-head",
  "input_size": 24,
  "num_classes": 7,
  "stem": {"out": 16, "kernel": 5, "stride": 2, "act": "none", "bias": false},
  "blocks": [
    {"op": "ir", "out": 16, "stride": 1, "kernel": 7, "expansion": 2, "se": true},
    {"op": "skip", "out": 24, "stride": 2},
    {"op": "ir", "out": 24, "stride": 1, "kernel": 3, "mid": 40, "act": "hswish"}
  ],
  "head": {"op": "conv", "out": 96, "act": "relu"}
}"#;

/// The six FBNetV2 zoo models (random weights, hswish, SE, skip projections, the
/// `ir_pool` head) and a network with the `conv` head run in ONNX Runtime to dmasking's
/// logits; the file itself is written by the library, as `dmasking export` writes it.
#[test]
fn zoo_models_run_in_onnx_runtime_to_the_same_logits() {
    let dir = TempDir::create("export-zoo");
    let _rng = device_rng_shared();
    let device = plain_device();
    let mut cases = Vec::new();
    let mut sizes = Vec::new();
    let mut archs: Vec<(String, Arch)> = dmasking::zoo::MODELS
        .iter()
        .map(|(name, _)| (name.to_string(), dmasking::zoo::get(name).unwrap()))
        .collect();
    archs.push(("conv-head".into(), Arch::from_json(CONV_HEAD).unwrap()));
    for (name, arch) in archs {
        device.seed(11);
        let mut net = FixedNet::new(&arch, &device).unwrap();
        randomise_batch_norms(&mut net);
        let norm = Normalization::imagenet();
        let bytes = to_onnx(&net, &arch, &norm).unwrap();
        let model = dir.join(format!("{name}.onnx"));
        std::fs::write(&model, bytes).unwrap();
        let s = arch.input_size;
        let x = Tensor::<4>::random([2, 3, s, s], Distribution::Uniform(0.0, 1.0), &device);
        let logits = net.forward(normalise(x.clone(), &norm));
        cases.push((name, model, x, logits));
        sizes.push((arch.num_classes, s));
    }
    if !onnxruntime() {
        return;
    }
    let results = run_onnxruntime(&dir, &cases);
    assert_eq!(results.len(), 7);
    for (r, (classes, size)) in results.iter().zip(sizes) {
        assert_matches(r, classes, size);
    }
}

/// `dmasking export --weights FILE.pth` from the command line, with identity normalisation:
/// ONNX Runtime gives PyTorch's logits for the committed mobile-vision fixture
/// (tests/fixtures/fbnet_small: its arch.json, weights.pth, input.f32 and PyTorch's
/// logits.f32), within 1e-4 of the largest logit. An export that ignored the weights
/// would give another network's logits.
#[test]
fn export_with_imported_weights_gives_pytorch_logits() {
    let dir = TempDir::create("export-pth");
    let fixture = repo("tests/fixtures/fbnet_small");
    let arch_path = fixture.join("arch.json");
    let model = dir.join("small.onnx");
    let o = dmasking(&[
        "export",
        "--arch",
        arch_path.to_str().unwrap(),
        "--weights",
        fixture.join("weights.pth").to_str().unwrap(),
        "--mean",
        "0,0,0",
        "--std",
        "1,1,1",
        "--out",
        model.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let arch = Arch::load(&arch_path).unwrap();
    let device = plain_device();
    let (c, s, k) = (arch.in_channels, arch.input_size, arch.num_classes);
    let x = floats(&fixture.join("input.f32"));
    let n = x.len() / (c * s * s);
    let x = Tensor::<4>::from_data(TensorData::new(x, [n, c, s, s]), &device);
    let torch = Tensor::<2>::from_data(
        TensorData::new(floats(&fixture.join("logits.f32")), [n, k]),
        &device,
    );
    if !onnxruntime() {
        return;
    }
    let r = &run_onnxruntime(&dir, &[("fbnet_small".into(), model, x, torch)])[0];
    assert_matches(r, k, s);
}

/// A network trained on CIFAR-10 (the shipped subset) and exported from its run directory
/// with the training data's normalisation: ONNX Runtime gives its logits and the test
/// accuracy `dmasking eval` reports.
#[test]
fn trained_network_exports_with_its_accuracy() {
    let dir = TempDir::create("export-trained");
    let run = dir.join("run");
    let data = repo("data/cifar10-mini");
    let arch = dir.join("arch.json");
    std::fs::write(&arch, ARCH).unwrap();
    let (arch_s, run_s, data_s) = (
        arch.to_str().unwrap(),
        run.to_str().unwrap(),
        data.to_str().unwrap(),
    );
    let o = dmasking(&[
        "train",
        "--arch",
        arch_s,
        "--data",
        data_s,
        "--out",
        run_s,
        "--epochs",
        "6",
        "--max-images",
        "1000",
        "--lr",
        "0.2",
        "--seed",
        "3",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = dmasking(&["eval", "--run", run_s, "--data", data_s, "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let eval: Value = serde_json::from_slice(&o.stdout).unwrap();
    let model = dir.join("net.onnx");
    let o = dmasking(&["export", "--run", run_s, "--out", model.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("the training run's data"),
        "the run's normalisation is used"
    );

    // The test images as the ONNX file takes them: RGB in [0, 1] at the network's input
    // size (every 2nd pixel of the 32×32 images, as evaluation subsamples them).
    let _rng = device_rng_shared();
    let device = plain_device();
    let a = Arch::load(&arch).unwrap();
    let test = open(&data, Split::Test, a.input_size).unwrap();
    let n = test.len();
    let [c, h, w] = test.shape();
    let mut bytes = vec![0u8; n * c * h * w];
    for (i, chunk) in bytes.chunks_mut(c * h * w).enumerate() {
        test.read(i, chunk).unwrap();
    }
    let pixels: Vec<f32> = bytes.iter().map(|&b| b as f32 / 255.0).collect();
    let x = Tensor::<4>::from_data(TensorData::new(pixels, [n, c, h, w]), &device);
    let x = dmasking::eval::resample(x, a.input_size);
    let net = dmasking::train::load_weights(&a, &run.join("best.bpk"), &device).unwrap();
    let norm = Normalization::from(test.transform());
    let logits = net.forward(normalise(x.clone(), &norm));
    if !onnxruntime() {
        return;
    }
    let r = &run_onnxruntime(&dir, &[("trained".into(), model, x, logits)])[0];
    assert_matches(r, 10, a.input_size);
    let correct = r["argmax"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .filter(|(i, p)| p.as_u64().unwrap() as usize == test.label(*i))
        .count();
    assert_eq!(eval["images"].as_u64().unwrap() as usize, n);
    let top1 = eval["top1"].as_f64().unwrap();
    assert_eq!(
        correct,
        (top1 * n as f64).round() as usize,
        "ONNX Runtime's test accuracy is dmasking eval's"
    );
    assert!(top1 > 0.15, "the trained network beats chance ({top1})");
}

/// Bad requests name the problem and exit 2, writing nothing.
#[test]
fn bad_exports_fail_with_exit_2() {
    let dir = TempDir::create("export-bad");
    let out = dir.join("x.onnx");
    let out_s = out.to_str().unwrap();
    let arch = dir.join("arch.json");
    std::fs::write(&arch, ARCH).unwrap();
    let arch_s = arch.to_str().unwrap();
    let cases: [(&[&str], &str); 4] = [
        (
            &["export", "--zoo", "f9", "--out", out_s],
            "unknown zoo model `f9`",
        ),
        (
            &[
                "export",
                "--arch",
                arch_s,
                "--weights",
                "/nonexistent/best.bpk",
                "--out",
                out_s,
            ],
            "/nonexistent/best.bpk: no such weights file",
        ),
        (
            &[
                "export", "--arch", arch_s, "--mean", "0.5", "--std", "0.5", "--out", out_s,
            ],
            "1 means and 1 stds for 3 input channels",
        ),
        (
            &[
                "export",
                "--arch",
                arch_s,
                "--mean",
                "0.5,0.5,0.5",
                "--std",
                "0.2,0,0.2",
                "--out",
                out_s,
            ],
            "std must be positive",
        ),
    ];
    for (args, message) in cases {
        let o = dmasking(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(message), "{args:?}: {err}");
        assert!(!out.exists(), "{args:?} wrote a file");
    }
}

/// A small CIFAR-10 network at 16×16 input: SE, hswish, a skip projection, residuals.
const ARCH: &str = r#"{
  "format": "dmasking-arch/1",
  "name": "export-test",
  "input_size": 16,
  "num_classes": 10,
  "stem": {"out": 16, "kernel": 3, "stride": 1, "act": "relu"},
  "blocks": [
    {"op": "ir", "out": 16, "stride": 1, "kernel": 3, "expansion": 1.0},
    {"op": "ir", "out": 24, "stride": 2, "kernel": 3, "expansion": 3},
    {"op": "ir", "out": 24, "stride": 1, "kernel": 5, "expansion": 3, "se": true, "act": "hswish"},
    {"op": "skip", "out": 40, "stride": 2},
    {"op": "ir", "out": 40, "stride": 1, "kernel": 3, "expansion": 3, "act": "hswish"}
  ],
  "head": {"op": "ir_pool", "expansion": 2.0, "out": 128, "act": "hswish"},
  "dropout": 0.1
}"#;
