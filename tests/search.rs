//! The search CLI on real CIFAR-10 records: a short run and its run directory (one search,
//! read by the tests of what it wrote and of `derive`, `score` and `report` on it), and the
//! clear errors (exit code 2) that leave an existing run untouched.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use dmasking::arch::Arch;
use dmasking::space::Space;
use dmasking::supernet::Plan;
use serde_json::Value;

use crate::util::{
    TempDir, checkpoint_position, command, dmasking, epoch_lines, kill_in_the_second_epoch, repo,
    repo_str,
};

/// Every file under `dir` (recursively) with its bytes.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            v.extend(snapshot(&p));
        } else {
            v.push((p.display().to_string(), std::fs::read(&p).unwrap()));
        }
    }
    v.sort();
    v
}

/// A copy of the directory tree `from` at `to`.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let (p, target) = (e.path(), to.join(e.file_name()));
        if p.is_dir() {
            copy_dir(&p, &target);
        } else {
            std::fs::copy(&p, &target).unwrap();
        }
    }
}

/// The run directory of a short search (2 epochs, the first a warm-up, on 160 images),
/// searched once per test process. The tests only read it: one that writes into a run
/// directory writes into a copy.
fn searched() -> &'static Path {
    static RUN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    RUN.get_or_init(|| {
        let out = TempDir::new("search").until_exit();
        let o = dmasking(&[
            "search",
            "--space",
            &repo_str("configs/cifar10.json"),
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
            "--seed",
            "3",
        ]);
        if o.status.success() {
            Ok(out)
        } else {
            Err(String::from_utf8_lossy(&o.stderr).into_owned())
        }
    })
    .as_ref()
    .unwrap_or_else(|err| panic!("the short search failed: {err}"))
}

/// The searched architecture, arch.json.
fn searched_arch() -> Arch {
    Arch::load(&searched().join("arch.json")).unwrap()
}

/// The searched space's plan.
fn plan() -> Plan {
    Plan::new(&Space::load(&repo("configs/cifar10.json")).unwrap())
}

/// The search's selection.json.
fn selection() -> Value {
    serde_json::from_str(&std::fs::read_to_string(searched().join("selection.json")).unwrap())
        .unwrap()
}

/// A candidate's (or the provenance's) picks.
fn picks_of(c: &Value) -> Vec<usize> {
    c["picks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_u64().unwrap() as usize)
        .collect()
}

/// `derive --sample 3` of the search into `dir`/samples: arch_sample_{0,1,2}.json.
fn samples(dir: &Path) -> PathBuf {
    let samples = dir.join("samples");
    let o = dmasking(&[
        "derive",
        "--run",
        searched().to_str().unwrap(),
        "--sample",
        "3",
        "--out",
        samples.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    samples
}

#[test]
fn short_search_writes_a_valid_architecture_and_metrics() {
    let out = searched();
    let arch = searched_arch();
    assert_eq!(arch.num_classes, 10);
    let prov = arch.provenance.as_ref().unwrap();
    assert!(prov["exact_flops"].as_u64().unwrap() > 0);
    let epochs = epoch_lines(out);
    assert_eq!(epochs.len(), 2);
    for e in &epochs {
        assert!(e["expected_mflops"].as_f64().unwrap() > 0.0);
        let probs = e["probabilities"].as_object().unwrap();
        assert!(probs.contains_key("stage1.width"));
        for p in probs.values() {
            let s: f64 = p
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .sum();
            assert!((s - 1.0).abs() < 1e-4);
        }
    }
    // The picks recorded by the search derive its architecture.
    assert_eq!(plan().derive(&picks_of(prov)).unwrap().blocks, arch.blocks);
}

/// The derived network was selected among distinct candidates, the argmax first: the best
/// one-shot score wins, and every sample lies within ±5 % of the argmax's FLOPs (no
/// budget: the band is centred on the argmax).
#[test]
fn short_search_chooses_the_best_of_distinct_candidates_near_the_argmax() {
    let (arch, plan, sel) = (searched_arch(), plan(), selection());
    let cands = sel["candidates"].as_array().unwrap();
    assert!(cands.len() > 1, "{sel}");
    assert_eq!(cands[0]["source"], "argmax");
    let argmax_flops = cands[0]["flops"].as_f64().unwrap();
    let best = cands
        .iter()
        .map(|c| c["top1"].as_f64().unwrap())
        .fold(f64::MIN, f64::max);
    let chosen = &cands[sel["chosen"].as_u64().unwrap() as usize];
    assert_eq!(chosen["top1"].as_f64().unwrap(), best);
    assert_eq!(
        plan.derive(&picks_of(chosen)).unwrap().blocks,
        arch.blocks,
        "arch.json is the chosen candidate"
    );
    let mut keys = std::collections::BTreeSet::new();
    for c in cands {
        let net = plan.derive(&picks_of(c)).unwrap();
        assert!(
            keys.insert(net.network_key()),
            "candidates must be distinct"
        );
        let f = c["flops"].as_f64().unwrap();
        assert_eq!(
            f as u64,
            dmasking::cost::count(&net.layout().unwrap(), net.input_size).flops
        );
        assert!(
            (f / argmax_flops - 1.0).abs() <= 0.05,
            "{f} vs {argmax_flops}"
        );
    }
}

/// derive re-derives the argmax from the checkpoint; without --out it writes
/// RUN/argmax.json and leaves the search's arch.json.
#[test]
fn derive_writes_the_argmax_and_keeps_the_searchs_arch_json() {
    let out = searched();
    let sel = selection();
    let cands = sel["candidates"].as_array().unwrap();
    let dir = TempDir::create("derive");
    let derived = dir.join("derived.json");
    let o = dmasking(&[
        "derive",
        "--run",
        out.to_str().unwrap(),
        "--out",
        derived.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let again = Arch::load(&derived).unwrap();
    assert_eq!(
        again.blocks,
        plan().derive(&picks_of(&cands[0])).unwrap().blocks
    );
    // On a copy of the run, which the other tests read as the search left it.
    let run = dir.join("run");
    copy_dir(out, &run);
    let before = std::fs::read(run.join("arch.json")).unwrap();
    let o = dmasking(&["derive", "--run", run.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        Arch::load(&run.join("argmax.json")).unwrap().blocks,
        again.blocks
    );
    assert_eq!(std::fs::read(run.join("arch.json")).unwrap(), before);
}

/// `derive --run SEARCHED --select N --data MINI --out DIR/NAME.json EXTRA...` with N the
/// search's candidate count: the written architecture and selection.
fn reselect(dir: &Path, name: &str, extra: &[&str]) -> (Arch, Value) {
    let n = selection()["candidates"]
        .as_array()
        .unwrap()
        .len()
        .to_string();
    let out = dir.join(format!("{name}.json"));
    let mut args = vec![
        "derive",
        "--run",
        searched().to_str().unwrap(),
        "--select",
        &n,
        "--data",
    ];
    let data = repo_str("data/cifar10-mini");
    args.extend([data.as_str(), "--out", out.to_str().unwrap()]);
    args.extend(extra);
    let o = dmasking(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let sel = std::fs::read_to_string(dir.join(format!("{name}.selection.json"))).unwrap();
    (
        Arch::load(&out).unwrap(),
        serde_json::from_str(&sel).unwrap(),
    )
}

/// derive with --select makes the same selection as the search's.
#[test]
fn derive_select_repeats_the_searchs_selection() {
    let dir = TempDir::create("reselect");
    let (arch, resel) = reselect(&dir, "reselected", &[]);
    assert_eq!(arch.blocks, searched_arch().blocks);
    assert_eq!(resel["candidates"], selection()["candidates"]);
}

/// derive --select --select-by loss --select-images N: the same candidates (the same
/// draws), each scored on N held-out images, and the chosen one has the lowest one-shot
/// loss among them.
#[test]
fn derive_select_by_loss_on_other_images_chooses_the_lowest_loss() {
    let sel = selection();
    let cands = sel["candidates"].as_array().unwrap();
    let dir = TempDir::create("reselect-loss");
    let flags = [
        "--select-by",
        "loss",
        "--select-images",
        "7",
        "--select-calibration-images",
        "16",
    ];
    let (arch, resel) = reselect(&dir, "by-loss", &flags);
    assert_eq!(resel["select_by"], "loss");
    assert_eq!(resel["validation_images"], 7);
    assert_eq!(resel["calibration_images"], 16);
    let again = resel["candidates"].as_array().unwrap();
    let picks = |c: &[Value]| c.iter().map(picks_of).collect::<Vec<_>>();
    assert_eq!(picks(again), picks(cands));
    let losses: Vec<f64> = again.iter().map(|c| c["loss"].as_f64().unwrap()).collect();
    let chosen = resel["chosen"].as_u64().unwrap() as usize;
    assert!(losses.iter().all(|&l| l >= losses[chosen]), "{losses:?}");
    let se_chosen = again[chosen]["top1_se"].as_f64().unwrap();
    assert_eq!(again[chosen]["paired_se_to_chosen"].as_f64(), Some(0.0));
    for c in again {
        // Top-1 on 7 images: a whole number of them.
        let p = c["top1"].as_f64().unwrap();
        let k = p * 7.0;
        assert!((k - k.round()).abs() < 1e-9, "{k}");
        // Its standard error is the binomial one over those 7 images, √(p(1−p)/(n−1)).
        let se = c["top1_se"].as_f64().unwrap();
        assert!(
            (se - (p * (1.0 - p) / 6.0).sqrt()).abs() < 1e-6,
            "{se} at top-1 {p}"
        );
        // The paired error of the margin: some against a network right on a different
        // number of images, never more than the two errors summed.
        let paired = c["paired_se_to_chosen"].as_f64().unwrap();
        let top1_chosen = again[chosen]["top1"].as_f64().unwrap();
        if (p - top1_chosen).abs() > 1e-9 {
            assert!(
                paired > 0.0,
                "top-1 {p} vs {top1_chosen}, paired s.e. {paired}"
            );
        }
        assert!(
            paired <= se + se_chosen + 1e-9,
            "{paired} > {se} + {se_chosen}"
        );
    }
    assert_eq!(
        arch.blocks,
        plan().derive(&picks_of(&again[chosen])).unwrap().blocks
    );
}

#[test]
fn derive_samples_distinct_architectures() {
    let dir = TempDir::create("sample");
    let samples = samples(&dir);
    let sampled: Vec<Arch> = (0..3)
        .map(|k| Arch::load(&samples.join(format!("arch_sample_{k}.json"))).unwrap())
        .collect();
    for i in 0..3 {
        for j in 0..i {
            assert_ne!(
                sampled[i].blocks, sampled[j].blocks,
                "samples must be distinct"
            );
        }
    }
}

/// score: the supernet's one-shot accuracy of the argmax and a sample, one row each.
#[test]
fn score_rates_the_argmax_and_a_sample_one_row_each() {
    let out = searched();
    let arch = searched_arch();
    let prov = arch.provenance.as_ref().unwrap();
    let dir = TempDir::create("score");
    let arch_file = out.join("arch.json");
    let sample0 = samples(&dir).join("arch_sample_0.json");
    let o = dmasking(&[
        "score",
        "--run",
        out.to_str().unwrap(),
        "--data",
        &repo_str("data/cifar10-mini"),
        "--arch",
        arch_file.to_str().unwrap(),
        sample0.to_str().unwrap(),
        "--max-test-images",
        "100",
        "--calibration-images",
        "64",
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["flops"], prov["exact_flops"]);
    for r in &rows {
        assert_eq!(r["images"], 100);
        // A share of the 100 test images: a whole number of them.
        let correct = r["top1"].as_f64().unwrap() * 100.0;
        assert!((correct - correct.round()).abs() < 1e-9, "{correct}");
    }
}

/// A network outside the space: a clear error naming the file, exit 2.
#[test]
fn score_refuses_a_network_outside_the_space_with_exit_2() {
    let mut foreign = searched_arch();
    foreign.blocks[0].out = 24;
    let dir = TempDir::create("score-outside");
    let foreign_file = dir.join("foreign.json");
    std::fs::write(&foreign_file, foreign.to_json()).unwrap();
    let o = dmasking(&[
        "score",
        "--run",
        searched().to_str().unwrap(),
        "--data",
        &repo_str("data/cifar10-mini"),
        "--arch",
        foreign_file.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("not in search space") && err.contains("foreign.json"),
        "{err}"
    );
}

/// The report: one probability panel per choice, cost/loss curves, the arch table.
#[test]
fn search_report_plots_the_probabilities_and_curves_and_tables_the_arch() {
    let rep = TempDir::new("search-report");
    let o = dmasking(&[
        "report",
        "--run",
        searched().to_str().unwrap(),
        "--out",
        rep.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in ["probabilities", "mflops", "loss", "accuracy", "entropy"] {
        let png = std::fs::read(rep.join(format!("{f}.png"))).unwrap();
        assert_eq!(&png[..4], b"\x89PNG", "{f}.png");
    }
    let svg = std::fs::read_to_string(rep.join("probabilities.svg")).unwrap();
    assert!(svg.contains("stage1.width") && svg.contains("stage3.block2.op"));
    let md = std::fs::read_to_string(rep.join("report.md")).unwrap();
    let table_rows = md
        .lines()
        .filter(|l| l.starts_with("| ") && l.contains(" | ir | "))
        .count();
    let ir_blocks = searched_arch().blocks.len();
    assert_eq!(table_rows, ir_blocks, "{md}");
}

/// An existing run without --force: exit 2, nothing changed (a copy of the search's run).
#[test]
fn search_over_an_existing_run_without_force_exits_2_and_changes_nothing() {
    let out = TempDir::new("search-again");
    copy_dir(searched(), &out);
    let before = snapshot(&out);
    let again = dmasking(&[
        "search",
        "--space",
        &repo_str("configs/cifar10.json"),
        "--data",
        &repo_str("data/cifar10-mini"),
        "--out",
        out.to_str().unwrap(),
        "--epochs",
        "1",
    ]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    assert_eq!(before, snapshot(&out));
}

fn search_error(extra: &[&str], data: &str) -> String {
    let out = TempDir::new("bad");
    let mut args: Vec<String> = vec![
        "search".into(),
        "--space".into(),
        repo_str("configs/cifar10.json"),
        "--data".into(),
        data.into(),
        "--out".into(),
        out.display().to_string(),
        "--epochs".into(),
        "1".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = dmasking(&argv);
    assert_eq!(o.status.code(), Some(2), "{args:?}");
    let err = String::from_utf8(o.stderr).unwrap();
    // One error line (clap adds a usage hint below its own).
    assert_eq!(
        err.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{err}"
    );
    err
}

#[test]
fn bad_search_inputs_fail_with_exit_2() {
    let missing = search_error(&[], "/nonexistent/cifar");
    assert!(missing.contains("does not exist"), "{missing}");

    let dir = TempDir::create("trunc");
    for f in [
        "data_batch_1.bin",
        "data_batch_2.bin",
        "data_batch_3.bin",
        "data_batch_4.bin",
        "data_batch_5.bin",
    ] {
        std::fs::copy(repo(&format!("data/cifar10-mini/{f}")), dir.join(f)).unwrap();
    }
    let bytes = std::fs::read(dir.join("data_batch_3.bin")).unwrap();
    std::fs::write(dir.join("data_batch_3.bin"), &bytes[..bytes.len() - 100]).unwrap();
    let truncated = search_error(&[], dir.to_str().unwrap());
    assert!(
        truncated.contains("data_batch_3.bin") && truncated.contains("not a multiple"),
        "{truncated}"
    );
    std::fs::remove_file(dir.join("data_batch_5.bin")).unwrap();
    std::fs::write(dir.join("data_batch_3.bin"), &bytes).unwrap();
    let missing_file = search_error(&[], dir.to_str().unwrap());
    assert!(missing_file.contains("data_batch_5.bin"), "{missing_file}");

    // An output path that cannot be created (below a regular file).
    let blocker = TempDir::new("blocker");
    std::fs::write(&blocker, b"not a directory").unwrap();
    let o = dmasking(&[
        "search",
        "--space",
        &repo_str("configs/cifar10.json"),
        "--data",
        &repo_str("data/cifar10-mini"),
        "--out",
        blocker.join("run").to_str().unwrap(),
        "--epochs",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("blocker"));

    let loss = search_error(&["--loss", "magic"], &repo_str("data/cifar10-mini"));
    assert!(loss.contains("unknown loss mode"), "{loss}");

    let space = TempDir::create("space");
    let bad = space.join("s.json");
    std::fs::write(&bad, "{\"format\": \"dmasking-space/1\", \"stages\": 3}").unwrap();
    let o = dmasking(&[
        "search",
        "--space",
        bad.to_str().unwrap(),
        "--data",
        &repo_str("data/cifar10-mini"),
        "--out",
        space.join("r").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("$."));
}

fn search_args(out: &Path) -> Vec<String> {
    [
        "search",
        "--space",
        &repo_str("configs/cifar10.json"),
        "--data",
        &repo_str("data/cifar10-mini"),
        "--out",
        out.to_str().unwrap(),
        "--epochs",
        "3",
        "--warmup-epochs",
        "1",
        "--batch-size",
        "16",
        "--max-images",
        "320",
        "--seed",
        "5",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// A search with single-path weight steps (ours) records the setting and is reproducible
/// from its seed: two runs give the same architecture and the same weight losses; so do
/// the remedies (sandwich with full-width warm-up, bilateral), which train differently.
#[test]
fn single_path_search_is_reproducible() {
    let run = |name: &str, extra: &[&str]| {
        let out = TempDir::new(name);
        let mut args = search_args(&out);
        args.extend(extra.iter().map(|s| s.to_string()));
        let o = dmasking(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        out
    };
    let read = |d: &Path, f: &str| std::fs::read_to_string(d.join(f)).unwrap();
    let losses = |d: &Path| -> Vec<f64> {
        epoch_lines(d)
            .iter()
            .map(|v| v["weight_loss"].as_f64().unwrap())
            .collect()
    };
    let single = ["--weight-step", "single-path"];
    let (a, b) = (run("single-a", &single), run("single-b", &single));
    assert_eq!(read(&a, "arch.json"), read(&b, "arch.json"));
    let cfg: Value = serde_json::from_str(&read(&a, "config.json")).unwrap();
    assert_eq!(cfg["search"]["weight_step"], "single-path");
    assert_eq!(losses(&a).len(), 3);
    assert_eq!(losses(&a), losses(&b));
    // The remedies for the soft-mask bias are seeded too, and they change the training.
    let remedy = ["--weight-step", "sandwich", "--full-width-warmup", "0.5"];
    let (c, d) = (run("sandwich-a", &remedy), run("sandwich-b", &remedy));
    assert_eq!(read(&c, "arch.json"), read(&d, "arch.json"));
    assert_eq!(losses(&c), losses(&d));
    assert_ne!(losses(&c), losses(&a));
    let cfg: Value = serde_json::from_str(&read(&c, "config.json")).unwrap();
    assert_eq!(cfg["search"]["weight_step"], "sandwich");
    assert_eq!(cfg["search"]["full_width_warmup"], 0.5);
    // Bilateral steps (BCNet): the same sampled paths as single-path, trained on both
    // sides, so other weights and losses; seeded like the rest.
    let bilateral = ["--weight-step", "bilateral"];
    let (e, f) = (
        run("bilateral-a", &bilateral),
        run("bilateral-b", &bilateral),
    );
    assert_eq!(read(&e, "arch.json"), read(&f, "arch.json"));
    assert_eq!(losses(&e), losses(&f));
    assert_ne!(losses(&e), losses(&a));
    let cfg: Value = serde_json::from_str(&read(&e, "config.json")).unwrap();
    assert_eq!(cfg["search"]["weight_step"], "bilateral");
    let bad = TempDir::new("bad-warmup");
    let mut args = search_args(&bad);
    args.extend(["--full-width-warmup".to_string(), "1.5".to_string()]);
    let o = dmasking(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--full-width-warmup must be"));
}

/// SIGKILL between mid-epoch checkpoints (every 3 steps), then --resume from the last
/// one: the same arch.json as an uninterrupted run with the same settings.
#[test]
fn killed_search_resumes_to_the_same_architecture() {
    let with_checkpoints = |out: &Path| {
        let mut args = search_args(out);
        args.extend(["--checkpoint-steps".to_string(), "3".to_string()]);
        args
    };
    let whole = TempDir::new("whole");
    let o = command().args(with_checkpoints(&whole)).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // Killed at a mid-epoch checkpoint of the second epoch (architecture steps running).
    let killed = TempDir::new("killed");
    kill_in_the_second_epoch(with_checkpoints(&killed), &killed, Duration::from_secs(300));
    assert!(
        !killed.join("arch.json").exists(),
        "the run finished before it was killed"
    );
    let (_, batch) = checkpoint_position(&killed).unwrap();
    assert!(batch > 0, "the resume starts mid-epoch");

    let o = dmasking(&[
        "search",
        "--resume",
        "--data",
        &repo_str("data/cifar10-mini"),
        "--out",
        killed.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let a = std::fs::read_to_string(whole.join("arch.json")).unwrap();
    let b = std::fs::read_to_string(killed.join("arch.json")).unwrap();
    assert_eq!(a, b);
    // The resumed run's metrics have exactly one line per epoch, as the whole run's.
    let epochs = |d: &Path| {
        std::fs::read_to_string(d.join("metrics.jsonl"))
            .unwrap()
            .lines()
            .filter(|l| l.contains("\"kind\":\"epoch\""))
            .count()
    };
    assert_eq!(epochs(&whole), 3);
    assert_eq!(epochs(&killed), 3);
}

#[test]
fn random_architectures_are_distinct_valid_and_flop_matched() {
    let out = TempDir::new("random");
    // 6 MFLOPs lies in the bulk of the space (uniform draws land there); 2.6 MFLOPs is
    // near its smallest architecture (2.48), where only the random walk gets in.
    for (target, walk_needed) in [(6.0, false), (2.6, true)] {
        let o = dmasking(&[
            "random",
            "--space",
            &repo_str("configs/cifar10.json"),
            "--count",
            "4",
            "--match-mflops",
            &target.to_string(),
            "--tolerance",
            "0.05",
            "--seed",
            "2",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let mut blocks = Vec::new();
        let mut walked = 0;
        for k in 0..4 {
            let path = out.join(format!("random_{k}.json"));
            // Counted by the CLI from the file, independently of how it was drawn.
            let f = dmasking(&["flops", "--arch", path.to_str().unwrap(), "--json"]);
            assert!(f.status.success());
            let v: Value = serde_json::from_slice(&f.stdout).unwrap();
            let mflops = v["flops"].as_f64().unwrap() / 1e6;
            assert!(
                (mflops / target - 1.0).abs() <= 0.05,
                "random_{k}: {mflops} MFLOPs for {target}"
            );
            let arch = Arch::load(&path).unwrap();
            let method = &arch.provenance.as_ref().unwrap()["random"]["method"];
            assert!(method == "uniform" || method == "walk", "{method}");
            walked += usize::from(method == "walk");
            assert!(
                !blocks.contains(&arch.blocks),
                "random_{k} repeats an architecture"
            );
            blocks.push(arch.blocks);
        }
        assert_eq!(
            walked > 0,
            walk_needed,
            "{walked} of 4 from the walk at {target}"
        );
    }
    let o = dmasking(&[
        "random",
        "--space",
        &repo_str("configs/cifar10.json"),
        "--count",
        "2",
        "--match-mflops",
        "500",
        "--max-draws",
        "2000",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
}

/// In-place distillation's loss, checked against its definition computed on the host:
/// `H(p_t) + KL(p_t ‖ p_s)` averaged over the batch, and its gradient with respect to the
/// student's logits `(p_s − p_t) / batch`; the teacher gets no gradient.
#[test]
fn soft_cross_entropy_is_entropy_plus_kl_with_the_probability_gap_as_gradient() {
    use burn::tensor::{Tensor, TensorData};
    use dmasking::search::distill::soft_cross_entropy;
    let device = crate::util::plain_device().autodiff();
    let (batch, classes) = (3, 4);
    let s: Vec<f32> = (0..12).map(|i| ((i * 7 % 5) as f32 - 2.0) * 0.9).collect();
    let t: Vec<f32> = (0..12).map(|i| ((i * 3 % 7) as f32 - 3.0) * 0.6).collect();
    let data = |v: &Vec<f32>| TensorData::new(v.clone(), [batch, classes]);
    let student = Tensor::<2>::from_data(data(&s), &device).require_grad();
    let teacher = Tensor::<2>::from_data(data(&t), &device).require_grad();
    let loss = soft_cross_entropy(student.clone(), teacher.clone());
    let got = loss.clone().into_scalar::<f32>() as f64;
    let grads = loss.backward();
    let g = student
        .grad(&grads)
        .unwrap()
        .to_data()
        .try_to_vec::<f32>()
        .unwrap();
    assert!(
        teacher.grad(&grads).is_none(),
        "the teacher must get no gradient"
    );
    let probs = |row: &[f32]| {
        let m = row.iter().cloned().fold(f32::MIN, f32::max) as f64;
        let e: Vec<f64> = row.iter().map(|&v| (v as f64 - m).exp()).collect();
        let z: f64 = e.iter().sum();
        e.into_iter().map(|v| v / z).collect::<Vec<f64>>()
    };
    let mut want = 0.0;
    for b in 0..batch {
        let (ps, pt) = (probs(&s[b * 4..b * 4 + 4]), probs(&t[b * 4..b * 4 + 4]));
        let entropy: f64 = -pt.iter().map(|p| p * p.ln()).sum::<f64>();
        let kl: f64 = pt.iter().zip(&ps).map(|(p, q)| p * (p / q).ln()).sum();
        want += (entropy + kl) / batch as f64;
        for c in 0..classes {
            let expect = (ps[c] - pt[c]) / batch as f64;
            assert!(
                (g[b * 4 + c] as f64 - expect).abs() < 1e-6,
                "gradient [{b},{c}]"
            );
        }
    }
    assert!((got - want).abs() < 1e-5, "loss {got} against {want}");
}
