//! Ranking fidelity: does the supernet rank networks as a tabular benchmark does? About a
//! hundred of the benchmark's networks get one-shot scores ([`oneshot::score`]); Kendall's
//! τ against their benchmark accuracy is taken over all of them and inside the ±5 % FLOP
//! band around the middle of the range, each beside the τ of "more FLOPs is better".

use std::collections::BTreeMap;

use rand::seq::SliceRandom;
use rand::{SeedableRng, rngs::StdRng};
use serde::Serialize;

use super::oneshot;
use crate::benchmark::{Benchmark, in_band};
use crate::data::ImageData;
use crate::error::{Error, Result};
use crate::supernet::Supernet;

/// One benchmark network and its scores.
#[derive(Clone, Debug, Serialize)]
pub struct Scored {
    /// The smallest key of the network (others describe it too).
    pub key: String,
    /// Benchmark FLOPs.
    pub flops: u64,
    /// Benchmark accuracy: the mean over every key that describes the network.
    pub benchmark_acc: f64,
    /// Keys averaged into `benchmark_acc`.
    pub keys: usize,
    /// One-shot top-1 with inherited weights, in [0, 1].
    pub oneshot_top1: f64,
    /// Within the FLOP band around the middle of the range (drawn there, or a spread
    /// pick that falls in it).
    pub in_band: bool,
}

/// Kendall's τ of the one-shot scores and of FLOPs, against the benchmark accuracy.
#[derive(Clone, Debug, Serialize)]
pub struct Taus {
    /// Networks compared.
    pub networks: usize,
    /// Kendall tau-b of the one-shot scores against the benchmark accuracy.
    pub oneshot: f64,
    /// The baseline: ranking by FLOPs (more is better).
    pub flops: f64,
}

/// The fidelity report.
#[derive(Clone, Debug, Serialize)]
pub struct Fidelity {
    /// Over every scored network.
    pub overall: Taus,
    /// Over the networks inside the ±5 % band around the middle budget.
    pub band: Taus,
    /// Centre of the band, benchmark FLOPs: the middle of the benchmark's range.
    pub band_centre: u64,
    /// Every scored network.
    pub networks: Vec<Scored>,
}

/// Kendall's τ-b of two equally long samples (ties in either count as neither).
pub fn kendall_tau(a: &[f64], b: &[f64]) -> f64 {
    let (mut s, mut ties_a, mut ties_b, mut n0) = (0i64, 0i64, 0i64, 0i64);
    for i in 0..a.len() {
        for j in i + 1..a.len() {
            n0 += 1;
            let (da, db) = (a[i] - a[j], b[i] - b[j]);
            if da == 0.0 {
                ties_a += 1;
            }
            if db == 0.0 {
                ties_b += 1;
            }
            s += ((da * db).signum()) as i64 * i64::from(da != 0.0 && db != 0.0);
        }
    }
    let d = (((n0 - ties_a) * (n0 - ties_b)) as f64).sqrt();
    if d == 0.0 { 0.0 } else { s as f64 / d }
}

/// A benchmark's distinct networks: (smallest key, FLOPs, mean accuracy over its keys,
/// key count), sorted by FLOPs.
fn networks(bench: &dyn Benchmark) -> Result<Vec<(String, u64, f64, usize)>> {
    let plan = bench.plan();
    let mut by_network: BTreeMap<String, Vec<&String>> = BTreeMap::new();
    for key in bench.keys() {
        let arch = plan.derive(&bench.picks(key)?)?;
        by_network.entry(arch.network_key()).or_default().push(key);
    }
    let mut out: Vec<_> = by_network
        .into_values()
        .map(|mut keys| {
            keys.sort();
            let entries: Vec<_> = keys.iter().filter_map(|k| bench.entry(k)).collect();
            let acc = entries.iter().map(|e| e.mean_acc).sum::<f64>() / entries.len() as f64;
            (keys[0].clone(), entries[0].flops, acc, keys.len())
        })
        .collect();
    out.sort_by(|x, y| (x.1, &x.0).cmp(&(y.1, &y.0)));
    Ok(out)
}

/// Score `n` networks of `bench` with the supernet `net` (whose space must be the
/// benchmark's): n/2 at evenly spaced FLOP ranks, n/2 drawn (seeded) from the band
/// `centre · (1 ± BAND)`, `centre` the middle of the FLOP range. `scored` sees each
/// network as it is done. `bilateral`: score both sides of each network
/// ([`oneshot::score`]).
#[allow(clippy::too_many_arguments)]
pub fn fidelity(
    net: &Supernet,
    bilateral: bool,
    bench: &dyn Benchmark,
    n: usize,
    seed: u64,
    calibration: &dyn ImageData,
    batch_size: usize,
    test: &dyn ImageData,
    mut scored: impl FnMut(usize, usize, &Scored),
) -> Result<Fidelity> {
    if net.plan.space != bench.plan().space {
        return Err(Error::Config(format!(
            "the run's space ({}) is not the benchmark's ({})",
            net.plan.space.name.as_deref().unwrap_or("unnamed"),
            bench.name()
        )));
    }
    if n < 4 {
        return Err(Error::Config(format!("need at least 4 networks, got {n}")));
    }
    let all = networks(bench)?;
    let (lo, hi) = (all[0].1, all[all.len() - 1].1);
    let centre = (lo + hi) / 2;
    let half = n / 2;
    let mut chosen: Vec<usize> = (0..half)
        .map(|i| i * (all.len() - 1) / (half - 1).max(1))
        .collect();
    let mut band: Vec<usize> = (0..all.len())
        .filter(|&i| in_band(all[i].1, centre) && !chosen.contains(&i))
        .collect();
    band.shuffle(&mut StdRng::seed_from_u64(seed));
    chosen.extend(band.into_iter().take(n - half));
    let mut rows = Vec::with_capacity(chosen.len());
    for (done, &i) in chosen.iter().enumerate() {
        let (key, flops, acc, keys) = &all[i];
        let ev = oneshot::score(
            net,
            &bench.picks(key)?,
            bilateral,
            calibration,
            batch_size,
            test,
        )?;
        let row = Scored {
            key: key.clone(),
            flops: *flops,
            benchmark_acc: *acc,
            keys: *keys,
            oneshot_top1: ev.top1,
            in_band: in_band(*flops, centre),
        };
        scored(done + 1, chosen.len(), &row);
        rows.push(row);
    }
    let taus = |rows: &[&Scored]| {
        let truth: Vec<f64> = rows.iter().map(|r| r.benchmark_acc).collect();
        let score: Vec<f64> = rows.iter().map(|r| r.oneshot_top1).collect();
        let flops: Vec<f64> = rows.iter().map(|r| r.flops as f64).collect();
        Taus {
            networks: rows.len(),
            oneshot: kendall_tau(&score, &truth),
            flops: kendall_tau(&flops, &truth),
        }
    };
    let everything: Vec<&Scored> = rows.iter().collect();
    let banded: Vec<&Scored> = rows.iter().filter(|r| r.in_band).collect();
    Ok(Fidelity {
        overall: taus(&everything),
        band: taus(&banded),
        band_centre: centre,
        networks: rows,
    })
}

#[cfg(test)]
mod tests {
    use super::kendall_tau;

    #[test]
    fn kendall_tau_counts_concordant_and_discordant_pairs() {
        assert_eq!(kendall_tau(&[1.0, 2.0, 3.0], &[10.0, 20.0, 30.0]), 1.0);
        assert_eq!(kendall_tau(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]), -1.0);
        // Pairs (1,2) +, (1,3) +, (2,3) −: (2 − 1) / 3.
        assert!((kendall_tau(&[1.0, 2.0, 3.0], &[1.0, 3.0, 2.0]) - 1.0 / 3.0).abs() < 1e-12);
        // τ-b with a tie in a: C = 2, D = 0, n0 = 3, ties_a = 1: 2 / sqrt(2 · 3).
        let t = kendall_tau(&[1.0, 1.0, 2.0], &[1.0, 2.0, 3.0]);
        assert!((t - 2.0 / 6f64.sqrt()).abs() < 1e-12);
    }
}
