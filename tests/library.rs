//! The library's entry points used from code: `Searcher` and `Trainer` with and without a
//! run directory, their observer callbacks and stop token, and a run directory made from
//! code that the CLI's `derive` and `--resume` accept.

use std::path::{Path, PathBuf};

use dmasking::prelude::*;
use dmasking::search::LossMode;

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("dmasking-lib-{name}-{}", std::process::id()));
    std::fs::remove_dir_all(&d).ok();
    d
}

/// Burn seeds one random generator per device, shared by every run in the process:
/// runs that must be reproducible take turns (the tests of this file run on threads).
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn setup() -> (Space, ImageSet, SearchConfig) {
    // The tiny test space at CIFAR's 32x32.
    let text = std::fs::read_to_string(repo("configs/cifar10_tiny.json")).unwrap();
    let text = text
        .replace("\"input_size\": 16", "\"input_size\": 32")
        .replace("[16, 12]", "[32, 24]");
    let space = Space::from_json(&text).unwrap();
    assert_eq!(space.input_size, 32);
    let data = load(&repo("data/cifar10-mini"), Split::Train).unwrap();
    let cfg = SearchConfig {
        epochs: 2,
        batch_size: 16,
        log_every: 2,
        loss: LossMode::Additive,
        select_candidates: 3,
        ..SearchConfig::default()
    };
    (space, data.train_subset(160, 0), cfg)
}

/// Counts what the observer is told.
#[derive(Default)]
struct Counts {
    starts: usize,
    epoch_starts: usize,
    steps: usize,
    step_lines: usize,
    epoch_lines: Vec<usize>,
    stops: usize,
}

impl Observer<SearchMetric> for &mut Counts {
    fn on_start(&mut self, _: Option<(usize, usize)>) {
        self.starts += 1;
    }
    fn on_epoch_start(&mut self, _: usize, _: usize, _: usize, _: usize) {
        self.epoch_starts += 1;
    }
    fn on_step(&mut self) {
        self.steps += 1;
    }
    fn on_metrics(&mut self, line: &SearchMetric) {
        match line {
            SearchMetric::Step(_) => self.step_lines += 1,
            SearchMetric::Epoch(e) => self.epoch_lines.push(e.epoch),
        }
    }
    fn on_stop(&mut self) {
        self.stops += 1;
    }
}

#[test]
fn a_search_from_code_reports_to_its_observer_and_needs_no_run_directory() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (space, train, cfg) = setup();
    let mut counts = Counts::default();
    let out = Searcher::new(space.clone(), cfg.clone(), &Device::default())
        .observer(&mut counts)
        .run(&train)
        .unwrap();
    // 160 images, 80 % for weights: 128 / 16 = 8 weight steps per epoch.
    assert_eq!(
        (counts.starts, counts.epoch_starts, counts.steps),
        (1, 2, 16)
    );
    assert_eq!(counts.step_lines, 8);
    assert_eq!(counts.epoch_lines, vec![0, 1]);
    assert_eq!(counts.stops, 0);
    // The outcome is typed and self-consistent.
    let plan = dmasking::supernet::Plan::new(&space);
    assert_eq!(plan.derive(&out.picks).unwrap().blocks, out.arch.blocks);
    assert_eq!(out.probabilities.len(), plan.choices.len());
    assert_eq!(
        out.exact_flops,
        count(&out.arch.layout().unwrap(), out.arch.input_size).flops
    );
    assert!(out.selection.is_some());

    // The same search with a run directory gives the same network and writes what the
    // CLI's runs hold, so `derive` works on it.
    let dir = temp("search");
    let with_dir = Searcher::new(space, cfg, &Device::default())
        .run_dir(RunDir::create(&dir, false).unwrap())
        .run(&train)
        .unwrap();
    assert_eq!(with_dir.arch.blocks, out.arch.blocks);
    for f in [
        "config.json",
        "metrics.jsonl",
        "arch.json",
        "selection.json",
        "checkpoint",
    ] {
        assert!(dir.join(f).exists(), "{f}");
    }
    let derived = dir.join("argmax.json");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_dmasking"))
        .args([
            "derive",
            "--run",
            dir.to_str().unwrap(),
            "--out",
            derived.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_stop_token_checkpoints_a_run_directory_and_resume_finishes_it() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (space, train, cfg) = setup();
    let stop = StopToken::new();
    stop.stop();
    // Without a run directory there is nothing to save.
    let mut counts = Counts::default();
    let err = Searcher::new(space.clone(), cfg.clone(), &Device::default())
        .stop_token(stop.clone())
        .observer(&mut counts)
        .run(&train)
        .unwrap_err();
    assert!(matches!(err, Error::Stopped), "{err}");
    assert_eq!(counts.stops, 1);
    // With one, a checkpoint at the first step, and a resume from code finishes the run
    // with the network of an uninterrupted one.
    let dir = temp("stop");
    let err = Searcher::new(space.clone(), cfg.clone(), &Device::default())
        .run_dir(RunDir::create(&dir, false).unwrap())
        .stop_token(stop)
        .run(&train)
        .unwrap_err();
    assert!(matches!(err, Error::Interrupted(_)), "{err}");
    assert!(dir.join("checkpoint/progress.json").exists());
    let resumed = Searcher::resume(RunDir::open(&dir).unwrap(), &Device::default())
        .unwrap()
        .run(&train)
        .unwrap();
    let whole = Searcher::new(space, cfg, &Device::default())
        .run(&train)
        .unwrap();
    assert_eq!(resumed.arch.blocks, whole.arch.blocks);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_settings_and_data_are_typed_errors_before_anything_is_written() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (space, train, cfg) = setup();
    let dir = temp("bad");
    let bad = SearchConfig {
        batch_size: 0,
        ..cfg.clone()
    };
    let err = Searcher::new(space.clone(), bad, &Device::default())
        .run_dir(RunDir::create(&dir, false).unwrap())
        .run(&train)
        .unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err}");
    assert!(!dir.join("config.json").exists());
    let mut small = train.clone();
    small.size = 16;
    small.pixels.truncate(small.len() * 3 * 16 * 16);
    let err = Searcher::new(space, cfg, &Device::default())
        .run(&small)
        .unwrap_err();
    assert!(matches!(err, Error::Data(_)), "{err}");
    let recipe = TrainConfig {
        validation_fraction: 1.0,
        ..TrainConfig::default()
    };
    assert!(matches!(recipe.validate(), Err(Error::Config(_))));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn run_directories_of_the_previous_version_resume_with_their_old_behaviour() {
    let (space, _, cfg) = setup();
    let dir = temp("old");
    let run = RunDir::create(&dir, false).unwrap();
    // A search config.json written before the selection existed: no select_* fields.
    let mut v = serde_json::to_value(dmasking::search::RunConfig { space, search: cfg }).unwrap();
    let search = v["search"].as_object_mut().unwrap();
    for f in [
        "select_candidates",
        "select_images",
        "select_calibration_images",
    ] {
        search.remove(f);
    }
    run.write_config(&v).unwrap();
    let read = dmasking::search::RunConfig::read(&run).unwrap();
    assert_eq!(
        read.search.select_candidates, 0,
        "ends with the argmax, as it began"
    );
    // A training config.json written before the validation split continues without one.
    let arch =
        Arch::from_json(&std::fs::read_to_string(repo("zoo/fbnetv2_f1.json")).unwrap()).unwrap();
    let mut v = serde_json::to_value(dmasking::train::TrainRunConfig {
        arch,
        train: TrainConfig::default(),
    })
    .unwrap();
    v["train"]
        .as_object_mut()
        .unwrap()
        .remove("validation_fraction");
    run.write_config(&v).unwrap();
    let read = dmasking::train::TrainRunConfig::read(&run).unwrap();
    assert_eq!(read.train.validation_fraction, 0.0);
    std::fs::remove_dir_all(&dir).ok();
}
