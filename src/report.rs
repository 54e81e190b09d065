//! `dmasking report`: plots of a run (SVG and PNG) and a page that puts them together
//! (`index.html` and `report.md`) with the architecture drawn as a table of blocks.
//!
//! A search run gets the probabilities of every choice per epoch (one panel per choice),
//! the expected and argmax MFLOPs, the losses, the accuracies and the mean entropy; a
//! training run gets its loss, accuracy and learning-rate curves and, when `eval.json`
//! exists, the per-class accuracy.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::arch::{Arch, BlockLayout};
use crate::error::{Error, Result};
use crate::plot::{Panel, Series, panels};
use crate::run::{RunDir, RunKind};
use crate::search::{SearchEpoch, SearchMetric, SearchStep};
use crate::supernet::Plan;
use crate::train::{TrainEpoch, TrainMetric, TrainStep};

/// The lines of a run's `metrics.jsonl` as the loop wrote them (`SearchMetric` or
/// `TrainMetric`); a malformed line is an error naming it.
pub fn read_metrics<M: serde::de::DeserializeOwned>(run: &RunDir) -> Result<Vec<M>> {
    let path = run.path.join("metrics.jsonl");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| {
                Error::Data(format!("{}:{}: malformed line: {e}", path.display(), i + 1))
            })
        })
        .collect()
}

/// (x, y) points of `f` over `lines` (lines where `f` gives no value are skipped).
fn points<T>(lines: &[&T], f: impl Fn(&T) -> (usize, Option<f64>)) -> Vec<(f64, f64)> {
    lines
        .iter()
        .filter_map(|l| {
            let (x, y) = f(l);
            Some((x as f64, y?))
        })
        .collect()
}

/// A search's step and epoch lines.
fn search_lines(lines: &[SearchMetric]) -> (Vec<&SearchStep>, Vec<&SearchEpoch>) {
    let steps = lines
        .iter()
        .filter_map(|l| match l {
            SearchMetric::Step(s) => Some(s),
            _ => None,
        })
        .collect();
    let epochs = lines
        .iter()
        .filter_map(|l| match l {
            SearchMetric::Epoch(e) => Some(e),
            _ => None,
        })
        .collect();
    (steps, epochs)
}

/// A training run's step and epoch lines.
fn train_lines(lines: &[TrainMetric]) -> (Vec<&TrainStep>, Vec<&TrainEpoch>) {
    let steps = lines
        .iter()
        .filter_map(|l| match l {
            TrainMetric::Step(s) => Some(s),
            _ => None,
        })
        .collect();
    let epochs = lines
        .iter()
        .filter_map(|l| match l {
            TrainMetric::Epoch(e) => Some(e),
            _ => None,
        })
        .collect();
    (steps, epochs)
}

fn series(name: &str, points: Vec<(f64, f64)>) -> Option<Series> {
    (!points.is_empty()).then(|| Series {
        name: name.into(),
        points,
    })
}

fn panel(title: &str, x: &str, y: &str, series: Vec<Option<Series>>) -> Option<Panel> {
    let series: Vec<Series> = series.into_iter().flatten().collect();
    (!series.is_empty()).then(|| Panel {
        title: title.into(),
        x_label: x.into(),
        y_label: y.into(),
        series,
        y_range: None,
        markers_only: false,
    })
}

/// A figure written as `name.svg` and `name.png`.
struct Figure {
    name: String,
    caption: String,
}

fn write_figure(
    out: &Path,
    name: &str,
    caption: &str,
    ps: &[Panel],
    cols: usize,
    figures: &mut Vec<Figure>,
) -> Result<()> {
    if ps.is_empty() {
        return Ok(());
    }
    let rows = ps.len().div_ceil(cols) as u32;
    let size = if ps.len() == 1 {
        (760, 440)
    } else {
        (330 * cols as u32, 250 * rows + 40)
    };
    let title = (ps.len() > 1).then_some(caption);
    for ext in ["svg", "png"] {
        panels(&out.join(format!("{name}.{ext}")), title, ps, cols, size)?;
    }
    figures.push(Figure {
        name: name.into(),
        caption: caption.into(),
    });
    Ok(())
}

/// A one-panel figure named `name` (nothing when every series is empty).
fn chart(
    out: &Path,
    name: &str,
    caption: &str,
    x: &str,
    y: &str,
    series: Vec<Option<Series>>,
    figs: &mut Vec<Figure>,
) -> Result<()> {
    let ps: Vec<Panel> = panel(name, x, y, series).into_iter().collect();
    write_figure(out, name, caption, &ps, 1, figs)
}

/// One panel per choice of `plan`: each option's probability after every epoch (a choice
/// with no probabilities logged gets no panel).
fn probability_panels(plan: &Plan, epochs: &[&SearchEpoch]) -> Vec<Panel> {
    plan.choices
        .iter()
        .filter_map(|c| {
            let s = c
                .options
                .iter()
                .enumerate()
                .map(|(i, label)| Series {
                    name: label.clone(),
                    points: epochs
                        .iter()
                        .filter_map(|e| {
                            Some((
                                e.epoch as f64 + 1.0,
                                e.probabilities.get(&c.name)?[i].as_f64()?,
                            ))
                        })
                        .collect(),
                })
                .filter(|s| !s.points.is_empty())
                .collect::<Vec<_>>();
            (!s.is_empty()).then(|| Panel {
                title: c.name.clone(),
                x_label: "epoch".into(),
                y_label: "probability".into(),
                series: s,
                y_range: Some((0.0, 1.0)),
                markers_only: false,
            })
        })
        .collect()
}

/// The per-step curves of a search (`mflops`, `loss`, `accuracy`), each with its
/// epoch-end values.
fn search_curves(
    steps: &[&SearchStep],
    epochs: &[&SearchEpoch],
    out: &Path,
    figs: &mut Vec<Figure>,
) -> Result<()> {
    let step = |f: fn(&SearchStep) -> Option<f64>| points(steps, |s| (s.step, f(s)));
    let at_epoch_end = |f: fn(&SearchEpoch) -> Option<f64>| points(epochs, |e| (e.step, f(e)));
    let charts = [
        (
            "mflops",
            "Expected MFLOPs (softmax of the logits) and the argmax architecture's exact MFLOPs",
            "MFLOPs",
            vec![
                series("expected", step(|s| Some(s.expected_mflops))),
                series(
                    "expected (epoch end)",
                    at_epoch_end(|e| Some(e.expected_mflops)),
                ),
                series("argmax", at_epoch_end(|e| Some(e.argmax_mflops))),
            ],
        ),
        (
            "loss",
            "Cross-entropy of the weight and architecture steps",
            "cross-entropy",
            vec![
                series("weight step", step(|s| s.weight_loss)),
                series("weight step (epoch)", at_epoch_end(|e| e.weight_loss)),
                series("architecture step", step(|s| s.arch_loss)),
            ],
        ),
        (
            "accuracy",
            "Training accuracy of the weight and architecture steps",
            "accuracy",
            vec![
                series("weight step", step(|s| s.weight_acc)),
                series("weight step (epoch)", at_epoch_end(|e| e.weight_acc)),
                series("architecture step", step(|s| s.arch_acc)),
            ],
        ),
    ];
    for (name, caption, y, s) in charts {
        chart(out, name, caption, "step", y, s, figs)?;
    }
    Ok(())
}

/// The figures of a search run: the probabilities per choice, the per-step curves and
/// the mean entropy per epoch.
fn search_figures(run: &RunDir, lines: &[SearchMetric], out: &Path) -> Result<Vec<Figure>> {
    let cfg = crate::search::RunConfig::read(run)?;
    let plan = Plan::new(&cfg.space);
    let mut figs = Vec::new();
    let (steps, epochs) = search_lines(lines);
    write_figure(
        out,
        "probabilities",
        "Probability of every option, per choice, after each epoch",
        &probability_panels(&plan, &epochs),
        4,
        &mut figs,
    )?;
    search_curves(&steps, &epochs, out, &mut figs)?;
    let entropy = points(&epochs, |e| (e.epoch + 1, Some(e.mean_entropy)));
    chart(
        out,
        "entropy",
        "Mean entropy of the choices (nats) after each epoch",
        "epoch",
        "nats",
        vec![series("mean entropy", entropy)],
        &mut figs,
    )?;
    Ok(figs)
}

/// The figures of a training run: its loss, accuracy and learning-rate curves.
fn train_figures(lines: &[TrainMetric], out: &Path) -> Result<Vec<Figure>> {
    let mut figs = Vec::new();
    let (steps, epochs) = train_lines(lines);
    let step = |f: fn(&TrainStep) -> Option<f64>| points(&steps, |s| (s.step, f(s)));
    let at_epoch_end = |f: fn(&TrainEpoch) -> Option<f64>| points(&epochs, |e| (e.step, f(e)));
    let charts = [
        (
            "loss",
            "Training loss (label-smoothed), validation and test cross-entropy",
            "loss",
            vec![
                series("train", step(|s| s.train_loss)),
                series("train (epoch)", at_epoch_end(|e| e.train_loss)),
                series("validation", at_epoch_end(|e| e.val_loss)),
                series("test (reported only)", at_epoch_end(|e| Some(e.test_loss))),
            ],
        ),
        (
            "accuracy",
            "Training accuracy, validation top-1 (chooses best.bpk) and test top-1",
            "accuracy",
            vec![
                series("train", step(|s| s.train_acc)),
                series("train (epoch)", at_epoch_end(|e| e.train_acc)),
                series("validation top-1", at_epoch_end(|e| e.val_top1)),
                series(
                    "test top-1 (reported only)",
                    at_epoch_end(|e| Some(e.test_top1)),
                ),
            ],
        ),
        (
            "lr",
            "Learning rate",
            "lr",
            vec![
                series("lr", step(|s| Some(s.lr))),
                series("lr (epoch end)", at_epoch_end(|e| Some(e.lr))),
            ],
        ),
    ];
    for (name, caption, y, s) in charts {
        chart(out, name, caption, "step", y, s, &mut figs)?;
    }
    Ok(figs)
}

/// The rows of the architecture table: block, op, kernel, in, mid, out, stride, SE, act.
fn arch_rows(arch: &Arch) -> Result<Vec<[String; 9]>> {
    let layout = arch.layout()?;
    Ok(layout
        .blocks
        .iter()
        .enumerate()
        .map(|(i, b)| match b {
            BlockLayout::Ir(l) => [
                i.to_string(),
                "ir".into(),
                format!("{0}x{0}", l.kernel),
                l.c_in.to_string(),
                l.mid.to_string(),
                l.c_out.to_string(),
                l.stride.to_string(),
                l.se.map_or("-".into(), |s| s.to_string()),
                format!("{:?}", l.act).to_lowercase(),
            ],
            BlockLayout::Skip {
                c_in,
                c_out,
                stride,
                act,
            } => [
                i.to_string(),
                if b.is_projection() {
                    "projection".into()
                } else {
                    "skip".into()
                },
                "-".into(),
                c_in.to_string(),
                "-".into(),
                c_out.to_string(),
                stride.to_string(),
                "-".into(),
                if b.is_projection() {
                    format!("{act:?}").to_lowercase()
                } else {
                    "-".into()
                },
            ],
        })
        .collect())
}

const ARCH_HEADER: [&str; 9] = [
    "block", "op", "kernel", "in", "mid", "out", "stride", "SE", "act",
];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A page in both formats, built from the same pieces.
#[derive(Default)]
struct Page {
    html: String,
    md: String,
}

impl Page {
    fn heading(&mut self, level: usize, text: &str) {
        self.html
            .push_str(&format!("<h{level}>{}</h{level}>\n", esc(text)));
        self.md
            .push_str(&format!("{} {text}\n\n", "#".repeat(level)));
    }
    fn para(&mut self, text: &str) {
        self.html.push_str(&format!("<p>{}</p>\n", esc(text)));
        self.md.push_str(&format!("{text}\n\n"));
    }
    fn table(&mut self, header: &[&str], rows: &[Vec<String>]) {
        self.html.push_str("<table>\n<tr>");
        for h in header {
            self.html.push_str(&format!("<th>{}</th>", esc(h)));
        }
        self.html.push_str("</tr>\n");
        self.md.push_str(&format!("| {} |\n", header.join(" | ")));
        self.md
            .push_str(&format!("|{}\n", " --- |".repeat(header.len())));
        for r in rows {
            self.html.push_str("<tr>");
            for c in r {
                self.html.push_str(&format!("<td>{}</td>", esc(c)));
            }
            self.html.push_str("</tr>\n");
            self.md.push_str(&format!("| {} |\n", r.join(" | ")));
        }
        self.html.push_str("</table>\n");
        self.md.push('\n');
    }
    fn figure(&mut self, f: &Figure) {
        self.html.push_str(&format!(
            "<figure><img src=\"{0}.svg\" alt=\"{1}\"><figcaption>{1} (<a href=\"{0}.png\">PNG</a>)</figcaption></figure>\n",
            f.name,
            esc(&f.caption)
        ));
        self.md
            .push_str(&format!("![{}]({}.svg)\n\n", f.caption, f.name));
    }
}

/// A number with 4 decimals, `-` when absent.
fn num(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |x| format!("{x:.4}"))
}

fn fmt(v: &Value) -> String {
    match v.as_f64() {
        Some(x) if v.is_f64() => format!("{x:.4}"),
        _ => match v {
            Value::String(s) => s.clone(),
            Value::Null => "-".into(),
            o => o.to_string(),
        },
    }
}

/// Refuse a run whose `metrics.jsonl` has no lines yet: there is nothing to report.
fn check_has_metrics(run: &RunDir, run_kind: RunKind) -> Result<()> {
    let empty = match run_kind {
        RunKind::Search => read_metrics::<SearchMetric>(run)?.is_empty(),
        RunKind::Train => read_metrics::<TrainMetric>(run)?.is_empty(),
    };
    if empty {
        return Err(Error::NotARun {
            path: run.path.clone(),
            reason: "metrics.jsonl is empty (nothing to report yet)".into(),
        });
    }
    Ok(())
}

/// The search part of the page (what the run is, its last epoch's metrics); writes the
/// search's figures and returns them.
fn search_section(page: &mut Page, run: &RunDir, out: &Path) -> Result<Vec<Figure>> {
    page.para("A search run (dmasking search).");
    let lines: Vec<SearchMetric> = read_metrics(run)?;
    if let Some(e) = search_lines(&lines).1.last() {
        let rows = [
            ("epoch", Some((e.epoch + 1) as f64)),
            ("weight_loss", e.weight_loss),
            ("weight_acc", e.weight_acc),
            ("expected_mflops", Some(e.expected_mflops)),
            ("argmax_mflops", Some(e.argmax_mflops)),
            ("temperature", Some(e.temperature)),
            ("mean_entropy", Some(e.mean_entropy)),
        ]
        .iter()
        .map(|(k, v)| vec![k.to_string(), num(*v)])
        .collect::<Vec<_>>();
        page.heading(2, "Last epoch");
        page.table(&["metric", "value"], &rows);
    }
    search_figures(run, &lines, out)
}

/// The training part of the page (what the run is, its epochs, the evaluation when
/// `eval.json` exists); writes the training figures and returns them.
fn train_section(page: &mut Page, run: &RunDir, out: &Path) -> Result<Vec<Figure>> {
    page.para("A training run (dmasking train). best.bpk is the epoch marked best: chosen on the validation images held out of the training set; the test set is only reported.");
    let lines: Vec<TrainMetric> = read_metrics(run)?;
    epochs_table(page, &train_lines(&lines).1);
    if run.path.join("eval.json").exists() {
        evaluation_section(page, run)?;
    }
    train_figures(&lines, out)
}

/// The table of a training run's epochs: losses, accuracies and seconds, the best marked.
fn epochs_table(page: &mut Page, epochs: &[&TrainEpoch]) {
    let rows: Vec<Vec<String>> = epochs
        .iter()
        .map(|e| {
            vec![
                format!("{}{}", e.epoch + 1, if e.best { " (best)" } else { "" }),
                num(e.train_loss),
                num(e.train_acc),
                num(e.val_top1),
                num(Some(e.test_loss)),
                num(Some(e.test_top1)),
                format!("{:.0}", e.seconds),
            ]
        })
        .collect();
    page.heading(2, "Epochs");
    page.table(
        &[
            "epoch",
            "train loss",
            "train acc",
            "val top-1",
            "test loss",
            "test top-1",
            "seconds",
        ],
        &rows,
    );
}

/// The evaluation of a training run's weights (its `eval.json`): top-1 and the
/// per-class accuracy.
fn evaluation_section(page: &mut Page, run: &RunDir) -> Result<()> {
    let ev: Value = run.read_json("eval.json")?;
    let e = &ev["evaluation"];
    page.heading(2, "Evaluation");
    page.para(&format!(
        "{} on {} test images: top-1 {}.",
        fmt(&ev["weights"]),
        fmt(&e["images"]),
        fmt(&e["top1"])
    ));
    let rows: Vec<Vec<String>> = e["classes"]
        .as_array()
        .into_iter()
        .flatten()
        .zip(e["per_class"].as_array().into_iter().flatten())
        .map(|(c, a)| vec![fmt(c), fmt(a)])
        .collect();
    page.table(&["class", "accuracy"], &rows);
    Ok(())
}

/// The architecture of the run (`arch.json`): its exact cost and the table of its
/// blocks, or a note that the search has not written one yet.
fn architecture_section(page: &mut Page, run: &RunDir) -> Result<()> {
    page.heading(2, "Architecture");
    if run.path.join("arch.json").exists() {
        let arch = Arch::load(&run.path.join("arch.json"))?;
        let c = arch.cost()?;
        page.para(&format!(
            "{}: input {}x{}, {:.2} MFLOPs, {:.3} M params (exact counts).",
            arch.name.as_deref().unwrap_or("architecture"),
            arch.input_size,
            arch.input_size,
            c.flops as f64 / 1e6,
            c.params as f64 / 1e6
        ));
        let rows: Vec<Vec<String>> = arch_rows(&arch)?.into_iter().map(Vec::from).collect();
        page.table(&ARCH_HEADER, &rows);
    } else {
        page.para("No arch.json yet: the search has not finished (dmasking derive --run RUN --out RUN/arch.json derives the argmax of the last checkpoint).");
    }
    Ok(())
}

/// Write the page as `index.html` (titled `title`) and `report.md` into `out`; returns
/// those files and the figures' SVG and PNG files.
fn write_page(out: &Path, title: &str, page: Page, figs: &[Figure]) -> Result<Vec<PathBuf>> {
    let html = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{}</title>\n<style>body{{font-family:sans-serif;max-width:1400px;margin:2em auto}}table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:2px 8px;text-align:right}}img{{max-width:100%}}figure{{margin:2em 0}}</style></head><body>\n{}</body></html>\n",
        esc(title),
        page.html
    );
    let mut files = Vec::new();
    for (name, text) in [("index.html", html), ("report.md", page.md)] {
        let p = out.join(name);
        crate::run::write_atomic(&p, &text)?;
        files.push(p);
    }
    for f in figs {
        files.push(out.join(format!("{}.svg", f.name)));
        files.push(out.join(format!("{}.png", f.name)));
    }
    Ok(files)
}

/// Write the report of `run` into `out` (created if needed); returns the files written.
pub fn report(run: &RunDir, out: &Path) -> Result<Vec<PathBuf>> {
    let run_kind = run.kind()?;
    check_has_metrics(run, run_kind)?;
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let mut page = Page::default();
    let title = format!("dmasking report: {}", run.path.display());
    page.heading(1, &title);
    let figs = match run_kind {
        RunKind::Search => search_section(&mut page, run, out)?,
        RunKind::Train => train_section(&mut page, run, out)?,
    };
    architecture_section(&mut page, run)?;
    page.heading(2, "Plots");
    for f in &figs {
        page.figure(f);
    }
    write_page(out, &title, page, &figs)
}

/// One training run in a comparison.
#[derive(Clone, Debug, serde::Serialize)]
pub struct CompareRow {
    /// The run directory.
    pub run: String,
    /// The architecture's name (`architecture` when unnamed).
    pub arch: String,
    /// Exact FLOPs of the architecture at its input size, in millions (our convention).
    pub mflops: f64,
    /// Parameters of the architecture, in millions (our convention).
    pub mparams: f64,
    /// `best_top1` of the run's `summary.json`: test top-1 of the chosen epoch (NaN when absent).
    pub best_top1: f64,
    /// `last_top1` of the run's `summary.json`: test top-1 of the last epoch (NaN when absent).
    pub last_top1: f64,
    /// Number of epoch lines in the run's metrics.
    pub epochs: usize,
    /// Training wall-clock time, in seconds (NaN when absent).
    pub wall_seconds: f64,
}

/// The comparison row of one finished training run: its architecture's exact cost and
/// the accuracies and time of its `summary.json`.
fn compare_row(run: &RunDir) -> Result<CompareRow> {
    if run.kind()? != RunKind::Train {
        return Err(Error::NotARun {
            path: run.path.clone(),
            reason: "not a training run; a comparison takes training runs".into(),
        });
    }
    let arch = Arch::load(&run.path.join("arch.json"))?;
    let c = arch.cost()?;
    let summary: Value = run.read_json("summary.json").map_err(|e| Error::NotARun {
        path: run.path.clone(),
        reason: format!("{e} (has the training run finished?)"),
    })?;
    let epochs = train_lines(&read_metrics::<TrainMetric>(run)?).1.len();
    Ok(CompareRow {
        run: run.path.display().to_string(),
        arch: arch.name.clone().unwrap_or_else(|| "architecture".into()),
        mflops: c.flops as f64 / 1e6,
        mparams: c.params as f64 / 1e6,
        best_top1: summary["best_top1"].as_f64().unwrap_or(f64::NAN),
        last_top1: summary["last_top1"].as_f64().unwrap_or(f64::NAN),
        epochs,
        wall_seconds: summary["wall_seconds"].as_f64().unwrap_or(f64::NAN),
    })
}

/// The comparison as a table, one line per run.
fn compare_table(rows: &[CompareRow]) -> Page {
    let mut page = Page::default();
    page.table(
        &[
            "run",
            "architecture",
            "MFLOPs",
            "M params",
            "best top-1",
            "last top-1",
            "epochs",
            "wall s",
        ],
        &rows
            .iter()
            .map(|r| {
                vec![
                    r.run.clone(),
                    r.arch.clone(),
                    format!("{:.3}", r.mflops),
                    format!("{:.3}", r.mparams),
                    format!("{:.4}", r.best_top1),
                    format!("{:.4}", r.last_top1),
                    r.epochs.to_string(),
                    format!("{:.0}", r.wall_seconds),
                ]
            })
            .collect::<Vec<_>>(),
    );
    page
}

/// Test top-1 of the last epoch against exact MFLOPs, one marker per run (runs of one
/// architecture name share a series: training seeds, or budgets of one kind), both axes
/// padded around the runs' range.
fn accuracy_vs_mflops(rows: &[CompareRow]) -> Panel {
    let mut series: Vec<Series> = Vec::new();
    for r in rows {
        let point = (r.mflops, r.last_top1);
        match series.iter_mut().find(|s| s.name == r.arch) {
            Some(s) => s.points.push(point),
            None => series.push(Series {
                name: r.arch.clone(),
                points: vec![point],
            }),
        }
    }
    let lo = rows.iter().map(|r| r.last_top1).fold(1.0, f64::min);
    let hi = rows.iter().map(|r| r.last_top1).fold(0.0, f64::max);
    let pad = ((hi - lo) * 0.2).max(0.01);
    Panel {
        title: "test top-1 (last epoch) vs exact MFLOPs".into(),
        x_label: "MFLOPs".into(),
        y_label: "top-1".into(),
        series,
        y_range: Some(((lo - pad).max(0.0), (hi + pad).min(1.0))),
        markers_only: true,
    }
}

/// Compare finished training runs: a table (`compare.md`, `compare.json`) and test top-1
/// against exact MFLOPs (`accuracy_vs_mflops.{svg,png}`), one marker per run.
pub fn compare(runs: &[RunDir], out: &Path) -> Result<Vec<PathBuf>> {
    let rows = runs.iter().map(compare_row).collect::<Result<Vec<_>>>()?;
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let page = compare_table(&rows);
    let p = accuracy_vs_mflops(&rows);
    let mut files = Vec::new();
    for ext in ["svg", "png"] {
        let f = out.join(format!("accuracy_vs_mflops.{ext}"));
        panels(&f, None, std::slice::from_ref(&p), 1, (760, 480))?;
        files.push(f);
    }
    let md = out.join("compare.md");
    crate::run::write_atomic(&md, &page.md)?;
    files.push(md);
    let js = out.join("compare.json");
    crate::run::write_atomic(
        &js,
        serde_json::to_string_pretty(&rows).expect("rows serialize"),
    )?;
    files.push(js);
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(arch: &str, mflops: f64, top1: f64) -> CompareRow {
        CompareRow {
            run: format!("runs/{arch}-{mflops}"),
            arch: arch.into(),
            mflops,
            mparams: 0.5,
            best_top1: top1,
            last_top1: top1,
            epochs: 5,
            wall_seconds: 1.0,
        }
    }

    #[test]
    fn runs_of_one_architecture_name_share_a_series_of_markers() {
        let p = accuracy_vs_mflops(&[
            row("cifar10-derived", 10.9, 0.79),
            row("cifar10-random0", 10.9, 0.78),
            row("cifar10-derived", 6.5, 0.75),
        ]);
        assert!(p.markers_only);
        let names: Vec<&str> = p.series.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["cifar10-derived", "cifar10-random0"]);
        assert_eq!(p.series[0].points, [(10.9, 0.79), (6.5, 0.75)]);
        let (lo, hi) = p.y_range.unwrap();
        assert!(
            lo < 0.75 && hi > 0.79,
            "top-1 axis {lo}..{hi} cuts a marker"
        );
    }
}
