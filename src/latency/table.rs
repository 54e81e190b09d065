//! The latency table (`dmasking-latency/1`, docs/LATENCY.md): for every piece a space can
//! run, the median time of a graph of that piece alone, with how it was measured; and the
//! prediction of a network's latency from it.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::piece::{Piece, pieces_of};
use crate::arch::Arch;
use crate::error::{Error, Result};

/// The format tag of a latency table.
pub const LATENCY_FORMAT: &str = "dmasking-latency/1";

/// How a table's times were measured.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Measurement {
    /// The runtime and its exact version, e.g. `onnxruntime 1.32.0`.
    pub runtime: String,
    /// Intra-op threads (inter-op threads 1, sequential execution).
    pub threads: usize,
    /// Images per call.
    pub batch: usize,
    /// Untimed calls before timing.
    pub warmup: usize,
    /// Timed calls; an entry is their median.
    pub runs: usize,
    /// The machine's CPU (its model name).
    pub cpu: String,
}

impl Measurement {
    /// What differs between two measurements, e.g. `batch: 1 in the table, 2 here`.
    pub fn differences(&self, here: &Measurement) -> Vec<String> {
        let mut d = Vec::new();
        let mut diff = |name: &str, a: String, b: String| {
            if a != b {
                d.push(format!("{name}: {a} in the table, {b} here"));
            }
        };
        diff("runtime", self.runtime.clone(), here.runtime.clone());
        diff(
            "threads",
            self.threads.to_string(),
            here.threads.to_string(),
        );
        diff("batch", self.batch.to_string(), here.batch.to_string());
        diff("warmup", self.warmup.to_string(), here.warmup.to_string());
        diff("runs", self.runs.to_string(), here.runs.to_string());
        diff("cpu", self.cpu.clone(), here.cpu.clone());
        d
    }
}

/// A re-measured anchor entry, to catch drift while a table is measured.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Anchor {
    /// Entries measured before this re-measurement.
    pub after: usize,
    /// The anchor's key.
    pub key: String,
    /// Its median now, in ms.
    pub ms: f64,
}

/// A latency table.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LatencyTable {
    /// [`LATENCY_FORMAT`].
    pub format: String,
    /// How the times were measured.
    pub measured: Measurement,
    /// When measuring started and last wrote (UTC, RFC 3339).
    pub dates: Vec<String>,
    /// The 1-minute load average when measuring started and when it last wrote.
    pub load_average: Vec<f64>,
    /// The spaces whose pieces were measured.
    pub spaces: Vec<String>,
    /// The median time of a graph that does nothing (one Identity node), in ms: the cost of
    /// a call, which every entry includes once and a network pays once.
    pub call_ms: f64,
    /// Re-measured anchors (the first entry, at intervals).
    #[serde(default)]
    pub anchors: Vec<Anchor>,
    /// A correction fitted on whole networks (`dmasking latency calibrate`): predictions
    /// are multiplied by its scale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Calibration>,
    /// Piece key → median time of a graph of that piece alone, in ms (the call included).
    pub entries: serde_json::Map<String, serde_json::Value>,
}

/// A table's correction: the least-squares factor from uncorrected predictions to the
/// measured latency of whole networks.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Calibration {
    /// The factor every prediction is multiplied by.
    pub scale: f64,
    /// The networks it was fitted on.
    pub networks: String,
    /// Their mean |predicted / measured − 1| before the correction.
    pub mean_abs_rel_error_before: f64,
    /// The same after it.
    pub mean_abs_rel_error_after: f64,
    /// When it was fitted (UTC).
    pub date: String,
}

/// A network's predicted latency and its parts.
#[derive(Clone, Debug, PartialEq)]
pub struct Prediction {
    /// Predicted latency of the whole network, in ms.
    pub ms: f64,
    /// Each piece's key and its share (its entry less the call), in ms.
    pub pieces: Vec<(String, f64)>,
}

impl LatencyTable {
    /// Read a table file.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&text).map_err(|e| e.in_file(path))
    }

    /// Parse and check a table: its format tag, and every entry a positive finite number.
    pub fn parse(text: &str) -> Result<Self> {
        let t: LatencyTable = crate::json::parse(text)?;
        if t.format != LATENCY_FORMAT {
            return Err(Error::invalid(
                "$.format",
                format!("expected \"{LATENCY_FORMAT}\", got \"{}\"", t.format),
            ));
        }
        if let Some(c) = &t.calibration
            && !(c.scale.is_finite() && c.scale > 0.0)
        {
            return Err(Error::invalid("$.calibration.scale", "must be positive"));
        }
        if !(t.call_ms.is_finite() && t.call_ms >= 0.0) {
            return Err(Error::invalid("$.call_ms", "must be a finite time ≥ 0"));
        }
        for (k, v) in &t.entries {
            if !v.as_f64().is_some_and(|x| x.is_finite() && x > 0.0) {
                return Err(Error::invalid(
                    format!("$.entries[\"{k}\"]"),
                    "must be a positive time in ms",
                ));
            }
        }
        Ok(t)
    }

    /// The median of the piece `key`, in ms.
    pub fn get(&self, key: &str) -> Option<f64> {
        self.entries.get(key).and_then(|v| v.as_f64())
    }

    /// The entry of `key`, or [`Error::LatencyMissing`].
    pub fn entry(&self, key: &str) -> Result<f64> {
        self.get(key).ok_or_else(|| Error::LatencyMissing {
            key: key.to_string(),
        })
    }

    /// The calibration's factor (1 without one).
    pub fn scale(&self) -> f64 {
        self.calibration.as_ref().map_or(1.0, |c| c.scale)
    }

    /// The cost of one call as a prediction counts it (calibrated), in ms.
    pub fn call(&self) -> f64 {
        self.scale() * self.call_ms
    }

    /// A piece's share of a network's latency: its entry less the call, which the network
    /// pays once (calibrated).
    pub fn share(&self, piece: &Piece) -> Result<f64> {
        Ok(self.scale() * (self.entry(&piece.key())? - self.call_ms))
    }

    /// The predicted latency of `arch`: one call plus every piece's share, times the
    /// calibration's factor.
    pub fn predict(&self, arch: &Arch) -> Result<Prediction> {
        let mut pieces = Vec::new();
        let mut ms = self.call();
        for (_, piece) in pieces_of(arch)? {
            let share = self.share(&piece)?;
            ms += share;
            pieces.push((piece.key(), share));
        }
        Ok(Prediction { ms, pieces })
    }

    /// The table as JSON text (one entry per line).
    pub fn to_json(&self) -> String {
        let v = serde_json::to_value(self).expect("a latency table serializes");
        serde_json::to_string_pretty(&v).expect("JSON serializes") + "\n"
    }
}
