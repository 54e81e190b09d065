//! The API a new user reaches for: the space's cost range and the out-of-range budget
//! (library and command line), an architecture's cost, predictions, typed errors.

use dmasking::prelude::*;
use dmasking::search::LossMode;

use crate::util::{TempDir, device_rng_shared, dmasking, printed_range, repo};

fn budget(mflops: f64) -> SearchConfig {
    SearchConfig {
        loss: LossMode::Budget,
        budget_mflops: Some(mflops),
        budget_tolerance: 0.05,
        ..SearchConfig::default()
    }
}

#[test]
fn the_space_range_is_the_one_flops_prints_and_budgets_outside_it_are_refused() {
    let _rng = device_rng_shared();
    let space = Space::load(&repo("configs/cifar10_tiny.json")).unwrap();
    let (min, max) = printed_range("configs/cifar10_tiny.json");
    assert_eq!(space.flops_range().unwrap(), (min as u64, max as u64));
    let device = Device::default();
    // The band [b(1 − tol), b(1 + tol)] overlaps the range just inside either end...
    for b in [max * 1.04 / 1e6, min * 0.96 / 1e6] {
        let s = Searcher::new(space.clone(), budget(b), &device);
        assert!(s.check().is_ok(), "budget {b} MFLOPs");
    }
    // ...and not just outside, nor far away: the error names the range.
    for b in [max * 1.06 / 1e6, min * 0.94 / 1e6, 50.0] {
        let err = Searcher::new(space.clone(), budget(b), &device)
            .check()
            .unwrap_err();
        match err {
            dmasking::Error::BudgetOutOfRange {
                min: lo, max: hi, ..
            } => {
                assert!((lo - min / 1e6).abs() < 1e-9 && (hi - max / 1e6).abs() < 1e-9);
            }
            other => panic!("budget {b}: {other}"),
        }
    }
}

#[test]
fn run_refuses_an_out_of_range_budget_before_writing() {
    let _rng = device_rng_shared();
    let space = Space::load(&repo("configs/cifar10_tiny.json")).unwrap();
    let data = load(&repo("data/cifar10-mini"), Split::Train).unwrap();
    let dir = TempDir::new("api-budget-run");
    let run = RunDir::create(&dir, false).unwrap();
    let cfg = SearchConfig {
        batch_size: 16,
        ..budget(50.0)
    };
    let err = Searcher::new(space, cfg, &Device::default())
        .run_dir(run)
        .run(&data.train_subset(200, 0))
        .unwrap_err();
    assert!(
        matches!(err, dmasking::Error::BudgetOutOfRange { .. }),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "files written");
}

#[test]
fn cli_search_with_an_out_of_range_budget_exits_2_naming_the_range_and_writes_nothing() {
    let (min, max) = printed_range("configs/cifar10_tiny.json");
    let out = TempDir::new("api-budget-cli");
    let o = dmasking(&[
        "search",
        "--space",
        &repo("configs/cifar10_tiny.json").to_string_lossy(),
        "--data",
        &repo("data/cifar10-mini").to_string_lossy(),
        "--loss",
        "budget",
        "--budget-mflops",
        "50",
        "--out",
        &out.to_string_lossy(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    for bound in [min, max] {
        let shown = format!("{:.3}", bound / 1e6);
        assert!(err.contains(&shown), "{shown} not in: {err}");
    }
    assert!(!out.exists(), "the run directory was created");
}

#[test]
fn an_architecture_cost_matches_the_flops_command() {
    let path = repo("docs/results/full_search_arch.json");
    let arch = Arch::load(&path).unwrap();
    let out = dmasking(&["flops", "--arch", &path.to_string_lossy(), "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let cost = arch.cost().unwrap();
    assert_eq!(cost.flops, v["flops"].as_u64().unwrap());
    assert_eq!(cost.params, v["params"].as_u64().unwrap());
}

#[test]
fn predictions_agree_with_the_evaluation_at_the_network_input_size() {
    let _rng = device_rng_shared();
    // A network searched at 24 px, on 32 px images: predict resamples as evaluate does.
    let mut arch = Arch::load(&repo("docs/results/full_search_arch.json")).unwrap();
    arch.input_size = 24;
    let device = Device::default();
    device.seed(3);
    let net = dmasking::nn::FixedNet::new(&arch, &device).unwrap();
    let data = load(&repo("data/cifar10-mini"), Split::Test).unwrap();
    let data = data.train_subset(120, 0);
    let p = dmasking::eval::predict(&net, &data, 24, 50).unwrap();
    assert_eq!(p.len(), data.len());
    let k = data.classes().len();
    let mut confusion = vec![vec![0u64; k]; k];
    for (i, q) in p.iter().enumerate() {
        assert!(q.probability > 1.0 / k as f32 - 1e-6 && q.probability <= 1.0);
        confusion[data.label(i)][q.class] += 1;
    }
    let ev = dmasking::eval::evaluate(&net, &data, 50, 24).unwrap();
    assert_eq!(confusion, ev.confusion);
}

#[test]
fn bad_option_names_list_the_valid_ones() {
    let err = "magic".parse::<LossMode>().unwrap_err();
    for name in ["fbnet", "additive", "budget"] {
        assert!(err.contains(name), "{err}");
    }
    assert_eq!("budget".parse::<LossMode>(), Ok(LossMode::Budget));
}
