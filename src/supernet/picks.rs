//! The inverse of derivation: the picks (one option per choice) that derive a given
//! architecture, so that any architecture of the space, searched, sampled, random or
//! written by hand, can be scored with the supernet's inherited weights.

use super::plan::{Options, Plan};
use crate::arch::{Arch, BlockLayout, IrLayout};
use crate::error::{Error, Result};

impl Plan {
    /// Picks `p` with `derive(p)` the same network as `arch` (same layout and input size).
    ///
    /// Picks recorded in the architecture's provenance (`"picks"`, written by `derive`
    /// and `random`) are used when they derive it. Otherwise they are reconstructed:
    /// where a stage keeps `k` of its skippable blocks, the first `k` are kept (every
    /// block after the first has the same options, so the network is the same; the
    /// supernet weights it inherits are those of the kept positions).
    pub fn picks_for(&self, arch: &Arch) -> Result<Vec<usize>> {
        let target = arch.layout()?;
        let derives = |p: &[usize]| -> Result<bool> {
            let a = self.derive(p)?;
            Ok(a.input_size == arch.input_size && a.layout()? == target)
        };
        let recorded: Option<Vec<usize>> = arch
            .provenance
            .as_ref()
            .and_then(|v| v.get("picks"))
            .and_then(|v| serde_json::from_value(v.clone()).ok());
        if let Some(p) = recorded
            && self.check_picks(&p).is_ok()
            && derives(&p)?
        {
            return Ok(p);
        }
        let not_in_space = |why: String| {
            Error::Other(format!(
                "architecture {} is not in search space {}: {why}",
                arch.name.as_deref().unwrap_or("(unnamed)"),
                self.space.name.as_deref().unwrap_or("(unnamed)")
            ))
        };
        let mut picks = vec![0; self.choices.len()];
        set(&mut picks, &self.resolution, arch.input_size)
            .ok_or_else(|| not_in_space(format!("input size {}", arch.input_size)))?;
        let blocks: Vec<&IrLayout> = target
            .blocks
            .iter()
            .map(|b| match b {
                BlockLayout::Ir(l) => Some(l),
                BlockLayout::Skip { .. } => None,
            })
            .collect::<Option<_>>()
            .ok_or_else(|| {
                not_in_space("it has skip blocks (a searched skip is left out, not written)".into())
            })?;
        if !self.assign_stage(0, &blocks, &mut picks) {
            return Err(not_in_space(
                "no assignment of its blocks to the stages' options".into(),
            ));
        }
        if !derives(&picks)? {
            return Err(not_in_space(
                "stem, head or block inputs differ from the space".into(),
            ));
        }
        Ok(picks)
    }

    /// Assign `blocks` (the architecture's blocks from stage `s` on) to the plan's stages
    /// `s..`, trying the longest run of kept blocks first; backtracks on failure.
    fn assign_stage(&self, s: usize, blocks: &[&IrLayout], picks: &mut Vec<usize>) -> bool {
        let Some(width) = self.stage_out.get(s) else {
            return blocks.is_empty();
        };
        let stage: Vec<_> = self.blocks.iter().filter(|b| b.stage == s).collect();
        let Some(first) = blocks.first() else {
            return false;
        };
        let saved = picks.clone();
        for kept in (1..=stage.len().min(blocks.len())).rev() {
            let fits = set(picks, width, first.c_out).is_some()
                && stage.iter().enumerate().all(|(j, b)| {
                    if j >= kept {
                        // Skipped: only blocks that offer skip (never the first).
                        return b.skip
                            && b.op_choice.is_some_and(|c| {
                                picks[c] = b.branches.len();
                                true
                            });
                    }
                    let l = blocks[j];
                    let op = b
                        .branches
                        .iter()
                        .position(|br| br.kernel == l.kernel && br.se == l.se.is_some());
                    l.c_out == first.c_out
                        && l.stride == b.stride
                        && set(picks, &b.mid, l.mid).is_some()
                        && op.is_some_and(|t| match b.op_choice {
                            Some(c) => {
                                picks[c] = t;
                                true
                            }
                            None => t == 0,
                        })
                });
            if fits && self.assign_stage(s + 1, &blocks[kept..], picks) {
                return true;
            }
            picks.clone_from(&saved);
        }
        false
    }
}

/// Set the pick of `opts` to the option with value `v`; `None` when no option has it.
fn set(picks: &mut [usize], opts: &Options<usize>, v: usize) -> Option<()> {
    let i = opts.values.iter().position(|&x| x == v)?;
    match opts.choice {
        Some(c) => picks[c] = i,
        None if i != 0 => return None,
        None => {}
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use rand::{SeedableRng, rngs::StdRng};

    use super::*;
    use crate::space::Space;

    fn plan() -> Plan {
        let text = include_str!("../../configs/cifar10.json");
        Plan::new(&Space::from_json(text).expect("the shipped space parses"))
    }

    #[test]
    fn picks_for_inverts_derive_on_random_architectures() {
        let plan = plan();
        let mut rng = StdRng::seed_from_u64(7);
        let mut skipped_some = false;
        for _ in 0..300 {
            let picks = plan.random_picks(&mut rng);
            let arch = plan.derive(&picks).unwrap();
            skipped_some |= arch.blocks.len() < plan.blocks.len();
            let back = plan.picks_for(&arch).unwrap();
            let again = plan.derive(&back).unwrap();
            assert_eq!(again.layout().unwrap(), arch.layout().unwrap());
            assert_eq!(again.input_size, arch.input_size);
        }
        assert!(skipped_some, "the draws should include skipped blocks");
    }

    #[test]
    fn recorded_picks_are_used_and_foreign_architectures_rejected() {
        let plan = plan();
        // Skip block 1 of stage 2 but keep block 2: the reconstruction would keep block 1.
        let mut rng = StdRng::seed_from_u64(3);
        let (picks, arch) = loop {
            let p = plan.random_picks(&mut rng);
            let skips = |i: usize| {
                let b = &plan.blocks[i];
                b.op_choice.is_some_and(|c| p[c] == b.branches.len())
            };
            let (b1, b2) = (
                plan.blocks
                    .iter()
                    .position(|b| b.stage == 2 && b.index == 1),
                plan.blocks
                    .iter()
                    .position(|b| b.stage == 2 && b.index == 2),
            );
            if skips(b1.unwrap()) && !skips(b2.unwrap()) {
                break (p.clone(), plan.derive(&p).unwrap());
            }
        };
        let rebuilt = plan.picks_for(&arch).unwrap();
        assert_ne!(rebuilt, picks, "reconstruction keeps the first blocks");
        let mut recorded = arch.clone();
        recorded.provenance = Some(serde_json::json!({ "picks": picks }));
        assert_eq!(plan.picks_for(&recorded).unwrap(), picks);
        // Picks that do not derive the file are ignored, not trusted.
        let mut wrong = arch.clone();
        wrong.provenance = Some(serde_json::json!({ "picks": vec![0; picks.len()] }));
        assert_eq!(plan.picks_for(&wrong).unwrap(), rebuilt);

        let mut wider = arch.clone();
        wider.blocks[0].out = 24;
        let err = plan.picks_for(&wider).unwrap_err().to_string();
        assert!(err.contains("not in search space"), "{err}");
        let mut small = arch;
        small.input_size = 31;
        assert!(plan.picks_for(&small).is_err());
    }
}
