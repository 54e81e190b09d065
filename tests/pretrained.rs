//! Loading PyTorch state dicts named as mobile-vision's FBNetV2 models: the committed
//! fixture (benches/pytorch_fbnet.py: a small network with every block kind, its random
//! weights saved as mobile-vision's checkpoints are, and PyTorch's logits) loads to the
//! same logits; the zoo models are checked against PyTorch with `-- --ignored`.

use std::path::{Path, PathBuf};
use std::process::Command;

use burn::tensor::{Tensor, TensorData};
use dmasking::arch::Arch;
use dmasking::nn::FixedNet;
use dmasking::pretrained::load_mobile_vision;

use crate::util::{TempDir, device_rng_shared, dmasking, floats, plain_device, repo};

/// Logits of the fixture directory `dir`'s network with its weights.pth on its input.pth,
/// beside PyTorch's.
fn logits(dir: &Path, arch: &Arch) -> (Vec<f32>, Vec<f32>) {
    let device = plain_device();
    let net = FixedNet::new(arch, &device).unwrap();
    let net = load_mobile_vision(net, &dir.join("weights.pth"), &device).unwrap();
    let (c, s) = (arch.in_channels, arch.input_size);
    let x = floats(&dir.join("input.f32"));
    let n = x.len() / (c * s * s);
    let x = Tensor::<4>::from_data(TensorData::new(x, [n, c, s, s]), &device);
    let ours = net.forward(x).into_data().try_to_vec::<f32>().unwrap();
    (ours, floats(&dir.join("logits.f32")))
}

fn assert_close(name: &str, ours: &[f32], theirs: &[f32]) {
    assert_eq!(ours.len(), theirs.len(), "{name}: logits");
    let scale = theirs.iter().fold(0f32, |m, v| m.max(v.abs()));
    let diff = ours
        .iter()
        .zip(theirs)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(scale > 0.0, "{name}: zero logits prove nothing");
    assert!(
        diff <= 1e-4 * scale,
        "{name}: differs from PyTorch by {diff} (largest logit {scale})"
    );
}

fn fixture() -> PathBuf {
    repo("tests/fixtures/fbnet_small")
}

/// The fixture: a stem with bias, a block without pw, SE with relu and with hswish, an
/// identity skip (no keys, but counted in the block names), a projection, the ir_pool head
/// and the 1×1-conv classifier, under `state_dict` with `module.` prefixes.
#[test]
fn fixture_state_dict_loads_to_pytorch_logits() {
    let _rng = device_rng_shared();
    let arch = Arch::load(&fixture().join("arch.json")).unwrap();
    let (ours, theirs) = logits(&fixture(), &arch);
    assert_close("fixture", &ours, &theirs);
}

/// A state dict that does not fit the architecture is an error naming the problem.
#[test]
fn mismatched_state_dicts_name_the_problem() {
    let _rng = device_rng_shared();
    let device = plain_device();
    let weights = fixture().join("weights.pth");
    let fixture_arch = std::fs::read_to_string(fixture().join("arch.json")).unwrap();
    let load = |arch: &Arch, path: &Path| {
        let net = FixedNet::new(arch, &device).unwrap();
        load_mobile_vision(net, path, &device)
            .expect_err("loading fails")
            .to_string()
    };
    let f1 = dmasking::zoo::get("f1").unwrap();
    let err = load(&f1, &weights);
    assert!(
        err.contains("7 blocks with weights") && err.contains("the architecture has 17"),
        "{err}"
    );
    let wider = Arch::from_json(&fixture_arch.replace(r#""out": 40"#, r#""out": 48"#)).unwrap();
    let err = load(&wider, &weights);
    assert!(
        err.contains("`backbone.stages.xif3_0.pwl.conv.weight` has shape [40, 128, 1, 1], the network expects [48, 128, 1, 1]"),
        "{err}"
    );
    let no_se = Arch::from_json(&fixture_arch.replacen(r#", "se": true}"#, "}", 1)).unwrap();
    let err = load(&no_se, &weights);
    assert!(
        err.contains(
            "4 tensors the architecture has no place for: backbone.stages.xif2_0.se.se.0.conv.bias"
        ),
        "{err}"
    );
    let not_torch = fixture().join("arch.json");
    let err = load(&dmasking::zoo::get("f1").unwrap(), &not_torch);
    assert!(err.contains("arch.json: not a PyTorch file"), "{err}");
}

/// `dmasking eval --arch A --weights FILE.pth` reads the state dict; eval's accuracy is the
/// library's on the same weights (`export --weights` is checked by value in
/// tests/export.rs).
#[test]
fn eval_reads_state_dicts() {
    let (arch, weights) = (fixture().join("arch.json"), fixture().join("weights.pth"));
    let data = repo("data/cifar10-mini");
    let o = dmasking(&[
        "eval",
        "--arch",
        arch.to_str().unwrap(),
        "--weights",
        weights.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let _rng = device_rng_shared();
    let device = plain_device();
    let a = Arch::load(&arch).unwrap();
    let net = load_mobile_vision(FixedNet::new(&a, &device).unwrap(), &weights, &device).unwrap();
    let test = dmasking::data::open(&data, dmasking::data::Split::Test, a.input_size).unwrap();
    let ev = dmasking::eval::evaluate(&net, &test, 200, a.input_size).unwrap();
    assert_eq!(v["images"], 200);
    assert_eq!(v["top1"].as_f64().unwrap(), ev.top1);
    assert_eq!(v["loss"].as_f64().unwrap(), ev.loss);
}

/// The six zoo models: benches/pytorch_fbnet.py builds each in PyTorch with mobile-vision's
/// names and random weights; loaded here, the same logits. Needs PyTorch (not in CI).
#[test]
#[ignore]
fn zoo_state_dicts_load_to_pytorch_logits() {
    for (name, _) in dmasking::zoo::MODELS {
        let dir = TempDir::new(&format!("zoo-pth-{name}"));
        let ok = Command::new("python3")
            .current_dir(repo("benches"))
            .arg("pytorch_fbnet.py")
            .arg(repo(&format!("zoo/{name}.json")))
            .arg(&*dir)
            .arg("--batch")
            .arg("1")
            .status()
            .unwrap()
            .success();
        assert!(
            ok,
            "benches/pytorch_fbnet.py failed (is PyTorch installed?)"
        );
        let arch = dmasking::zoo::get(name).unwrap();
        let (ours, theirs) = {
            let _rng = device_rng_shared();
            logits(&dir, &arch)
        };
        assert_close(name, &ours, &theirs);
    }
}
