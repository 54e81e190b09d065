//! Tabular NAS benchmarks: every network of a space with its measured accuracy, so that
//! a search can be judged without training anything (docs/BENCHMARKS.md).

mod channel_bench_macro;
mod nas_bench_macro;

pub use channel_bench_macro::ChannelBenchMacro;
pub use nas_bench_macro::NasBenchMacro;

use crate::arch::Arch;
use crate::error::{Error, Result};
use crate::supernet::Plan;

/// Read a benchmark's data file, recognising its format by its keys: NAS-Bench-Macro
/// (8 digits 0-2) or Channel-Bench-Macro's MobileNet results (7 digits 1-4).
pub fn open(path: &std::path::Path) -> Result<Box<dyn Benchmark>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let what = path.display().to_string();
    let first_key = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&text)
        .ok()
        .and_then(|m| m.keys().next().cloned())
        .unwrap_or_default();
    if first_key.len() == 7 {
        Ok(Box::new(ChannelBenchMacro::from_json(&text, &what)?))
    } else {
        Ok(Box::new(NasBenchMacro::from_json(&text, &what)?))
    }
}

/// A record of a benchmark file: the mean accuracy (`mean_acc` in NAS-Bench-Macro,
/// `mean` in Channel-Bench-Macro), params and FLOPs; other fields are ignored.
#[derive(serde::Deserialize)]
struct Record {
    #[serde(alias = "mean")]
    mean_acc: f64,
    params: u64,
    flops: u64,
}

/// The sorted keys and the entries of a benchmark file's JSON `text` (an object of key ->
/// record), every key checked by `is_key`. `what` names the file, `format` the benchmark
/// and `key_rule` what a key is, in errors.
fn read_entries(
    text: &str,
    what: &str,
    format: &str,
    key_rule: &str,
    is_key: impl Fn(&str) -> bool,
) -> Result<(Vec<String>, std::collections::HashMap<String, Entry>)> {
    let records: std::collections::HashMap<String, Record> = serde_json::from_str(text)
        .map_err(|e| {
            Error::Data(format!(
                "{what}: not a {format} data file (an object of key -> {{mean accuracy, params, flops}}): {e}"
            ))
        })?;
    if let Some(bad) = records.keys().find(|k| !is_key(k)) {
        return Err(Error::Data(format!(
            "{what}: key {bad:?} is not {key_rule} (a {format} key)"
        )));
    }
    let mut keys: Vec<String> = records.keys().cloned().collect();
    keys.sort();
    let entries = records
        .into_iter()
        .map(|(k, r)| {
            let e = Entry {
                mean_acc: r.mean_acc,
                flops: r.flops,
                params: r.params,
            };
            (k, e)
        })
        .collect();
    Ok((keys, entries))
}

/// One network of a benchmark: its measured accuracy and its counts as the benchmark
/// gives them.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// Mean test accuracy over the benchmark's runs, in percent.
    pub mean_acc: f64,
    /// FLOPs in the benchmark's convention.
    pub flops: u64,
    /// Params in the benchmark's convention.
    pub params: u64,
}

/// A tabular benchmark over one search space: keys ↔ picks of that space's plan.
pub trait Benchmark {
    /// The benchmark's name.
    fn name(&self) -> &str;
    /// The plan of the search space whose architectures the keys describe.
    fn plan(&self) -> &Plan;
    /// Every key, in the benchmark's order.
    fn keys(&self) -> &[String];
    /// The entry of a key.
    fn entry(&self, key: &str) -> Option<&Entry>;
    /// The picks (one option per choice of [`plan`](Self::plan)) a key describes.
    fn picks(&self, key: &str) -> Result<Vec<usize>>;
    /// The key of picks.
    fn key(&self, picks: &[usize]) -> Result<String>;
}

/// Where a network stands in a benchmark.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Lookup {
    /// The lexicographically smallest key that describes the network.
    pub key: String,
    /// Mean test accuracy over the benchmark's runs, in percent.
    pub mean_acc: f64,
    /// FLOPs in the benchmark's convention.
    pub flops: u64,
    /// Params in the benchmark's convention.
    pub params: u64,
    /// Percent of the keys within ±5 % of its FLOPs that have a lower mean accuracy.
    pub percentile: f64,
    /// Number of keys within ±5 % of its FLOPs (itself included).
    pub band_size: usize,
    /// The other keys that describe the same network.
    pub same_as: Vec<String>,
    /// With a file of the benchmark's measured latencies: where it stands by latency.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency: Option<LatencyLookup>,
}

/// Where a network stands among a benchmark's networks of about its measured latency.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct LatencyLookup {
    /// Its measured latency, in ms.
    pub ms: f64,
    /// Percent of the keys within ±5 % of its latency that have a lower mean accuracy.
    pub percentile: f64,
    /// Number of keys within ±5 % of its latency (itself included).
    pub band_size: usize,
}

/// Half-width of the FLOP band percentiles are taken in.
pub const BAND: f64 = 0.05;

/// FLOPs `f` lie within `centre · (1 ± BAND)`.
pub fn in_band(f: u64, centre: u64) -> bool {
    (f as f64 - centre as f64).abs() <= BAND * centre as f64
}

/// Percent of the keys with FLOPs within `flops · (1 ± BAND)` whose mean accuracy is below
/// `acc`, and how many keys that band holds.
pub fn percentile(bench: &dyn Benchmark, flops: u64, acc: f64) -> (f64, usize) {
    let band: Vec<f64> = bench
        .keys()
        .iter()
        .filter_map(|k| bench.entry(k))
        .filter(|e| in_band(e.flops, flops))
        .map(|e| e.mean_acc)
        .collect();
    let below = band.iter().filter(|&&a| a < acc).count();
    (100.0 * below as f64 / band.len().max(1) as f64, band.len())
}

/// Percent of the keys with measured latency within `ms · (1 ± BAND)` whose mean accuracy is
/// below `acc`, and how many keys that band holds (keys the file lacks are left out).
pub fn latency_percentile(
    bench: &dyn Benchmark,
    lat: &crate::latency::NetworkLatencies,
    ms: f64,
    acc: f64,
) -> (f64, usize) {
    let band: Vec<f64> = bench
        .keys()
        .iter()
        .filter(|k| lat.get(k).is_some_and(|l| (l - ms).abs() <= BAND * ms))
        .filter_map(|k| bench.entry(k))
        .map(|e| e.mean_acc)
        .collect();
    let below = band.iter().filter(|&&a| a < acc).count();
    (100.0 * below as f64 / band.len().max(1) as f64, band.len())
}

/// [`lookup`], and where the network stands among the benchmark's networks of about its
/// measured latency (`lat`, a file of every network's latency); a file without the
/// network's key is an error.
pub fn lookup_with_latency(
    bench: &dyn Benchmark,
    arch: &Arch,
    lat: &crate::latency::NetworkLatencies,
) -> Result<Lookup> {
    let mut found = lookup(bench, arch)?;
    let ms = lat.get(&found.key).ok_or_else(|| {
        Error::Data(format!(
            "the latency file of {} has no entry for key {}",
            lat.benchmark, found.key
        ))
    })?;
    let (percentile, band_size) = latency_percentile(bench, lat, ms, found.mean_acc);
    found.latency = Some(LatencyLookup {
        ms,
        percentile,
        band_size,
    });
    Ok(found)
}

/// The benchmark's distinct networks: each with every key that describes it, in key order.
pub fn distinct_networks(bench: &dyn Benchmark) -> Result<Vec<(Vec<String>, Arch)>> {
    let plan = bench.plan();
    let mut by_network: std::collections::BTreeMap<String, (Vec<String>, Arch)> =
        std::collections::BTreeMap::new();
    for key in bench.keys() {
        let arch = plan.derive(&bench.picks(key)?)?;
        by_network
            .entry(arch.network_key())
            .or_insert_with(|| (Vec::new(), arch))
            .0
            .push(key.clone());
    }
    let mut v: Vec<_> = by_network.into_values().collect();
    v.iter_mut().for_each(|(keys, _)| keys.sort());
    v.sort_by(|a, b| a.0[0].cmp(&b.0[0]));
    Ok(v)
}

/// The benchmark key(s) of an architecture, its accuracy and its percentile within ±5 %
/// of its FLOPs.
pub fn lookup(bench: &dyn Benchmark, arch: &Arch) -> Result<Lookup> {
    let target = arch.layout()?.without_identities();
    let plan = bench.plan();
    let mut keys = Vec::new();
    for key in bench.keys() {
        let derived = plan.derive(&bench.picks(key)?)?;
        if derived.input_size == arch.input_size && derived.layout()?.without_identities() == target
        {
            keys.push(key.clone());
        }
    }
    keys.sort();
    let Some(key) = keys.first().cloned() else {
        return Err(Error::NotInSpace {
            arch: arch.name.as_deref().unwrap_or("(unnamed)").into(),
            space: format!("a network of {}", bench.name()),
            reason: format!(
                "its input size, stem, blocks or head differ from every one of its {} networks",
                bench.keys().len()
            ),
        });
    };
    let e = bench.entry(&key).expect("keys come from the benchmark");
    let (percentile, band_size) = percentile(bench, e.flops, e.mean_acc);
    Ok(Lookup {
        mean_acc: e.mean_acc,
        flops: e.flops,
        params: e.params,
        percentile,
        band_size,
        same_as: keys[1..].to_vec(),
        key,
        latency: None,
    })
}
