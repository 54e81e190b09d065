//! NAS-Bench-Macro (Su et al., CVPR 2021): the CIFAR-10 accuracy of all 3^8 networks of a
//! MobileNetV2-style space, `configs/nas_bench_macro.json` in our format. A key is one
//! digit per searched layer: `0` identity (a 1×1 projection where the shape changes),
//! `1` MB3_K3, `2` MB6_K5.

use std::collections::HashMap;
use std::path::Path;

use super::{Benchmark, Entry, read_entries};
use crate::error::{Error, Result};
use crate::space::Space;
use crate::supernet::Plan;

/// Our description of the benchmark's space.
pub const SPACE: &str = include_str!("../../configs/nas_bench_macro.json");

/// NAS-Bench-Macro loaded from its data file.
pub struct NasBenchMacro {
    plan: Plan,
    keys: Vec<String>,
    entries: HashMap<String, Entry>,
}

impl NasBenchMacro {
    /// Parse the benchmark's JSON (`{"02012100": {"mean_acc": ..., "params": ...,
    /// "flops": ...}, ...}`); `what` names it in errors.
    pub fn from_json(text: &str, what: &str) -> Result<Self> {
        let plan = Plan::new(&Space::from_json(SPACE)?);
        let ops = plan.choices.len();
        let is_key = |k: &str| k.len() == ops && k.bytes().all(|b| (b'0'..=b'2').contains(&b));
        let rule = format!("{ops} digits 0-2");
        let (keys, entries) = read_entries(text, what, "NAS-Bench-Macro", &rule, is_key)?;
        Ok(NasBenchMacro {
            plan,
            keys,
            entries,
        })
    }

    /// Read the benchmark's data file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_json(&text, &path.display().to_string())
    }
}

/// A key digit's op option: `1`, `2` are the space's two ops, `0` is skip (the last).
fn digit_to_option(d: u8) -> usize {
    match d {
        b'0' => 2,
        d => usize::from(d - b'1'),
    }
}

impl Benchmark for NasBenchMacro {
    fn name(&self) -> &str {
        "NAS-Bench-Macro"
    }
    fn plan(&self) -> &Plan {
        &self.plan
    }
    fn keys(&self) -> &[String] {
        &self.keys
    }
    fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries.get(key)
    }
    fn picks(&self, key: &str) -> Result<Vec<usize>> {
        let n = self.plan.choices.len();
        if key.len() != n || !key.bytes().all(|b| (b'0'..=b'2').contains(&b)) {
            return Err(Error::Config(format!(
                "{key:?} is not a NAS-Bench-Macro key ({n} digits 0-2)"
            )));
        }
        Ok(key.bytes().map(digit_to_option).collect())
    }
    fn key(&self, picks: &[usize]) -> Result<String> {
        self.plan.check_picks(picks)?;
        Ok(picks
            .iter()
            .map(|&p| match p {
                2 => '0',
                p => char::from(b'1' + p as u8),
            })
            .collect())
    }
}
