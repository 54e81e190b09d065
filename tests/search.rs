//! The search CLI on real CIFAR-10 records: a short run and its run directory, and the
//! clear errors (exit code 2) that leave an existing run untouched.

use std::path::{Path, PathBuf};
use std::process::Command;

use dmasking::arch::Arch;
use serde_json::Value;

fn dmasking(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dmasking"))
        .args(args)
        .output()
        .unwrap()
}

fn repo(p: &str) -> String {
    format!("{}/{p}", env!("CARGO_MANIFEST_DIR"))
}

fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("dmasking-{name}-{}", std::process::id()));
    std::fs::remove_dir_all(&d).ok();
    d
}

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

#[test]
fn short_search_writes_a_valid_architecture_and_metrics() {
    let out = temp("search");
    let o = dmasking(&[
        "search",
        "--space",
        &repo("configs/cifar10.json"),
        "--data",
        &repo("data/cifar10-mini"),
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
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let arch = Arch::load(&out.join("arch.json")).unwrap();
    assert_eq!(arch.num_classes, 10);
    let prov = arch.provenance.as_ref().unwrap();
    assert!(prov["exact_flops"].as_u64().unwrap() > 0);
    let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    let epochs: Vec<Value> = metrics
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["kind"] == "epoch")
        .collect();
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

    // The derived network was selected among distinct candidates, the argmax first: the
    // best one-shot score wins, and every sample lies within ±5 % of the argmax's FLOPs
    // (no budget: the band is centred on the argmax).
    let plan = dmasking::supernet::Plan::new(
        &dmasking::space::Space::load(Path::new(&repo("configs/cifar10.json"))).unwrap(),
    );
    let sel: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("selection.json")).unwrap())
            .unwrap();
    let cands = sel["candidates"].as_array().unwrap();
    let picks_of = |c: &Value| -> Vec<usize> {
        c["picks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_u64().unwrap() as usize)
            .collect()
    };
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

    // derive re-derives the argmax from the checkpoint, and with --select the same
    // selection as the search's.
    let derived = out.join("derived.json");
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
        plan.derive(&picks_of(&cands[0])).unwrap().blocks
    );
    // Without --out, derive writes RUN/argmax.json and leaves the search's arch.json.
    let before = std::fs::read(out.join("arch.json")).unwrap();
    let o = dmasking(&["derive", "--run", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        Arch::load(&out.join("argmax.json")).unwrap().blocks,
        again.blocks
    );
    assert_eq!(std::fs::read(out.join("arch.json")).unwrap(), before);
    let reselected = out.join("reselected.json");
    let o = dmasking(&[
        "derive",
        "--run",
        out.to_str().unwrap(),
        "--select",
        &cands.len().to_string(),
        "--data",
        &repo("data/cifar10-mini"),
        "--out",
        reselected.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(Arch::load(&reselected).unwrap().blocks, arch.blocks);
    let resel: Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("reselected.selection.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(resel["candidates"], sel["candidates"]);
    let samples = out.join("samples");
    let o = dmasking(&[
        "derive",
        "--run",
        out.to_str().unwrap(),
        "--sample",
        "3",
        "--out",
        samples.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
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
    // The picks recorded by the search derive its architecture.
    assert_eq!(plan.derive(&picks_of(prov)).unwrap().blocks, arch.blocks);

    // score: the supernet's one-shot accuracy of the argmax and a sample, one row each.
    let arch_file = out.join("arch.json");
    let sample0 = samples.join("arch_sample_0.json");
    let o = dmasking(&[
        "score",
        "--run",
        out.to_str().unwrap(),
        "--data",
        &repo("data/cifar10-mini"),
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
        let top1 = r["top1"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&top1), "{top1}");
    }
    // A network outside the space: a clear error naming the file, exit 2.
    let mut foreign = arch.clone();
    foreign.blocks[0].out = 24;
    let foreign_file = out.join("foreign.json");
    std::fs::write(&foreign_file, foreign.to_json()).unwrap();
    let o = dmasking(&[
        "score",
        "--run",
        out.to_str().unwrap(),
        "--data",
        &repo("data/cifar10-mini"),
        "--arch",
        foreign_file.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("not in search space") && err.contains("foreign.json"),
        "{err}"
    );
    std::fs::remove_file(&foreign_file).unwrap();
    std::fs::remove_file(&derived).unwrap();
    std::fs::remove_dir_all(&samples).unwrap();

    // The report: one probability panel per choice, cost/loss curves, the arch table.
    let rep = std::env::temp_dir().join(format!("dmasking-search-report-{}", std::process::id()));
    let o = dmasking(&[
        "report",
        "--run",
        out.to_str().unwrap(),
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
    let ir_blocks = arch.blocks.len();
    assert_eq!(table_rows, ir_blocks, "{md}");
    std::fs::remove_dir_all(&rep).ok();

    // An existing run without --force: exit 2, nothing changed.
    let before = snapshot(&out);
    let again = dmasking(&[
        "search",
        "--space",
        &repo("configs/cifar10.json"),
        "--data",
        &repo("data/cifar10-mini"),
        "--out",
        out.to_str().unwrap(),
        "--epochs",
        "1",
    ]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    assert_eq!(before, snapshot(&out));
    std::fs::remove_dir_all(&out).ok();
}

fn search_error(extra: &[&str], data: &str) -> String {
    let out = temp("bad");
    let mut args: Vec<String> = vec![
        "search".into(),
        "--space".into(),
        repo("configs/cifar10.json"),
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

    let dir = temp("trunc");
    std::fs::create_dir_all(&dir).unwrap();
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
    let blocker = temp("blocker");
    std::fs::write(&blocker, b"not a directory").unwrap();
    let o = dmasking(&[
        "search",
        "--space",
        &repo("configs/cifar10.json"),
        "--data",
        &repo("data/cifar10-mini"),
        "--out",
        blocker.join("run").to_str().unwrap(),
        "--epochs",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("blocker"));
    std::fs::remove_file(&blocker).ok();

    let loss = search_error(&["--loss", "magic"], &repo("data/cifar10-mini"));
    assert!(loss.contains("unknown loss mode"), "{loss}");

    let space = temp("space");
    std::fs::create_dir_all(&space).unwrap();
    let bad = space.join("s.json");
    std::fs::write(&bad, "{\"format\": \"dmasking-space/1\", \"stages\": 3}").unwrap();
    let o = dmasking(&[
        "search",
        "--space",
        bad.to_str().unwrap(),
        "--data",
        &repo("data/cifar10-mini"),
        "--out",
        space.join("r").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("$."));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::remove_dir_all(&space).ok();
}

fn search_args(out: &Path) -> Vec<String> {
    [
        "search",
        "--space",
        &repo("configs/cifar10.json"),
        "--data",
        &repo("data/cifar10-mini"),
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
/// from its seed: two runs give the same architecture and the same weight losses.
#[test]
fn single_path_search_is_reproducible() {
    let run = |name: &str, extra: &[&str]| {
        let out = temp(name);
        let mut args = search_args(&out);
        args.extend(extra.iter().map(|s| s.to_string()));
        let o = dmasking(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        out
    };
    let read = |d: &Path, f: &str| std::fs::read_to_string(d.join(f)).unwrap();
    let losses = |d: &Path| -> Vec<f64> {
        read(d, "metrics.jsonl")
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|v| v["kind"] == "epoch")
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
    for dir in [a, b, c, d] {
        std::fs::remove_dir_all(&dir).ok();
    }
    let bad = temp("bad-warmup");
    let mut args = search_args(&bad);
    args.extend(["--full-width-warmup".to_string(), "1.5".to_string()]);
    let o = dmasking(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--full-width-warmup must be"));
}

/// Where a run's newest checkpoint stands: (epoch, batches done in it), once readable.
fn checkpoint_position(run: &Path) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(run.join("checkpoint/progress.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    Some((v["epoch"].as_u64()?, v["batch"].as_u64()?))
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
    let whole = temp("whole");
    let o = Command::new(env!("CARGO_BIN_EXE_dmasking"))
        .args(with_checkpoints(&whole))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let killed = temp("killed");
    let args = with_checkpoints(&killed);
    let mut child = Command::new(env!("CARGO_BIN_EXE_dmasking"))
        .args(&args)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait for a mid-epoch checkpoint of the second epoch (architecture steps running),
    // then kill.
    let t0 = std::time::Instant::now();
    while !checkpoint_position(&killed).is_some_and(|(e, b)| e >= 1 && b > 0) {
        assert!(
            t0.elapsed().as_secs() < 300,
            "no mid-epoch checkpoint appeared"
        );
        assert!(child.try_wait().unwrap().is_none(), "the run ended first");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
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
        &repo("data/cifar10-mini"),
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
    std::fs::remove_dir_all(&whole).ok();
    std::fs::remove_dir_all(&killed).ok();
}

#[test]
fn random_architectures_are_distinct_valid_and_flop_matched() {
    let out = temp("random");
    // 6 MFLOPs lies in the bulk of the space (uniform draws land there); 2.6 MFLOPs is
    // near its smallest architecture (2.48), where only the random walk gets in.
    for (target, walk_needed) in [(6.0, false), (2.6, true)] {
        let o = dmasking(&[
            "random",
            "--space",
            &repo("configs/cifar10.json"),
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
        &repo("configs/cifar10.json"),
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
    std::fs::remove_dir_all(&out).ok();
}
