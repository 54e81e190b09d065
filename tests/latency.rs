//! Latency tables: piece keys as the format documents them, every piece of a space found,
//! prediction and the space's exact latency range against brute force (on tables written
//! here), and, through ONNX Runtime, tables built and resumed, piece graphs that compose
//! to the whole network, and clear errors.
//!
//! The ONNX Runtime half of a test says so and stops where no runtime loads, unless
//! `DMASKING_REQUIRE_ONNXRUNTIME` is set (as `.ci/run` sets it): then it fails.

use std::collections::HashSet;

use dmasking::arch::Arch;
use dmasking::latency::{LatencyTable, pieces_of, pieces_of_space};
use dmasking::space::Space;
use dmasking::supernet::Plan;
use serde_json::{Value, json};

use crate::util::{TempDir, dmasking, repo, repo_str};

/// A network written for the key test: a residual block, an identity skip, a projection
/// with its own activation, an SE block, the `ir_pool` head.
const NET: &str = r#"{
  "format": "dmasking-arch/1",
  "input_size": 16,
  "num_classes": 10,
  "stem": {"out": 8, "kernel": 3, "stride": 2, "act": "relu"},
  "blocks": [
    {"op": "ir", "out": 8, "stride": 1, "kernel": 3, "expansion": 1},
    {"op": "skip", "out": 8, "stride": 1},
    {"op": "skip", "out": 16, "stride": 2, "act": "hswish"},
    {"op": "ir", "out": 16, "stride": 1, "kernel": 5, "mid": 32, "se": true, "act": "hswish"}
  ],
  "head": {"op": "ir_pool", "expansion": 2.0, "out": 32, "act": "hswish"}
}"#;

/// The keys docs/LATENCY.md gives that network, written out by hand: the input at 16, the
/// stride-2 stem, 8x8 maps into the blocks, 4x4 after the projection; no identity key;
/// SE hidden width divisible(32 / 4, 8) = 8; the head's mid 16 · 2 = 32.
#[test]
fn piece_keys_of_a_written_network() {
    let arch = Arch::from_json(NET).unwrap();
    let keys: Vec<String> = pieces_of(&arch)
        .unwrap()
        .into_iter()
        .map(|(_, p)| p.key())
        .collect();
    assert_eq!(
        keys,
        [
            "input c=3 h=16",
            "stem in=3 out=8 k=3 s=2 act=relu bias=1 h=16",
            "ir in=8 mid=8 out=8 k=3 s=1 se=0 act=relu res=1 h=8",
            "proj in=8 out=16 s=2 act=hswish h=8",
            "ir in=16 mid=32 out=16 k=5 s=1 se=8 act=hswish res=1 h=4",
            "head ir_pool in=16 mid=32 out=32 classes=10 act=hswish h=4",
        ]
    );
}

/// Run `dmasking` with `args` (a `--json` command), which must succeed: its JSON.
fn json_of(args: &[&str]) -> Value {
    let o = dmasking(args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// Every option combination of `plan`.
fn all_picks(plan: &Plan) -> Vec<Vec<usize>> {
    let mut all = vec![vec![]];
    for c in &plan.choices {
        all = all
            .into_iter()
            .flat_map(|p| {
                (0..c.options.len()).map(move |o| {
                    let mut p = p.clone();
                    p.push(o);
                    p
                })
            })
            .collect();
    }
    all
}

fn tiny() -> (Space, Plan) {
    let space = Space::load(&repo("configs/cifar10_tiny.json")).unwrap();
    let plan = Plan::new(&space);
    (space, plan)
}

/// A table of every piece of `plan`'s space with made-up times (a hash of the key), so
/// that no two networks tie by accident.
fn made_up_table(plan: &Plan) -> LatencyTable {
    let mut entries = serde_json::Map::new();
    for key in pieces_of_space(plan).unwrap().into_iter().map(|p| p.key) {
        let h = key.bytes().fold(0xcbf29ce484222325u64, |h, b| {
            (h ^ b as u64).wrapping_mul(0x100000001b3)
        });
        entries.insert(key, json!(0.01 + (h % 100_000) as f64 * 1e-6));
    }
    let v = json!({
        "format": "dmasking-latency/1",
        "measured": {"runtime": "made up", "threads": 1, "batch": 1, "warmup": 0, "runs": 1, "cpu": "none"},
        "dates": [], "load_average": [], "spaces": ["cifar10_tiny"],
        "call_ms": 0.004,
        "calibration": {"scale": 0.9, "networks": "made up", "mean_abs_rel_error_before": 0.1,
                        "mean_abs_rel_error_after": 0.0, "date": "today"},
        "entries": entries,
    });
    LatencyTable::parse(&v.to_string()).unwrap()
}

/// The space's pieces are exactly the pieces its networks run: each of the tiny space's
/// networks runs only listed pieces, and every listed piece is run by some network.
#[test]
fn the_pieces_of_a_space_are_those_its_networks_run() {
    let (_, plan) = tiny();
    let listed: HashSet<String> = pieces_of_space(&plan)
        .unwrap()
        .into_iter()
        .map(|p| p.key)
        .collect();
    let mut used = HashSet::new();
    let all = all_picks(&plan);
    assert!(all.len() > 1000, "{} networks", all.len());
    for picks in &all {
        for (_, piece) in pieces_of(&plan.derive(picks).unwrap()).unwrap() {
            let key = piece.key();
            assert!(listed.contains(&key), "{key} of {picks:?} is not listed");
            used.insert(key);
        }
    }
    assert_eq!(used, listed);
}

/// `latency predict`: a network's prediction is one call plus each piece's entry less the
/// call, times the table's calibration (summed here from the table file); the space's range equals the smallest and
/// largest prediction over every network of the tiny space.
#[test]
fn predictions_and_the_space_range_against_brute_force() {
    let (_, plan) = tiny();
    let table = made_up_table(&plan);
    let dir = TempDir::create("latency-predict");
    let path = dir.join("table.json");
    std::fs::write(&path, table.to_json()).unwrap();
    let p = path.to_str().unwrap();

    let arch_path = dir.join("net.json");
    let picks = vec![1; plan.choices.len()];
    let arch = plan.derive(&picks).unwrap();
    std::fs::write(&arch_path, arch.to_json()).unwrap();
    let v = json_of(&[
        "latency",
        "predict",
        "--arch",
        arch_path.to_str().unwrap(),
        "--table",
        p,
        "--json",
    ]);
    let file: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let pieces = v["pieces"].as_array().unwrap();
    let entry = |x: &Value| {
        file["entries"][x["key"].as_str().unwrap()]
            .as_f64()
            .unwrap()
    };
    let want = 0.9 * (0.004 + pieces.iter().map(|x| entry(x) - 0.004).sum::<f64>());
    assert_eq!(pieces.len(), pieces_of(&arch).unwrap().len());
    let got = v["predicted_ms"].as_f64().unwrap();
    assert!((got - want).abs() < 1e-12, "{got} vs {want}");

    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for picks in all_picks(&plan) {
        let ms = table.predict(&plan.derive(&picks).unwrap()).unwrap().ms;
        lo = lo.min(ms);
        hi = hi.max(ms);
    }
    let space = repo_str("configs/cifar10_tiny.json");
    let v = json_of(&[
        "latency", "predict", "--space", &space, "--table", p, "--json",
    ]);
    assert!(
        (v["min_ms"].as_f64().unwrap() - lo).abs() < 1e-12,
        "{v} vs {lo}"
    );
    assert!(
        (v["max_ms"].as_f64().unwrap() - hi).abs() < 1e-12,
        "{v} vs {hi}"
    );
}

/// A table without a piece the network runs: exit 2, one line naming the piece.
#[test]
fn a_missing_entry_is_an_error_naming_the_piece() {
    let (_, plan) = tiny();
    let mut table = made_up_table(&plan);
    let arch = plan.derive(&vec![0; plan.choices.len()]).unwrap();
    let gone = pieces_of(&arch).unwrap()[2].1.key();
    table.entries.remove(&gone);
    let dir = TempDir::create("latency-missing");
    let (t, a) = (dir.join("table.json"), dir.join("net.json"));
    std::fs::write(&t, table.to_json()).unwrap();
    std::fs::write(&a, arch.to_json()).unwrap();
    let o = dmasking(&[
        "latency",
        "predict",
        "--arch",
        a.to_str().unwrap(),
        "--table",
        t.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains(&format!("`{gone}`")), "{err}");
}

/// The process's ONNX Runtime, or `None` (a failure where it is required).
fn runtime() -> Option<&'static dmasking::latency::runtime::Runtime> {
    match dmasking::latency::runtime::runtime() {
        Ok(r) => Some(r),
        Err(e) => {
            assert!(
                std::env::var_os("DMASKING_REQUIRE_ONNXRUNTIME").is_none(),
                "DMASKING_REQUIRE_ONNXRUNTIME is set but {e}"
            );
            eprintln!("{e}: the ONNX Runtime half of this test was not run");
            None
        }
    }
}

/// The graphs a table times are the network's own parts: run one after another in ONNX
/// Runtime (each piece's output the next one's input) they give the whole exported
/// network's logits, within 1e-4 of the largest logit.
#[test]
fn piece_graphs_compose_to_the_whole_network() {
    use burn::tensor::{Distribution, Tensor};
    use dmasking::latency::Part;
    use dmasking::nn::FixedNet;
    use dmasking::onnx::{Normalization, PieceSource, piece_onnx, to_onnx};
    let Some(rt) = runtime() else { return };
    let arch = Arch::from_json(NET).unwrap();
    let _rng = crate::util::device_rng_shared();
    let device = dmasking::device::device("cpu").unwrap();
    let mut net = FixedNet::new(&arch, &device).unwrap();
    crate::util::randomise_batch_norms(&mut net);
    let norm = Normalization {
        mean: vec![0.4, 0.5, 0.6],
        std: vec![0.2, 0.3, 0.25],
    };
    let x = Tensor::<4>::random([1, 3, 16, 16], Distribution::Uniform(0.0, 1.0), &device);
    let x: Vec<f32> = x.into_data().try_to_vec::<f32>().unwrap();
    let whole = rt
        .run(
            &to_onnx(&net, &arch, &norm).unwrap(),
            [1, 3, 16, 16],
            x.clone(),
        )
        .unwrap();
    let mut y = x;
    for (part, piece) in pieces_of(&arch).unwrap() {
        let (c, h) = piece.input();
        let source = match part {
            Part::Input => PieceSource::Input(&norm),
            part => PieceSource::Part(&net, part),
        };
        y = rt
            .run(&piece_onnx(source, c, h).unwrap(), [1, c, h, h], y)
            .unwrap();
    }
    assert_eq!(y.len(), 10);
    let scale = whole.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(scale > 0.0);
    for (a, b) in y.iter().zip(&whole) {
        assert!((a - b).abs() <= 1e-4 * scale, "{y:?} vs {whole:?}");
    }
}

/// `latency table` on the tiny space: an entry for exactly the space's pieces, the runtime
/// version Python's onnxruntime reports; with entries removed, a second run measures only
/// those and keeps the rest as they were; other timing settings are refused, the file
/// left as it was.
#[test]
fn a_table_is_built_and_resumed_where_it_stopped() {
    if runtime().is_none() {
        return;
    }
    let dir = TempDir::create("latency-table");
    let out = dir.join("table.json");
    let space = repo_str("configs/cifar10_tiny.json");
    let args = |extra: &[&'static str]| {
        let mut a = vec![
            "latency",
            "table",
            "--space",
            &space,
            "--out",
            out.to_str().unwrap(),
        ];
        a.extend(["--runs", "3", "--warmup", "1"]);
        a.extend_from_slice(extra);
        a.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let run = |extra: &[&'static str]| {
        let a = args(extra);
        dmasking(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let o = run(&[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let first = LatencyTable::read(&out).unwrap();
    let (_, plan) = tiny();
    let listed: HashSet<String> = pieces_of_space(&plan)
        .unwrap()
        .into_iter()
        .map(|p| p.key)
        .collect();
    let keys: HashSet<String> = first.entries.keys().cloned().collect();
    assert_eq!(keys, listed);
    let version = std::process::Command::new("python3")
        .args(["-c", "import onnxruntime; print(onnxruntime.__version__)"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if let Some(v) = version.ok().filter(|v| !v.is_empty()) {
        assert_eq!(first.measured.runtime, format!("onnxruntime {v}"));
    }

    let mut cut = first.clone();
    let removed: Vec<String> = cut.entries.keys().take(10).cloned().collect();
    for k in &removed {
        cut.entries.remove(k);
    }
    std::fs::write(&out, cut.to_json()).unwrap();
    let o = run(&[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("({} already in", listed.len() - 10)),
        "{err}"
    );
    let second = LatencyTable::read(&out).unwrap();
    assert_eq!(second.entries.len(), listed.len());
    for (k, v) in &cut.entries {
        assert_eq!(second.entries[k], *v, "{k} was measured again");
    }

    // Calibration: every prediction is multiplied by the fitted factor, nothing else moves.
    let arch = dir.join("net.json");
    std::fs::write(
        &arch,
        plan.derive(&vec![1; plan.choices.len()]).unwrap().to_json(),
    )
    .unwrap();
    let predict = || {
        let (a, t) = (arch.to_str().unwrap(), out.to_str().unwrap());
        json_of(&["latency", "predict", "--arch", a, "--table", t, "--json"])["predicted_ms"]
            .as_f64()
            .unwrap()
    };
    let raw = predict();
    let o = dmasking(&[
        "latency",
        "calibrate",
        "--table",
        out.to_str().unwrap(),
        "--space",
        &space,
        "--count",
        "3",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let calibrated = LatencyTable::read(&out).unwrap();
    let scale = calibrated.calibration.as_ref().unwrap().scale;
    assert!(scale > 0.0 && scale != 1.0, "{scale}");
    assert_eq!(calibrated.entries, second.entries);
    assert!((predict() - scale * raw).abs() <= 1e-12 * raw);

    let before = std::fs::read(&out).unwrap();
    let o = run(&["--batch", "2"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("batch: 1 in the table, 2 here"), "{err}");
    assert_eq!(std::fs::read(&out).unwrap(), before);
}

/// No usable runtime: exit 2 and one line that says what to do, for a path that does not
/// exist and for a file that is no ONNX Runtime library.
#[test]
fn no_runtime_is_a_clear_error() {
    let dir = TempDir::create("latency-no-runtime");
    let arch = dir.join("net.json");
    std::fs::write(&arch, NET).unwrap();
    for (lib, says) in [
        ("/nonexistent/libonnxruntime.so", "which is not a file"),
        (env!("CARGO_MANIFEST_DIR"), "which is not a file"),
        (
            concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"),
            "not a loadable ONNX Runtime",
        ),
    ] {
        let o = crate::util::command()
            .args(["latency", "measure", "--arch", arch.to_str().unwrap()])
            .env("DMASKING_ONNXRUNTIME", lib)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{lib}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains(says) && err.contains("ONNX Runtime"), "{err}");
    }
}

/// A made-up table of the tiny space written to `dir`.
fn made_up_table_file(dir: &TempDir, plan: &Plan) -> std::path::PathBuf {
    let path = dir.join("table.json");
    std::fs::write(&path, made_up_table(plan).to_json()).unwrap();
    path
}

/// The search's latency cost: under random soft architecture weights its expected value is
/// the probability-weighted sum of every network's prediction (enumerated), and under
/// one-hot weights it is the derived network's prediction.
#[test]
fn expected_latency_is_the_exact_expectation_over_every_network() {
    use burn::tensor::Tensor;
    use dmasking::search::loss::{Latency, SearchCost};
    use dmasking::supernet::{ArchWeights, Eff, Supernet};
    use rand::{Rng, SeedableRng};
    let (space, plan) = tiny();
    let dir = TempDir::create("latency-expected");
    let path = made_up_table_file(&dir, &plan);
    let table = LatencyTable::read(&path).unwrap();
    let cost = Latency::new(&path, &plan).unwrap();
    let device = dmasking::device::device("cpu").unwrap();
    let net = Supernet::new(&space, &device);
    let value = |e: Eff| match e {
        Eff::Const(c) => c,
        Eff::Var(t) => t.into_scalar::<f32>() as f64,
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let probs: Vec<Vec<f64>> = plan
        .choices
        .iter()
        .map(|c| {
            let w: Vec<f64> = (0..c.options.len())
                .map(|_| rng.random::<f64>() + 0.05)
                .collect();
            let z: f64 = w.iter().sum();
            w.into_iter().map(|x| x / z).collect()
        })
        .collect();
    let g = ArchWeights(
        probs
            .iter()
            .map(|p| {
                let v: Vec<f32> = p.iter().map(|&x| x as f32).collect();
                Tensor::<1>::from_floats(v.as_slice(), &device)
            })
            .collect(),
    );
    let expected = value(cost.expected(&net, &g));
    let mut want = 0.0;
    let all = all_picks(&plan);
    for (i, picks) in all.iter().enumerate() {
        let ms = table.predict(&plan.derive(picks).unwrap()).unwrap().ms;
        let p: f64 = picks.iter().zip(&probs).map(|(&o, p)| p[o]).product();
        want += p * ms * 1e3;
        if i % 97 == 0 {
            let one_hot = ArchWeights::one_hot(&plan.choices, picks, &device);
            let exact = value(cost.expected(&net, &one_hot));
            assert!(
                (exact - ms * 1e3).abs() <= 1e-5 * ms * 1e3,
                "{picks:?}: {exact} vs {}",
                ms * 1e3
            );
            assert_eq!(cost.exact(&plan, picks).unwrap(), ms * 1e3);
        }
    }
    assert!(
        (expected - want).abs() <= 1e-5 * want,
        "{expected} vs {want} µs"
    );
}

/// `search --latency-table --loss budget --budget-ms`: the derived network's predicted
/// latency (in its provenance, with the table it came from) is within the ±5 % band and
/// is what `latency predict` gives it; a budget outside the space's latency range and a
/// table without a piece the space runs are errors naming the range and the piece,
/// before a run directory is made.
#[test]
fn a_latency_budget_search_lands_in_the_band_of_its_prediction() {
    let (_, plan) = tiny();
    let dir = TempDir::create("latency-search");
    let table = made_up_table_file(&dir, &plan);
    let t = table.to_str().unwrap().to_string();
    let space = repo_str("configs/cifar10_tiny.json");
    let range = json_of(&[
        "latency", "predict", "--space", &space, "--table", &t, "--json",
    ]);
    let (lo, hi) = (
        range["min_ms"].as_f64().unwrap(),
        range["max_ms"].as_f64().unwrap(),
    );
    let search = |out: &str, table: &str, budget: f64| {
        let out = dir.join(out);
        let o = dmasking(&[
            "search",
            "--space",
            &repo_str("configs/cifar10_tiny.json"),
            "--data",
            &repo_str("data/cifar10-mini"),
            "--out",
            out.to_str().unwrap(),
            "--epochs",
            "2",
            "--warmup-epochs",
            "1",
            "--batch-size",
            "16",
            "--max-images",
            "160",
            "--loss",
            "budget",
            "--latency-table",
            table,
            "--budget-ms",
            &budget.to_string(),
            "--select",
            "2",
        ]);
        (out, o)
    };
    let budget = lo + 0.4 * (hi - lo);
    let (out, o) = search("run", &t, budget);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let arch_path = out.join("arch.json");
    let arch: Value = serde_json::from_str(&std::fs::read_to_string(&arch_path).unwrap()).unwrap();
    let lat = &arch["provenance"]["latency"];
    let predicted = lat["predicted_ms"].as_f64().unwrap();
    assert!(
        (predicted / budget - 1.0).abs() <= 0.05,
        "{predicted} ms for a budget of {budget}"
    );
    assert_eq!(lat["table"], t.as_str());
    let v = json_of(&[
        "latency",
        "predict",
        "--arch",
        arch_path.to_str().unwrap(),
        "--table",
        &t,
        "--json",
    ]);
    assert!((v["predicted_ms"].as_f64().unwrap() - predicted).abs() < 1e-9);

    let (out, o) = search("too-fast", &t, lo * 0.5);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&format!("{lo:.3}–{hi:.3} ms")), "{err}");
    assert!(!out.exists());

    let mut cut = LatencyTable::read(&table).unwrap();
    let gone = cut
        .entries
        .keys()
        .find(|k| k.starts_with("ir "))
        .unwrap()
        .clone();
    cut.entries.remove(&gone);
    let cut_path = dir.join("cut.json");
    std::fs::write(&cut_path, cut.to_json()).unwrap();
    let (out, o) = search("cut", cut_path.to_str().unwrap(), budget);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&format!("`{gone}`")), "{err}");
    assert!(!out.exists());
}

/// `lookup --latency`: the network's measured latency from the file, and its percentile
/// among the benchmark's keys within ±5 % of it, counted here from the benchmark's and
/// the (made-up) latency file's JSON.
#[test]
fn lookup_ranks_a_network_among_those_of_about_its_latency() {
    use dmasking::benchmark::{Benchmark, NasBenchMacro};
    let file = repo_str("data/nas-bench-macro/nas-bench-macro_cifar10.json");
    let bench = NasBenchMacro::load(std::path::Path::new(&file)).unwrap();
    let made_up = |key: &str| {
        let d: Vec<f64> = key.bytes().map(|b| (b - b'0') as f64).collect();
        0.2 + d
            .iter()
            .enumerate()
            .map(|(i, x)| x * (0.01 + 0.003 * i as f64))
            .sum::<f64>()
    };
    let lat: serde_json::Map<String, Value> = bench
        .keys()
        .iter()
        .map(|k| (k.clone(), json!(made_up(k))))
        .collect();
    let dir = TempDir::create("latency-lookup");
    let lat_path = dir.join("latency.json");
    let v = json!({
        "format": "dmasking-network-latency/1", "benchmark": "NAS-Bench-Macro",
        "measured": {"runtime": "made up", "threads": 1, "batch": 1, "warmup": 0, "runs": 1, "cpu": "none"},
        "dates": [], "load_average": [], "networks": 3969, "latency_ms": lat,
    });
    std::fs::write(&lat_path, v.to_string()).unwrap();
    let arch = dir.join("net.json");
    let key = "12012012";
    std::fs::write(
        &arch,
        bench
            .plan()
            .derive(&bench.picks(key).unwrap())
            .unwrap()
            .to_json(),
    )
    .unwrap();
    let found = json_of(&[
        "lookup",
        "--benchmark",
        &file,
        "--arch",
        arch.to_str().unwrap(),
        "--latency",
        lat_path.to_str().unwrap(),
        "--json",
    ]);
    let key = found["key"].as_str().unwrap();
    let ms = made_up(key);
    let records: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let acc = |k: &str| records[k]["mean_acc"].as_f64().unwrap();
    let band: Vec<&String> = bench
        .keys()
        .iter()
        .filter(|k| (made_up(k) - ms).abs() <= 0.05 * ms)
        .collect();
    let below = band.iter().filter(|k| acc(k) < acc(key)).count();
    let l = &found["latency"];
    assert_eq!(l["ms"].as_f64().unwrap(), ms);
    assert_eq!(l["band_size"].as_u64().unwrap() as usize, band.len());
    assert!(band.len() > 10, "{}", band.len());
    let want = 100.0 * below as f64 / band.len() as f64;
    assert!((l["percentile"].as_f64().unwrap() - want).abs() < 1e-9);
}

/// `latency benchmark` on a three-network benchmark file written here: every key measured,
/// and a second run after one key is removed measures only that network again.
#[test]
fn every_network_of_a_benchmark_is_measured_once_and_resumed() {
    if runtime().is_none() {
        return;
    }
    let dir = TempDir::create("latency-benchmark");
    let file = dir.join("Results_MobileNet.json");
    std::fs::write(
        &file,
        r#"{"1234123": {"mean": 90.2, "flops": 1000, "params": 3},
            "1234124": {"mean": 90.0, "flops": 1000, "params": 1},
            "4444443": {"mean": 91.0, "flops": 5000, "params": 2}}"#,
    )
    .unwrap();
    let out = dir.join("latency.json");
    let run = || {
        dmasking(&[
            "latency",
            "benchmark",
            "--benchmark",
            file.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--runs",
            "3",
            "--warmup",
            "1",
        ])
    };
    let o = run();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let first = dmasking::latency::NetworkLatencies::read(&out).unwrap();
    let keys: Vec<&String> = first.latency_ms.keys().collect();
    assert_eq!(keys.len(), 3);
    assert_eq!(first.networks, 3);
    let mut cut = first.clone();
    cut.latency_ms.remove("1234124");
    std::fs::write(&out, cut.to_json()).unwrap();
    let o = run();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let second = dmasking::latency::NetworkLatencies::read(&out).unwrap();
    assert_eq!(second.latency_ms.len(), 3);
    for k in ["1234123", "4444443"] {
        assert_eq!(
            second.latency_ms[k], first.latency_ms[k],
            "{k} was measured again"
        );
    }
}

/// `random --latency-table T --match-ms X`: distinct networks whose prediction (computed
/// here from the table) lies within the tolerance of X, recorded in their provenance; a
/// target outside the space's range is refused with the range named.
#[test]
fn random_networks_matched_by_predicted_latency() {
    let (_, plan) = tiny();
    let dir = TempDir::create("latency-random");
    let table_path = made_up_table_file(&dir, &plan);
    let table = made_up_table(&plan);
    let (lo, hi) = all_picks(&plan)
        .into_iter()
        .map(|p| table.predict(&plan.derive(&p).unwrap()).unwrap().ms)
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), m| {
            (a.min(m), b.max(m))
        });
    let target = lo + 0.5 * (hi - lo);
    let out = dir.join("random");
    let space = repo_str("configs/cifar10_tiny.json");
    let t = table_path.to_str().unwrap();
    let random = |ms: f64, more: &[&str]| {
        let ms = ms.to_string();
        let mut args = vec![
            "random",
            "--space",
            &space,
            "--latency-table",
            t,
            "--match-ms",
            &ms,
        ];
        args.extend_from_slice(more);
        dmasking(&args)
    };
    let o = random(
        target,
        &[
            "--tolerance",
            "0.03",
            "--count",
            "4",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut keys = std::collections::BTreeSet::new();
    for k in 0..4 {
        let arch = Arch::load(&out.join(format!("random_{k}.json"))).unwrap();
        let ms = table.predict(&arch).unwrap().ms;
        assert!(
            (ms / target - 1.0).abs() <= 0.03,
            "network {k}: {ms} ms vs {target}"
        );
        let recorded = arch.provenance.as_ref().unwrap()["latency"]["predicted_ms"]
            .as_f64()
            .unwrap();
        assert!((recorded - ms).abs() < 1e-9, "{recorded} vs {ms}");
        assert!(keys.insert(arch.network_key()), "network {k} repeats");
    }
    let o = random(2.0 * hi, &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("outside the space's range") && err.contains(&format!("{hi:.4}")),
        "{err}"
    );
}
