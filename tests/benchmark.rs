//! NAS-Bench-Macro: our description of its space against every one of its networks, and
//! `dmasking lookup`; Channel-Bench-Macro's reader on a synthetic file.

use std::path::Path;

use dmasking::arch::Arch;
use dmasking::benchmark::{Benchmark, NasBenchMacro, lookup, percentile};
use dmasking::cost::{Convention, count_in};

use crate::util::{TempDir, dmasking, repo_str};

const FILE: &str = "data/nas-bench-macro/nas-bench-macro_cifar10.json";

fn bench() -> NasBenchMacro {
    NasBenchMacro::load(Path::new(FILE)).expect("the shipped benchmark loads")
}

#[test]
fn torch_counts_match_the_benchmark_on_all_6561_networks() {
    let b = bench();
    assert_eq!(b.keys().len(), 6561);
    let mut mismatches = Vec::new();
    for key in b.keys() {
        let arch = b.plan().derive(&b.picks(key).unwrap()).unwrap();
        let c = count_in(&arch.layout().unwrap(), arch.input_size, Convention::Torch);
        let e = b.entry(key).unwrap();
        if (c.flops, c.params) != (e.flops, e.params) {
            mismatches.push(format!(
                "{key}: ours {} FLOPs {} params, benchmark {} / {}",
                c.flops, c.params, e.flops, e.params
            ));
        }
        assert_eq!(b.key(&b.picks(key).unwrap()).unwrap(), *key);
    }
    assert!(
        mismatches.is_empty(),
        "{} of 6561 differ, e.g. {:?}",
        mismatches.len(),
        &mismatches[..mismatches.len().min(5)]
    );
}

fn arch_of(b: &NasBenchMacro, key: &str) -> Arch {
    b.plan().derive(&b.picks(key).unwrap()).unwrap()
}

#[test]
fn lookup_finds_every_key_of_a_network() {
    let b = bench();
    // Stage 2 (digits 3-5) "201": MB6_K5, identity, MB3_K3 is the network of "210"; stage
    // 3 "020": projection, MB6_K5, identity is that of "002". A stage's first digit is a
    // projection, not an identity, so it does not move.
    let found = lookup(&b, &arch_of(&b, "01201020")).unwrap();
    assert_eq!(found.key, "01201002");
    assert_eq!(found.same_as, ["01201020", "01210002", "01210020"]);
    let e = b.entry("01201002").unwrap();
    assert_eq!((found.mean_acc, found.flops), (e.mean_acc, e.flops));
    // A network with one key has no others.
    let found = lookup(&b, &arch_of(&b, "22222222")).unwrap();
    assert_eq!(found.key, "22222222");
    assert!(found.same_as.is_empty());
}

#[test]
fn percentile_is_the_share_of_worse_networks_in_the_flop_band() {
    let b = bench();
    let best = b
        .keys()
        .iter()
        .max_by(|x, y| {
            let (ex, ey) = (b.entry(x).unwrap(), b.entry(y).unwrap());
            ex.mean_acc.total_cmp(&ey.mean_acc)
        })
        .unwrap();
    // The best network of the benchmark beats every other in its band (a lookup reports
    // a network's smallest key, whose accuracy may differ, so ask for the key itself).
    let e = b.entry(best).unwrap();
    let (p, n) = percentile(&b, e.flops, e.mean_acc);
    // Ties (the same network under another key) do not count as lower.
    assert!(n > 100);
    assert!((98.0..100.0).contains(&p), "{p} of {n}");
    let worst = b
        .keys()
        .iter()
        .min_by(|x, y| {
            let (ex, ey) = (b.entry(x).unwrap(), b.entry(y).unwrap());
            ex.mean_acc.total_cmp(&ey.mean_acc)
        })
        .unwrap();
    let e = b.entry(worst).unwrap();
    assert_eq!(percentile(&b, e.flops, e.mean_acc).0, 0.0);
    // A lookup reports the percentile of the key it prints.
    let found = lookup(&b, &arch_of(&b, "11111111")).unwrap();
    let e = b.entry(&found.key).unwrap();
    assert_eq!(
        (found.percentile, found.band_size),
        percentile(&b, e.flops, e.mean_acc)
    );
}

#[test]
fn networks_outside_the_benchmark_are_refused() {
    let b = bench();
    let mut other = arch_of(&b, "12121212");
    other.stem.out = 16;
    let err = lookup(&b, &other).unwrap_err().to_string();
    assert!(err.contains("not a network of NAS-Bench-Macro"), "{err}");
    let mut other = arch_of(&b, "12121212");
    other.stem.bias = true;
    assert!(
        lookup(&b, &other).is_err(),
        "the benchmark's stem has no bias"
    );
}

#[test]
fn cli_lookup_prints_json_and_rejects_bad_input_with_exit_2() {
    let b = bench();
    let dir = TempDir::create("lookup");
    let arch = dir.join("a.json");
    std::fs::write(&arch, arch_of(&b, "02012100").to_json()).unwrap();
    let a = arch.to_str().unwrap();
    let out = dmasking(&["lookup", "--benchmark", FILE, "--arch", a, "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["key"], "02012100");
    // The file's own record: {"02012100": {..., "mean_acc": 89.19666544596355, ...}}.
    assert!((v["mean_acc"].as_f64().unwrap() - 89.19666544596355).abs() < 1e-9);
    assert_eq!(v["flops"], 47327744);
    for k in ["percentile", "band_size", "same_as"] {
        assert!(v.get(k).is_some(), "{k} missing in {v}");
    }
    // Torch-convention FLOPs from `flops` agree with the benchmark's.
    let out = dmasking(&["flops", "--arch", a, "--convention", "torch", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["flops"].as_u64(), v["params"].as_u64()),
        (Some(47327744), Some(890666))
    );

    let bad = dir.join("bad.json");
    std::fs::write(
        &bad,
        r#"{"123": {"mean_acc": 1.0, "params": 1, "flops": 1}}"#,
    )
    .unwrap();
    let out = dmasking(&["lookup", "--benchmark", bad.to_str().unwrap(), "--arch", a]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not 8 digits"), "{err}");
    let zoo = dir.join("zoo.json");
    let f1 = dmasking::zoo::get("fbnetv2_f1").unwrap();
    std::fs::write(&zoo, f1.to_json()).unwrap();
    let out = dmasking(&[
        "lookup",
        "--benchmark",
        FILE,
        "--arch",
        zoo.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a network of"));
}

/// `fidelity` on a (barely trained) supernet of the benchmark's space: the spread half
/// runs from the smallest network to the largest, the band half lies within ±5 % of the
/// middle of the range, τ is reported for both; a run of another space is refused.
#[test]
fn cli_fidelity_scores_spread_and_band_networks() {
    let dir = TempDir::new("fidelity");
    let search = |space: &str, out: &str| {
        let o = dmasking(&[
            "search",
            "--space",
            &repo_str(space),
            "--data",
            &repo_str("data/cifar10-mini"),
            "--out",
            dir.join(out).to_str().unwrap(),
            "--epochs",
            "1",
            "--warmup-epochs",
            "1",
            "--batch-size",
            "16",
            "--max-images",
            "80",
            "--op-sharing",
            "superkernel",
            "--weight-step",
            "single-path",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    search("configs/nas_bench_macro.json", "nbm");
    let report = dir.join("fidelity.json");
    let o = dmasking(&[
        "fidelity",
        "--run",
        dir.join("nbm").to_str().unwrap(),
        "--benchmark",
        FILE,
        "--data",
        &repo_str("data/cifar10-mini"),
        "--networks",
        "6",
        "--calibration-images",
        "16",
        "--max-test-images",
        "16",
        "--batch-size",
        "16",
        "--out",
        report.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let nets = v["networks"].as_array().unwrap();
    assert_eq!(nets.len(), 6);
    assert_eq!(nets[0]["key"], "00000000");
    assert_eq!(nets[2]["key"], "22222222");
    let centre = v["band_centre"].as_f64().unwrap();
    assert_eq!(centre, ((7_713_280u64 + 105_660_928) / 2) as f64);
    for n in &nets[3..] {
        let f = n["flops"].as_f64().unwrap();
        assert!((f / centre - 1.0).abs() <= 0.05, "{n}");
        assert_eq!(n["in_band"], true);
    }
    assert_eq!(v["overall"]["networks"], 6);
    // The τ values are Kendall's τ-b of the listed scores, recomputed here from the
    // definition: (concordant − discordant) / √((n0 + ties only in a)(n0 + ties only in b)).
    let tau_b = |a: &[f64], b: &[f64]| -> f64 {
        let (mut c, mut d, mut ta, mut tb) = (0f64, 0f64, 0f64, 0f64);
        for i in 0..a.len() {
            for j in i + 1..a.len() {
                let (x, y) = (a[i] - a[j], b[i] - b[j]);
                match (x == 0.0, y == 0.0) {
                    (true, true) => {}
                    (true, false) => ta += 1.0,
                    (false, true) => tb += 1.0,
                    _ if x * y > 0.0 => c += 1.0,
                    _ => d += 1.0,
                }
            }
        }
        let den = ((c + d + ta) * (c + d + tb)).sqrt();
        if den == 0.0 { 0.0 } else { (c - d) / den }
    };
    for (group, members) in [
        ("overall", nets.iter().collect::<Vec<_>>()),
        (
            "band",
            nets.iter().filter(|n| n["in_band"] == true).collect(),
        ),
    ] {
        let col =
            |k: &str| -> Vec<f64> { members.iter().map(|n| n[k].as_f64().unwrap()).collect() };
        let truth = col("benchmark_acc");
        assert_eq!(v[group]["networks"], members.len());
        for (score, key) in [("oneshot_top1", "oneshot"), ("flops", "flops")] {
            let t = tau_b(&col(score), &truth);
            let got = v[group][key].as_f64().unwrap();
            assert!((got - t).abs() < 1e-12, "{group} {key}: {got} vs {t}");
        }
    }
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("Kendall tau"), "{stdout}");

    search("configs/cifar10.json", "tiny");
    let o = dmasking(&[
        "fidelity",
        "--run",
        dir.join("tiny").to_str().unwrap(),
        "--benchmark",
        FILE,
        "--data",
        &repo_str("data/cifar10-mini"),
        "--networks",
        "6",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("is not the benchmark's"), "{err}");
}

/// Channel-Bench-Macro's format, on a small synthetic file written here (its results file
/// has no licence and is never shipped): `open` recognises it, keys map to the widths its
/// model.py builds, and lookup finds a network's key and percentile.
#[test]
fn channel_bench_macro_results_are_read_from_a_synthetic_file() {
    use dmasking::benchmark::open;
    let dir = TempDir::create("cbm");
    let file = dir.join("Results_MobileNet.json");
    // Three made-up networks (not the benchmark's figures): the first two of equal FLOPs
    // (one band), the third far away.
    std::fs::write(
        &file,
        r#"{"1234123": {"acc": [90.1, 90.3, 90.2], "mean": 90.2, "std": 0.08, "flops": 1000, "params": 3},
            "1234124": {"acc": [90.0, 90.0, 90.0], "mean": 90.0, "std": 0.0, "flops": 1000, "params": 1},
            "4444443": {"acc": [91.0, 91.0, 91.0], "mean": 91.0, "std": 0.0, "flops": 5000, "params": 2}}"#,
    )
    .unwrap();
    let bench = open(&file).unwrap();
    assert!(
        bench.name().contains("Channel-Bench-Macro"),
        "{}",
        bench.name()
    );
    // Key (1, 2, 3, 4, 1, 2, 3) as model.py builds it.
    let arch = bench
        .plan()
        .derive(&bench.picks("1234123").unwrap())
        .unwrap();
    crate::util::assert_channel_bench_key_1234123(&arch);
    assert_eq!(
        bench.key(&bench.picks("1234123").unwrap()).unwrap(),
        "1234123"
    );
    let found = dmasking::benchmark::lookup(&*bench, &arch).unwrap();
    assert_eq!(found.key, "1234123");
    assert_eq!((found.band_size, found.percentile), (2, 50.0));
    // A key of another format is refused, naming it.
    std::fs::write(
        &file,
        r#"{"1234125": {"mean": 1.0, "flops": 1, "params": 1}}"#,
    )
    .unwrap();
    let err = open(&file).err().unwrap().to_string();
    assert!(err.contains("1234125"), "{err}");
}
