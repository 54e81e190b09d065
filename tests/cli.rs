//! The command line's contract on bad input: exit code 2 (not a panic's 101, not any
//! non-zero) and one line on stderr naming the problem, for each command that reads input;
//! and the keys of `bench --json`, which benches/compare.sh and the performance figures
//! read.

use std::process::Output;

use crate::util::{TempDir, dmasking, repo_str};

/// Exit code 2, nothing on stdout, one line on stderr that contains `names`.
fn refused(o: &Output, names: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "stderr: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    assert!(err.contains(names), "{names:?} not in: {err}");
}

#[test]
fn a_backend_not_compiled_in_is_refused() {
    for backend in ["ndarray", "wgpu", "cuda"] {
        let compiled = match backend {
            "ndarray" => cfg!(feature = "ndarray"),
            "wgpu" => cfg!(feature = "wgpu"),
            _ => cfg!(feature = "cuda"),
        };
        if compiled {
            continue;
        }
        let o = dmasking(&[
            "--device",
            backend,
            "bench",
            "--space",
            &repo_str("configs/cifar10_tiny.json"),
        ]);
        refused(&o, backend);
    }
    let o = dmasking(&[
        "--device",
        "tpu",
        "flops",
        "--space",
        &repo_str("configs/cifar10.json"),
    ]);
    refused(&o, "tpu");
}

#[test]
fn derive_report_and_bench_refuse_what_is_not_theirs_with_exit_2() {
    let empty = TempDir::create("not-a-run");
    let dir = empty.to_str().unwrap();
    refused(&dmasking(&["derive", "--run", dir]), dir);
    refused(&dmasking(&["report", "--run", dir]), dir);
    let missing = empty.join("missing.json");
    let missing = missing.to_str().unwrap();
    refused(&dmasking(&["bench", "--space", missing]), "missing.json");
    refused(&dmasking(&["bench", "--data", dir]), dir);
    let bad = empty.join("bad.json");
    std::fs::write(&bad, "{\"format\": \"dmasking-space/1\", \"stages\": []}").unwrap();
    refused(
        &dmasking(&["bench", "--space", bad.to_str().unwrap()]),
        "bad.json",
    );
}

#[test]
fn bench_json_has_the_keys_compare_reads() {
    let o = dmasking(&[
        "bench",
        "--space",
        &repo_str("configs/cifar10_tiny.json"),
        "--steps",
        "1",
        "--batch-size",
        "8",
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON object");
    assert_eq!(v["space"], "cifar10_tiny");
    assert_eq!(
        (v["batch_size"].as_u64(), v["steps"].as_u64()),
        (Some(8), Some(1))
    );
    assert_eq!(v["op_sharing"], "branches");
    assert_eq!(v["weight_step_kind"], "masked");
    for step in ["weight_step", "arch_step"] {
        let s = &v[step];
        let ms = s["median_ms"].as_f64().unwrap();
        let per_s = s["images_per_s"].as_f64().unwrap();
        assert!(ms > 0.0, "{step}: {s}");
        // images/s is the batch over the median step time.
        assert!(
            (per_s - 8.0 / (ms / 1e3)).abs() < 1e-6 * per_s,
            "{step}: {s}"
        );
        assert!(s["peak_mib"].as_f64().unwrap() > 0.0, "{step}: {s}");
        assert!(s["rss_growth_mib"].as_f64().is_some(), "{step}: {s}");
    }
    assert!(v["model_mib"].as_f64().unwrap() > 0.0);
    assert!(v["uniform_expected_mflops"].as_f64().unwrap() > 0.0);

    let o = dmasking(&[
        "bench",
        "--data",
        &repo_str("data/cifar10-mini"),
        "--input-size",
        "32",
        "--batch-size",
        "8",
        "--steps",
        "1",
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON object");
    for key in ["train_images_per_s", "eval_images_per_s", "rss_growth_mib"] {
        assert!(v[key].as_f64().is_some(), "{key}: {v}");
    }
    assert_eq!(v["input_size"].as_u64(), Some(32));
    assert!(v["decode_threads"].as_u64().unwrap() >= 1);
}

#[test]
fn scale_refuses_a_target_that_is_not_a_positive_number() {
    let dir = TempDir::create("scale-bad");
    let out = dir.join("a.json");
    let o = dmasking(&[
        "scale",
        "--space",
        &repo_str("configs/cifar10.json"),
        "--match-mflops",
        "0",
        "--out",
        out.to_str().unwrap(),
    ]);
    refused(&o, "positive");
    assert!(!out.exists());
}
