//! The library's entry points used from code: `Searcher` and `Trainer` with and without a
//! run directory, their observer callbacks and stop token, and a run directory made from
//! code that the CLI's `derive` and `--resume` accept.

use dmasking::prelude::*;
use dmasking::search::LossMode;

use crate::util::{TempDir, command, device_rng_alone, device_rng_shared, repo};

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
    // Runs that must reproduce each other: the device's random generator to themselves.
    let _rng = device_rng_alone();
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
    let dir = TempDir::new("lib-search");
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
    let o = command()
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
}

#[test]
fn a_stop_token_checkpoints_a_run_directory_and_resume_finishes_it() {
    // Runs that must reproduce each other: the device's random generator to themselves.
    let _rng = device_rng_alone();
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
    let dir = TempDir::new("lib-stop");
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
}

/// Stops the run through its token once `after` steps are done.
struct StopAfter {
    token: StopToken,
    steps: usize,
    after: usize,
}

impl Observer<SearchMetric> for &mut StopAfter {
    fn on_step(&mut self) {
        self.steps += 1;
        if self.steps == self.after {
            self.token.stop();
        }
    }
}

/// Stopped from code in the middle of its second epoch (after real weight and
/// architecture steps) and resumed from code, a search derives the same network as an
/// uninterrupted one: every field (input size, stem, blocks, head), and the same
/// selection's candidates and scores.
#[test]
fn a_search_stopped_after_real_steps_resumes_to_the_whole_architecture() {
    let _rng = device_rng_alone();
    let (space, train, cfg) = setup();
    let dir = TempDir::new("lib-stop-later");
    let mut stop = StopAfter {
        token: StopToken::new(),
        steps: 0,
        after: 11,
    };
    let err = Searcher::new(space.clone(), cfg.clone(), &Device::default())
        .run_dir(RunDir::create(&dir, false).unwrap())
        .stop_token(stop.token.clone())
        .observer(&mut stop)
        .run(&train)
        .unwrap_err();
    assert!(matches!(err, Error::Interrupted(_)), "{err}");
    let progress: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("checkpoint/progress.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        progress["epoch"], 1,
        "stopped in the second epoch: {progress}"
    );
    assert!(progress["batch"].as_u64().unwrap() > 0, "{progress}");
    let resumed = Searcher::resume(RunDir::open(&dir).unwrap(), &Device::default())
        .unwrap()
        .run(&train)
        .unwrap();
    let whole_dir = TempDir::new("lib-whole");
    let whole = Searcher::new(space, cfg, &Device::default())
        .run_dir(RunDir::create(&whole_dir, false).unwrap())
        .run(&train)
        .unwrap();
    assert_eq!(resumed.arch.network_key(), whole.arch.network_key());
    assert_eq!(resumed.arch.input_size, whole.arch.input_size);
    let selection = |d: &std::path::Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(d.join("selection.json")).unwrap()).unwrap()
    };
    assert_eq!(selection(&dir), selection(&whole_dir));
}

#[test]
fn bad_settings_and_data_are_typed_errors_before_anything_is_written() {
    // Runs that must reproduce each other: the device's random generator to themselves.
    let _rng = device_rng_alone();
    let (space, train, cfg) = setup();
    let dir = TempDir::new("lib-bad");
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
    let err = Searcher::new(space.clone(), cfg.clone(), &Device::default())
        .run(&small)
        .unwrap_err();
    assert!(matches!(err, Error::Data(_)), "{err}");
    // Forced over an old run, bad data leaves the old run as it was.
    let old = TempDir::create("lib-forced");
    std::fs::write(old.join("config.json"), "{\"old\": true}").unwrap();
    std::fs::write(old.join("metrics.jsonl"), "{}\n").unwrap();
    let err = Searcher::new(space, cfg, &Device::default())
        .run_dir(RunDir::create(&old, true).unwrap())
        .run(&small)
        .unwrap_err();
    assert!(matches!(err, Error::Data(_)), "{err}");
    assert_eq!(
        std::fs::read_to_string(old.join("config.json")).unwrap(),
        "{\"old\": true}"
    );
    assert!(old.join("metrics.jsonl").exists());
    let recipe = TrainConfig {
        validation_fraction: 1.0,
        ..TrainConfig::default()
    };
    assert!(matches!(recipe.validate(), Err(Error::Config(_))));
}

#[test]
fn run_directories_of_the_previous_version_resume_with_their_old_behaviour() {
    let (space, _, cfg) = setup();
    let dir = TempDir::new("lib-old");
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
        transform: None,
    })
    .unwrap();
    v["train"]
        .as_object_mut()
        .unwrap()
        .remove("validation_fraction");
    run.write_config(&v).unwrap();
    let read = dmasking::train::TrainRunConfig::read(&run).unwrap();
    assert_eq!(read.train.validation_fraction, 0.0);
}

/// A user's own data: 16x16 images generated on demand (horizontal stripes whose period
/// is the class, shifted per image), never held as an `ImageSet`.
#[derive(Clone)]
struct Stripes {
    n: usize,
    classes: Vec<String>,
    transform: Transform,
    /// An image that cannot be read.
    broken: Option<usize>,
}

impl Stripes {
    fn pixel(i: usize, c: usize, y: usize, x: usize) -> u8 {
        let period = 2 + i % 3;
        let on = (y + i / 3).is_multiple_of(period);
        (if on { 200 } else { 40 } + 7 * c + (x * 13 + i) % 11) as u8
    }
}

impl ImageData for Stripes {
    fn len(&self) -> usize {
        self.n
    }
    fn shape(&self) -> [usize; 3] {
        [3, 16, 16]
    }
    fn classes(&self) -> &[String] {
        &self.classes
    }
    fn label(&self, i: usize) -> usize {
        i % 3
    }
    fn read(&self, i: usize, out: &mut [u8]) -> dmasking::Result<()> {
        if self.broken == Some(i) {
            return Err(Error::Data(format!("image {i}: unreadable")));
        }
        for (k, v) in out.iter_mut().enumerate() {
            *v = Self::pixel(i, k / 256, (k / 16) % 16, k % 16);
        }
        Ok(())
    }
    fn transform(&self) -> &Transform {
        &self.transform
    }
}

/// The loops read any `ImageData`: a search and a training run on generated data give
/// exactly what they give on the same images held in memory, and an image that cannot
/// be read ends the run with that image's error.
#[test]
fn your_own_image_data_searches_and_trains_as_the_same_images_in_memory() {
    // Runs that must reproduce each other: the device's random generator to themselves.
    let _rng = device_rng_alone();
    let space = Space::load(&repo("configs/cifar10_tiny.json")).unwrap();
    let n = 120;
    let classes: Vec<String> = ["two", "three", "four"].map(String::from).into();
    let mut pixels = vec![0u8; n * 3 * 256];
    let mut own = Stripes {
        n,
        classes: classes.clone(),
        transform: Transform::cifar10(),
        broken: None,
    };
    for (i, img) in pixels.chunks_mut(3 * 256).enumerate() {
        own.read(i, img).unwrap();
    }
    let labels = (0..n).map(|i| (i % 3) as u32).collect();
    let in_memory = ImageSet::new(3, 16, pixels, labels, classes).unwrap();
    own.transform = in_memory.transform.clone();
    let cfg = SearchConfig {
        epochs: 2,
        batch_size: 16,
        loss: LossMode::Additive,
        select_candidates: 2,
        select_images: 40,
        select_calibration_images: 32,
        ..SearchConfig::default()
    };
    let search = |data: &dyn Fn(Searcher) -> dmasking::Result<SearchOutcome>| {
        data(Searcher::new(
            space.clone(),
            cfg.clone(),
            &Device::default(),
        ))
        .unwrap()
    };
    let a = search(&|s| s.run(&own));
    let b = search(&|s| s.run(&in_memory));
    assert_eq!(a.picks, b.picks);
    assert_eq!(a.probabilities, b.probabilities);
    let recipe = TrainConfig {
        epochs: 1,
        batch_size: 16,
        validation_fraction: 0.2,
        ..TrainConfig::default()
    };
    let train = |arch: &Arch, data: &dyn Fn(Trainer) -> dmasking::Result<TrainOutcome>| {
        data(Trainer::new(
            arch.clone(),
            recipe.clone(),
            &Device::default(),
        ))
        .unwrap()
    };
    let ta = train(&a.arch, &|t| t.run(&own, &own));
    let tb = train(&a.arch, &|t| t.run(&in_memory, &in_memory));
    assert_eq!(ta.last, tb.last);
    assert_eq!(ta.best_val_top1, tb.best_val_top1);
    let broken = Stripes {
        broken: Some(37),
        ..own
    };
    let err = Searcher::new(space, cfg, &Device::default())
        .run(&broken)
        .unwrap_err();
    assert!(
        matches!(&err, Error::Data(m) if m.contains("image 37")),
        "{err}"
    );
}

/// Evaluating a network with fewer outputs than the data has classes is an error naming
/// both, not a panic.
#[test]
fn evaluation_rejects_labels_the_network_cannot_output() {
    let _rng = device_rng_shared();
    let arch = Arch::from_json(
        &std::fs::read_to_string(repo("tests/fixtures/fbnet_small/arch.json"))
            .unwrap()
            .replace(r#""num_classes": 10"#, r#""num_classes": 2"#),
    )
    .unwrap();
    let net = dmasking::nn::FixedNet::new(&arch, &Device::default()).unwrap();
    let test = load(&repo("data/cifar10-mini"), Split::Test).unwrap();
    let err = dmasking::eval::evaluate(&net, &test, 100, arch.input_size)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("the data has 10 classes and the network 2 outputs"),
        "{err}"
    );
}
