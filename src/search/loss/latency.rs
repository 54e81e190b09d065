//! Latency as the search's cost *(ours)*: predicted from a latency table
//! ([`LatencyTable`], docs/LATENCY.md), read in ms, in µs by the loss (so the fbnet form's
//! logarithm stays positive).
//!
//! The expected latency under architecture weights g is exact: a network's latency is one
//! call plus a sum of pieces, each piece decided by a few choices (a block's by the
//! resolution, its input and output widths, its expansion and its op; the stem's by the
//! resolution and its width; the head's by the resolution and its widths), and the
//! choices' weights are independent, so
//!
//! `E[L] = call + Σ_groups Σ_{o_1..o_m} g_{c_1}[o_1] ··· g_{c_m}[o_m] · share(o_1..o_m)`,
//!
//! a multilinear contraction of each group's table of shares (built once, a constant
//! tensor per group) with its choices' weights. For one-hot g it is the table's
//! prediction of the derived network.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use burn::tensor::{Device, Tensor};

use super::{CostRange, SearchCost};
use crate::error::Result;
use crate::latency::{LatencyTable, Piece, pieces_of_layout};
use crate::search::SearchConfig;
use crate::supernet::{ArchWeights, EXTREME_LIMIT, Eff, Plan, Supernet};

/// One group of choices and the share (µs) of its piece for every combination of their
/// options, row-major in `choices` order (the last choice fastest).
#[derive(Clone, Debug)]
struct Group {
    choices: Vec<usize>,
    dims: Vec<usize>,
    shares: Vec<f32>,
}

/// Latency predicted from a table.
pub struct Latency {
    table: LatencyTable,
    path: PathBuf,
    /// The groups decided by some choice.
    groups: Vec<Group>,
    /// The call and the shares of the pieces no choice decides (µs).
    constant: f64,
    /// The groups' shares as constant tensors, built on the first device asked for.
    tensors: Mutex<Option<(Device, Vec<Tensor<1>>)>>,
}

/// Which piece of a network a group decides.
#[derive(Clone, Copy)]
enum Slot {
    Input,
    Stem,
    Block(usize),
    Head,
}

/// The piece in `slot` of the network `picks` describes (`None`: an identity skip).
fn piece_in(plan: &Plan, picks: &[usize], slot: Slot) -> Result<Option<Piece>> {
    let arch = plan.derive(picks)?;
    let pieces = pieces_of_layout(&arch.layout()?, arch.input_size);
    let find = |part: crate::nn::Part| {
        pieces
            .iter()
            .find(|(p, _)| *p == part)
            .map(|(_, piece)| piece.clone())
    };
    use crate::nn::Part;
    Ok(match slot {
        Slot::Input => find(Part::Input),
        Slot::Stem => find(Part::Stem),
        Slot::Head => find(Part::Head),
        Slot::Block(b) => {
            // Derivation leaves out identity skips: plan block b is arch block j.
            let branches = plan.branch_picks(picks);
            let runs = |i: usize| branches[i].is_some() || plan.blocks[i].projects(picks);
            if !runs(b) {
                return Ok(None);
            }
            let j = (0..b).filter(|&i| runs(i)).count();
            find(Part::Block(j))
        }
    })
}

impl Latency {
    /// The cost of the table at `path` for `plan`'s networks: every piece they can run
    /// must be in it ([`crate::error::Error::LatencyMissing`] names the first that is not).
    pub fn new(path: &Path, plan: &Plan) -> Result<Self> {
        let table = LatencyTable::read(path)?;
        let mut slots: Vec<(Slot, Vec<Option<usize>>)> = vec![
            (Slot::Input, vec![plan.resolution.choice]),
            (
                Slot::Stem,
                vec![plan.resolution.choice, plan.stem_out.choice],
            ),
        ];
        for (i, b) in plan.blocks.iter().enumerate() {
            slots.push((
                Slot::Block(i),
                vec![
                    plan.resolution.choice,
                    b.c_in.choice,
                    b.c_out.choice,
                    b.mid.choice,
                    b.op_choice,
                ],
            ));
        }
        slots.push((
            Slot::Head,
            vec![
                plan.resolution.choice,
                plan.head.c_in.choice,
                plan.head.mid.choice,
            ],
        ));
        let mut groups = Vec::new();
        let mut constant = table.call() * 1e3;
        for (slot, choices) in slots {
            let mut choices: Vec<usize> = choices.into_iter().flatten().collect();
            choices.sort_unstable();
            choices.dedup();
            let dims: Vec<usize> = choices
                .iter()
                .map(|&c| plan.choices[c].options.len())
                .collect();
            let mut picks = vec![0; plan.choices.len()];
            let mut shares = Vec::new();
            // Row-major: the last choice moves fastest.
            for index in 0..dims.iter().product::<usize>() {
                let mut rest = index;
                for (&c, &k) in choices.iter().zip(&dims).rev() {
                    picks[c] = rest % k;
                    rest /= k;
                }
                let share = match piece_in(plan, &picks, slot)? {
                    Some(piece) => table.share(&piece)? * 1e3,
                    None => 0.0,
                };
                shares.push(share as f32);
            }
            if choices.is_empty() {
                constant += shares[0] as f64;
            } else {
                groups.push(Group {
                    choices,
                    dims,
                    shares,
                });
            }
        }
        Ok(Latency {
            table,
            path: path.to_path_buf(),
            groups,
            constant,
            tensors: Mutex::new(None),
        })
    }

    /// The table.
    pub fn table(&self) -> &LatencyTable {
        &self.table
    }

    fn tensors(&self, device: &Device) -> Vec<Tensor<1>> {
        let mut cache = self
            .tensors
            .lock()
            .expect("the tensor cache is never poisoned");
        match &*cache {
            Some((d, t)) if d == device => t.clone(),
            _ => {
                let t: Vec<Tensor<1>> = self
                    .groups
                    .iter()
                    .map(|g| Tensor::<1>::from_floats(g.shares.as_slice(), device))
                    .collect();
                *cache = Some((device.clone(), t.clone()));
                t
            }
        }
    }
}

impl SearchCost for Latency {
    fn unit(&self) -> &'static str {
        "ms"
    }
    /// Raw unit: µs.
    fn scale(&self) -> f64 {
        1e3
    }
    fn loss_unit(&self) -> &'static str {
        "µs"
    }
    fn loss_scale(&self) -> f64 {
        1.0
    }
    fn budget(&self, cfg: &SearchConfig) -> Option<f64> {
        cfg.budget_ms
            .filter(|b| *b > 0.0 && b.is_finite())
            .map(|b| b * 1e3)
    }
    fn budget_setting(&self) -> &'static str {
        "budget_ms"
    }
    fn expected(&self, _net: &Supernet, g: &ArchWeights) -> Eff {
        // Only groups with choices are kept; a searched group means g has weights.
        let Some(first) = g.0.first().filter(|_| !self.groups.is_empty()) else {
            return Eff::Const(self.constant);
        };
        let mut total: Option<Tensor<1>> = None;
        for (group, shares) in self.groups.iter().zip(self.tensors(&first.device())) {
            let mut t = shares;
            for (&c, &k) in group.choices.iter().zip(&group.dims) {
                let rest = t.dims()[0] / k;
                let w = g.0[c].clone().reshape([1, k]);
                t = w.matmul(t.reshape([k, rest])).reshape([rest]);
            }
            total = Some(match total {
                Some(s) => s + t,
                None => t,
            });
        }
        Eff::Var(total.expect("a searched group").add_scalar(self.constant))
    }
    fn exact(&self, plan: &Plan, picks: &[usize]) -> Result<f64> {
        Ok(self.table.predict(&plan.derive(picks)?)?.ms * 1e3)
    }
    fn range(&self, plan: &Plan) -> Result<CostRange> {
        let cost = |p: &[usize]| self.exact(plan, p);
        Ok(CostRange {
            min: plan.extreme_by(false, EXTREME_LIMIT, &cost)?.0,
            max: plan.extreme_by(true, EXTREME_LIMIT, &cost)?.0,
        })
    }
    fn describe(&self, plan: &Plan, picks: &[usize]) -> Result<Option<serde_json::Value>> {
        let m = &self.table.measured;
        Ok(Some(serde_json::json!({
            "latency": {
                "predicted_ms": self.exact(plan, picks)? / 1e3,
                "table": self.path.display().to_string(),
                "runtime": m.runtime, "threads": m.threads, "batch": m.batch, "cpu": m.cpu,
            }
        })))
    }
}
