//! Channel-Bench-Macro (Su et al., BCNet; github xiusu/Channel-Bench-Macro), its MobileNet
//! half: the CIFAR-10 accuracy of all 4^7 width choices of a MobileNetV2-style network,
//! `configs/channel_bench_macro_mobilenet.json` in our format. Its results file has no
//! licence, so it is not shipped: pass its path. A key is one digit `1`-`4` per layer,
//! the layer's width as a quarter of its largest, in the benchmark's layer order: stem,
//! the hidden widths of blocks 1-3, the second stage's width, block 4's hidden width, head.

use std::collections::HashMap;

use super::{Benchmark, Entry, read_entries};
use crate::error::{Error, Result};
use crate::space::Space;
use crate::supernet::Plan;

/// Our description of the benchmark's space.
pub const SPACE: &str = include_str!("../../configs/channel_bench_macro_mobilenet.json");

/// For each of our choices (stem, stage-0 hidden ×2, stage-1 width, stage-1 hidden ×2,
/// head), the position of its digit in a key.
const DIGIT_OF_CHOICE: [usize; 7] = [0, 1, 2, 4, 3, 5, 6];

/// Channel-Bench-Macro's MobileNet results, loaded from its file (`Results_MobileNet.json`).
pub struct ChannelBenchMacro {
    plan: Plan,
    keys: Vec<String>,
    entries: HashMap<String, Entry>,
}

fn is_key(k: &str) -> bool {
    k.len() == DIGIT_OF_CHOICE.len() && k.bytes().all(|b| (b'1'..=b'4').contains(&b))
}

impl ChannelBenchMacro {
    /// Parse the results JSON (`{"4432214": {"acc": [...], "mean": ..., "std": ...,
    /// "params": ..., "flops": ...}, ...}`); `what` names it in errors.
    pub fn from_json(text: &str, what: &str) -> Result<Self> {
        let format = "Channel-Bench-Macro";
        let (keys, entries) = read_entries(text, what, format, "7 digits 1-4", is_key)?;
        Ok(ChannelBenchMacro {
            plan: Plan::new(&Space::from_json(SPACE)?),
            keys,
            entries,
        })
    }
}

impl Benchmark for ChannelBenchMacro {
    fn name(&self) -> &str {
        "Channel-Bench-Macro (MobileNet)"
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
        if !is_key(key) {
            return Err(Error::Config(format!(
                "{key:?} is not a Channel-Bench-Macro key (7 digits 1-4)"
            )));
        }
        let digits = key.as_bytes();
        Ok(DIGIT_OF_CHOICE
            .iter()
            .map(|&d| usize::from(digits[d] - b'1'))
            .collect())
    }
    fn key(&self, picks: &[usize]) -> Result<String> {
        self.plan.check_picks(picks)?;
        let mut digits = [b'1'; 7];
        for (c, &d) in DIGIT_OF_CHOICE.iter().enumerate() {
            digits[d] = b'1' + picks[c] as u8;
        }
        Ok(String::from_utf8(digits.to_vec()).expect("ASCII digits"))
    }
}
