//! The measured latency of every network of a tabular benchmark
//! (`dmasking-network-latency/1`, docs/LATENCY.md): benchmark key → median ms of the whole
//! exported network, with how it was measured, so that `lookup` can rank a network among
//! those of about its latency.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::table::Measurement;
use crate::error::{Error, Result};

/// The format tag of a network latency file.
pub const NETWORK_LATENCY_FORMAT: &str = "dmasking-network-latency/1";

/// Measured latency of a benchmark's networks.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NetworkLatencies {
    /// [`NETWORK_LATENCY_FORMAT`].
    pub format: String,
    /// The benchmark's name.
    pub benchmark: String,
    /// How every network was timed.
    pub measured: Measurement,
    /// When measuring started and last wrote (UTC).
    pub dates: Vec<String>,
    /// The 1-minute load average then.
    pub load_average: Vec<f64>,
    /// Distinct networks measured (keys that describe the same network share one).
    pub networks: usize,
    /// Benchmark key → median ms.
    pub latency_ms: serde_json::Map<String, serde_json::Value>,
}

impl NetworkLatencies {
    /// Read and check a file: its format, every value a positive time.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&text).map_err(|e| e.in_file(path))
    }

    /// Parse and check.
    pub fn parse(text: &str) -> Result<Self> {
        let t: NetworkLatencies = crate::json::parse(text)?;
        if t.format != NETWORK_LATENCY_FORMAT {
            return Err(Error::invalid(
                "$.format",
                format!(
                    "expected \"{NETWORK_LATENCY_FORMAT}\", got \"{}\"",
                    t.format
                ),
            ));
        }
        for (k, v) in &t.latency_ms {
            if !v.as_f64().is_some_and(|x| x.is_finite() && x > 0.0) {
                return Err(Error::invalid(
                    format!("$.latency_ms[\"{k}\"]"),
                    "must be a positive time in ms",
                ));
            }
        }
        Ok(t)
    }

    /// The measured latency of `key`, in ms.
    pub fn get(&self, key: &str) -> Option<f64> {
        self.latency_ms.get(key).and_then(|v| v.as_f64())
    }

    /// As JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("network latencies serialize") + "\n"
    }
}
