//! Measuring: a space's latency table, piece by piece, and a whole network; both through
//! [`Runtime::time`](super::runtime::Runtime::time).

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::networks::{NETWORK_LATENCY_FORMAT, NetworkLatencies};
use super::piece::{Part, Piece, SpacePiece, pieces_of, pieces_of_space};
use super::runtime::{Timing, cpu_name, load_average, runtime};
use super::table::{Anchor, LATENCY_FORMAT, LatencyTable, Measurement};
use crate::arch::Arch;
use crate::error::{Error, Result};
use crate::nn::FixedNet;
use crate::onnx::{Normalization, PieceSource, piece_onnx, to_onnx};
use crate::space::Space;
use crate::supernet::Plan;

/// Entries measured between two re-measurements of the anchor (and two saves).
pub const ANCHOR_EVERY: usize = 50;

/// The current time, UTC, as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + (m <= 2) as i64;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// The measurement record of `timing` on this machine's runtime.
pub fn measurement(timing: &Timing) -> Result<Measurement> {
    Ok(Measurement {
        runtime: format!("onnxruntime {}", runtime()?.version),
        threads: timing.threads,
        batch: timing.batch,
        warmup: timing.warmup,
        runs: timing.runs,
        cpu: cpu_name(),
    })
}

/// The median time of one piece's graph, in ms; the piece is `part` of the network of
/// `arch` (random weights, seed 0).
fn time_piece(arch: &Arch, part: Part, piece: &Piece, timing: &Timing) -> Result<f64> {
    let (c, h) = piece.input();
    let norm = Normalization {
        mean: vec![0.5; c],
        std: vec![0.25; c],
    };
    let bytes = match part {
        Part::Input => piece_onnx(PieceSource::Input(&norm), c, h)?,
        part => {
            let device = crate::device::device("cpu")?;
            device.seed(0);
            let net = FixedNet::new(arch, &device)?;
            piece_onnx(PieceSource::Part(&net, part), c, h)?
        }
    };
    Ok(runtime()?.time(&bytes, c, h, timing)?.0)
}

/// The median time of a graph that does nothing (one Identity node on a [batch, 1, 1, 1]
/// input): the cost of a call.
pub fn call_ms(timing: &Timing) -> Result<f64> {
    let bytes = piece_onnx(PieceSource::Nothing, 1, 1)?;
    Ok(runtime()?.time(&bytes, 1, 1, timing)?.0)
}

/// An existing table can be completed with `timing` on this machine: it was measured with
/// the same settings, runtime and CPU; else an error naming what differs.
pub fn check_resumable(table: &LatencyTable, timing: &Timing) -> Result<()> {
    same_measurement(&table.measured, &measurement(timing)?, "table")
}

/// A file measured with `before` can be completed by measuring with `here`; else an error
/// naming what differs (`what`: the kind of file).
fn same_measurement(before: &Measurement, here: &Measurement, what: &str) -> Result<()> {
    let d = before.differences(here);
    if d.is_empty() {
        return Ok(());
    }
    Err(Error::Config(format!(
        "the {what} was measured otherwise ({}): complete it with its own settings or write a new {what}",
        d.join("; ")
    )))
}

/// What a table build reports as it goes.
pub struct TableStep<'a> {
    /// Entries measured so far in this build.
    pub done: usize,
    /// Entries this build measures.
    pub total: usize,
    /// The table as it stands (save it to resume from it).
    pub table: &'a LatencyTable,
}

/// A piece to measure: its key, and a network that runs it.
#[derive(Clone, Debug)]
pub struct ToMeasure {
    /// The piece's key.
    pub key: String,
    /// A network that runs it.
    pub arch: Arch,
    /// Where it runs in that network.
    pub part: Part,
    /// The piece.
    pub piece: Piece,
}

/// Every piece of `space` ([`pieces_of_space`]), each with a network that runs it.
pub fn space_pieces(space: &Space) -> Result<Vec<ToMeasure>> {
    let plan = Plan::new(space);
    let mut last: Option<(Vec<usize>, Arch)> = None;
    let mut out = Vec::new();
    for SpacePiece {
        key,
        picks,
        part,
        piece,
    } in pieces_of_space(&plan)?
    {
        let arch = match &last {
            Some((p, a)) if *p == picks => a.clone(),
            _ => plan.derive(&picks)?,
        };
        last = Some((picks, arch.clone()));
        out.push(ToMeasure {
            key,
            arch,
            part,
            piece,
        });
    }
    Ok(out)
}

/// Every piece the networks `archs` run, each once.
pub fn arch_pieces(archs: &[Arch]) -> Result<Vec<ToMeasure>> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for arch in archs {
        for (part, piece) in pieces_of(arch)? {
            let key = piece.key();
            if seen.insert(key.clone()) {
                out.push(ToMeasure {
                    key,
                    arch: arch.clone(),
                    part,
                    piece,
                });
            }
        }
    }
    Ok(out)
}

/// Measure every piece of `pieces` that `table` lacks (a new table when `None`; `label`
/// is added to its `spaces`), in a shuffled order (seed `seed`), re-measuring the
/// table's first entry every [`ANCHOR_EVERY`] entries; `step` is called after every
/// entry (and may save the table, so that an interrupted build resumes where it stopped).
/// A table measured with other settings, another runtime or CPU is an error.
pub fn build_table(
    pieces: Vec<ToMeasure>,
    label: &str,
    timing: &Timing,
    table: Option<LatencyTable>,
    seed: u64,
    mut step: impl FnMut(TableStep) -> Result<()>,
) -> Result<LatencyTable> {
    let mut table = match table {
        Some(t) => {
            check_resumable(&t, timing)?;
            t
        }
        None => LatencyTable {
            format: LATENCY_FORMAT.into(),
            measured: measurement(timing)?,
            dates: vec![utc_now()],
            load_average: vec![load_average()],
            spaces: vec![],
            call_ms: call_ms(timing)?,
            anchors: vec![],
            calibration: None,
            entries: serde_json::Map::new(),
        },
    };
    if !table.spaces.iter().any(|s| s == label) {
        table.spaces.push(label.to_string());
    }
    let anchor = pieces.first().cloned();
    let mut todo: Vec<ToMeasure> = pieces
        .into_iter()
        .filter(|p| !table.entries.contains_key(&p.key))
        .collect();
    todo.shuffle(&mut StdRng::seed_from_u64(seed));
    let total = todo.len();
    for (done, p) in todo.into_iter().enumerate() {
        let ms = time_piece(&p.arch, p.part, &p.piece, timing)?;
        table.entries.insert(p.key, ms.into());
        if (done + 1) % ANCHOR_EVERY == 0
            && let Some(a) = &anchor
        {
            let ms = time_piece(&a.arch, a.part, &a.piece, timing)?;
            table.anchors.push(Anchor {
                after: table.entries.len(),
                key: a.key.clone(),
                ms,
            });
        }
        table.dates.truncate(1);
        table.dates.push(utc_now());
        table.load_average.truncate(1);
        table.load_average.push(load_average());
        step(TableStep {
            done: done + 1,
            total,
            table: &table,
        })?;
    }
    Ok(table)
}

/// One network of a calibration: its prediction without the correction and its measured
/// latency, in ms.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CalibrationPoint {
    /// The uncorrected prediction.
    pub predicted_ms: f64,
    /// The whole network measured.
    pub measured_ms: f64,
}

/// Fit `table`'s correction on the networks `archs`: each measured whole with the table's
/// own timing settings (same runtime and CPU required), the factor the least-squares
/// ratio `Σ m·p / Σ p²` of measured to uncorrected predicted latency. `networks` says what
/// they are (kept in the table).
pub fn calibrate(
    table: &mut LatencyTable,
    archs: &[Arch],
    networks: String,
    mut step: impl FnMut(usize),
) -> Result<Vec<CalibrationPoint>> {
    let m = &table.measured;
    let timing = Timing {
        threads: m.threads,
        batch: m.batch,
        warmup: m.warmup,
        runs: m.runs,
    };
    check_resumable(table, &timing)?;
    let raw = LatencyTable {
        calibration: None,
        ..table.clone()
    };
    let mut points = Vec::new();
    for (i, arch) in archs.iter().enumerate() {
        let predicted_ms = raw.predict(arch)?.ms;
        let measured_ms = measure_arch(arch, &timing)?;
        points.push(CalibrationPoint {
            predicted_ms,
            measured_ms,
        });
        step(i + 1);
    }
    if points.is_empty() {
        return Err(Error::Config(
            "calibration needs at least one network".into(),
        ));
    }
    let scale = points
        .iter()
        .map(|p| p.measured_ms * p.predicted_ms)
        .sum::<f64>()
        / points.iter().map(|p| p.predicted_ms.powi(2)).sum::<f64>();
    let err = |s: f64| {
        points
            .iter()
            .map(|p| (s * p.predicted_ms / p.measured_ms - 1.0).abs())
            .sum::<f64>()
            / points.len() as f64
    };
    table.calibration = Some(super::table::Calibration {
        scale,
        networks,
        mean_abs_rel_error_before: err(1.0),
        mean_abs_rel_error_after: err(scale),
        date: utc_now(),
    });
    Ok(points)
}

/// Measure whole networks into `file` (a new one when `None`, for `benchmark`): each
/// entry of `networks` is the keys that describe one network and that network; networks
/// whose keys are all in the file already are skipped (an interrupted run resumes).
/// `step` is called after every network (and may save the file).
pub fn measure_networks(
    networks: Vec<(Vec<String>, Arch)>,
    benchmark: &str,
    timing: &Timing,
    file: Option<NetworkLatencies>,
    mut step: impl FnMut(usize, usize, &NetworkLatencies) -> Result<()>,
) -> Result<NetworkLatencies> {
    let measured = measurement(timing)?;
    let mut file = match file {
        Some(f) => {
            same_measurement(&f.measured, &measured, "file")?;
            f
        }
        None => NetworkLatencies {
            format: NETWORK_LATENCY_FORMAT.into(),
            benchmark: benchmark.into(),
            measured,
            dates: vec![utc_now()],
            load_average: vec![load_average()],
            networks: 0,
            latency_ms: serde_json::Map::new(),
        },
    };
    let total = networks.len();
    file.networks = total;
    let todo: Vec<_> = networks
        .into_iter()
        .filter(|(keys, _)| !keys.iter().all(|k| file.latency_ms.contains_key(k)))
        .collect();
    let (n, done0) = (todo.len(), total - todo.len());
    for (i, (keys, arch)) in todo.into_iter().enumerate() {
        let ms = measure_arch(&arch, timing)?;
        for k in keys {
            file.latency_ms.insert(k, ms.into());
        }
        file.dates.truncate(1);
        file.dates.push(utc_now());
        file.load_average.truncate(1);
        file.load_average.push(load_average());
        step(done0 + i + 1, done0 + n, &file)?;
    }
    Ok(file)
}

/// The measured latency of the whole exported network of `arch` (random weights, seed 0),
/// in ms.
pub fn measure_arch(arch: &Arch, timing: &Timing) -> Result<f64> {
    let device = crate::device::device("cpu")?;
    device.seed(0);
    let net = FixedNet::new(arch, &device)?;
    let norm = Normalization {
        mean: vec![0.5; arch.in_channels],
        std: vec![0.25; arch.in_channels],
    };
    let bytes = to_onnx(&net, arch, &norm)?;
    Ok(runtime()?
        .time(&bytes, arch.in_channels, arch.input_size, timing)?
        .0)
}
