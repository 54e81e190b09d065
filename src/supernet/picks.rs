//! The inverse of derivation: the picks (one option per choice) that derive a given
//! architecture, so that any architecture of the space, searched, sampled, random or
//! written by hand, can be scored with the supernet's inherited weights.

use super::plan::{BlockPlan, Options, Plan};
use crate::arch::{Arch, BlockLayout, HeadOp, IrLayout};
use crate::error::{Error, Result};

impl Plan {
    /// Picks `p` with `derive(p)` the same network as `arch` (same layout and input size).
    ///
    /// Picks recorded in the architecture's provenance (`"picks"`, written by `derive`
    /// and `random`) are used when they derive it. Otherwise they are reconstructed:
    /// where a stage keeps `k` of its skippable blocks after the first, the first `k`
    /// are kept (they have the same options, so the network is the same; the supernet
    /// weights it inherits are those of the kept positions).
    pub fn picks_for(&self, arch: &Arch) -> Result<Vec<usize>> {
        // Identity skips change nothing: compare networks without them.
        let target = arch.layout()?.without_identities();
        let derives = |p: &[usize]| -> Result<bool> {
            let a = self.derive(p)?;
            Ok(a.input_size == arch.input_size && a.layout()?.without_identities() == target)
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
        let not_in_space = |why: String| Error::NotInSpace {
            arch: arch.name.as_deref().unwrap_or("(unnamed)").into(),
            space: format!(
                "in search space {}",
                self.space.name.as_deref().unwrap_or("(unnamed)")
            ),
            reason: why,
        };
        let mut picks = vec![0; self.choices.len()];
        set(&mut picks, &self.resolution, arch.input_size)
            .ok_or_else(|| not_in_space(format!("input size {}", arch.input_size)))?;
        set(&mut picks, &self.stem_out, arch.stem.out)
            .ok_or_else(|| not_in_space(format!("stem width {}", arch.stem.out)))?;
        if self.head.op == HeadOp::Conv {
            set(&mut picks, &self.head.mid, arch.head.out)
                .ok_or_else(|| not_in_space(format!("head width {}", arch.head.out)))?;
        }
        if !self.assign_stage(0, &target.blocks, arch.stem.out, &self.stem_out, &mut picks) {
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

    /// Assign `blocks` (the architecture's blocks from stage `s` on, identity skips left
    /// out; `c_in` the width entering the stage, picked from `feed`) to the plan's stages
    /// `s..`: the stage's first block is an op, a projection or an identity skip, and of
    /// the others the longest run is kept first; backtracks on failure.
    fn assign_stage(
        &self,
        s: usize,
        blocks: &[BlockLayout],
        c_in: usize,
        feed: &Options<usize>,
        picks: &mut Vec<usize>,
    ) -> bool {
        let Some(width) = self.stage_out.get(s) else {
            return blocks.is_empty();
        };
        // A stage without widths of its own keeps the width that feeds it.
        let inherits = width == feed;
        let stage: Vec<_> = self.blocks.iter().filter(|b| b.stage == s).collect();
        let saved = picks.clone();
        let skip_pick = |b: &BlockPlan, picks: &mut Vec<usize>| {
            b.skip
                && b.op_choice.is_some_and(|c| {
                    picks[c] = b.branches.len();
                    true
                })
        };
        // How the first block appears: 0 = an op, 1 = a projection, 2 = left out.
        for first in 0..3 {
            let consumed = usize::from(first < 2);
            let Some(c_out) = (match first {
                2 => Some(c_in),
                _ => blocks.first().map(BlockLayout::c_out),
            }) else {
                continue;
            };
            let head_fits = (!inherits || c_out == c_in)
                && set(picks, width, c_out).is_some()
                && match (first, blocks.first()) {
                    (0, Some(BlockLayout::Ir(l))) => op_fits(stage[0], l, picks),
                    (1, Some(b @ BlockLayout::Skip { stride, act, .. })) => {
                        b.is_projection()
                            && *stride == stage[0].stride
                            && *act == stage[0].skip_act
                            && skip_pick(stage[0], picks)
                    }
                    (2, _) => stage[0].stride == 1 && skip_pick(stage[0], picks),
                    _ => false,
                };
            if !head_fits {
                picks.clone_from(&saved);
                continue;
            }
            let rest = &blocks[consumed..];
            let after_head = picks.clone();
            for kept in (0..stage.len().min(rest.len() + 1)).rev() {
                let fits = stage[1..].iter().enumerate().all(|(j, b)| {
                    if j >= kept {
                        return skip_pick(b, picks);
                    }
                    match &rest[j] {
                        BlockLayout::Ir(l) => {
                            l.c_out == c_out && l.stride == b.stride && op_fits(b, l, picks)
                        }
                        BlockLayout::Skip { .. } => false,
                    }
                });
                if fits && self.assign_stage(s + 1, &rest[kept..], c_out, width, picks) {
                    return true;
                }
                picks.clone_from(&after_head);
            }
            picks.clone_from(&saved);
        }
        false
    }
}

/// Pick the op (and hidden width) of block `b` that gives the ir block `l`.
fn op_fits(b: &BlockPlan, l: &IrLayout, picks: &mut [usize]) -> bool {
    if l.stride != b.stride {
        return false;
    }
    let found = b.branches.iter().enumerate().find(|(_, br)| {
        br.kernel == l.kernel
            && br.se == l.se.is_some()
            && br.mid.is_none_or(|i| b.mid.values[i] == l.mid)
    });
    let Some((t, br)) = found else {
        return false;
    };
    if br.mid.is_none() && set(picks, &b.mid, l.mid).is_none() {
        return false;
    }
    match b.op_choice {
        Some(c) => {
            picks[c] = t;
            true
        }
        None => t == 0,
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
