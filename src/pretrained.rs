//! Weights from a PyTorch state dict laid out as facebookresearch/mobile-vision's FBNetV2
//! models name their parameters (`fbnet("FBNetV2_F1", pretrained=True)`).
//!
//! mobile-vision names block b of stage s `backbone.stages.xif{s}_{b}`: the stem first,
//! the `ir_pool` head last, and between them every block (an identity skip has no
//! parameters, so no keys). Blocks are matched by position: the state dict's blocks with
//! parameters, sorted by (s, b), against the stem, this network's blocks with parameters
//! and its head. Inside a block:
//!
//! | mobile-vision | dmasking |
//! |---|---|
//! | `conv.{weight,bias}`, `bn.*` (stem) | `stem.conv`, `stem.bn` |
//! | `{pw,dw,pwl}.conv.weight`, `{pw,dw,pwl}.bn.*` | the IR block's `pw`, `dw`, `pwl` |
//! | `se.se.0.conv.{weight,bias}`, `se.se.1.{weight,bias}` | `se.reduce`, `se.expand` |
//! | `conv.conv.weight`, `conv.bn.*` (a skip that changes shape) | the projection |
//! | `pw.*`, `pwl.conv.weight` (head) | `head.pw`, `head.conv` |
//! | `head.conv.{weight,bias}` [classes, F, 1, 1] | the classifier (weight transposed to [F, classes]) |
//!
//! BN's `weight`/`bias` are γ/β; `num_batches_tracked` is ignored. A checkpoint's weights
//! are read from `model_ema` if it has them, else `state_dict`, else the file's top level,
//! with any `module.` prefix removed. Every key must be used and every parameter found, with
//! its shape: anything else is an error naming the key.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use burn::module::{Param, RunningState};
use burn::nn::BatchNorm;
use burn::nn::conv::Conv2d;
use burn::store::pytorch_reader::{DType, PytorchReader, Tensor as Stored};
use burn::tensor::{Device, Tensor, TensorData};

use crate::error::{Error, Result};
use crate::nn::{ConvBnAct, FixedBlock, FixedNet};

/// The state dict of a file: its tensors by key, `model_ema.` / `state_dict.` and
/// `module.` removed.
struct StateDict {
    path: String,
    tensors: HashMap<String, Stored>,
    used: Vec<String>,
    device: Device,
}

impl StateDict {
    fn open(path: &Path, device: &Device) -> Result<Self> {
        let reader = PytorchReader::new(path).map_err(|e| {
            Error::invalid(
                path.display().to_string(),
                format!("not a PyTorch file: {e}"),
            )
        })?;
        let all = reader.into_tensors();
        let scope = ["model_ema.", "state_dict.", "model."]
            .into_iter()
            .find(|p| all.keys().any(|k| k.starts_with(p)))
            .unwrap_or("");
        let tensors = all
            .into_iter()
            .filter_map(|(k, t)| {
                let k = k.strip_prefix(scope)?;
                Some((k.strip_prefix("module.").unwrap_or(k).to_string(), t))
            })
            .filter(|(k, _)| !k.ends_with("num_batches_tracked"))
            .collect();
        Ok(StateDict {
            path: path.display().to_string(),
            tensors,
            used: Vec::new(),
            device: device.clone(),
        })
    }

    fn error(&self, message: String) -> Error {
        Error::invalid(self.path.clone(), message)
    }

    /// Tensor `key`, which must have shape `shape`.
    fn take<const D: usize>(&mut self, key: &str, shape: [usize; D]) -> Result<Tensor<D>> {
        let t = self
            .tensors
            .get(key)
            .ok_or_else(|| self.error(format!("no tensor `{key}` (expected shape {shape:?})")))?;
        if t.shape() != shape {
            return Err(self.error(format!(
                "`{key}` has shape {:?}, the network expects {shape:?}",
                t.shape()
            )));
        }
        let bytes = t
            .read()
            .map_err(|e| self.error(format!("reading `{key}`: {e}")))?;
        let values: Vec<f32> = match t.dtype() {
            DType::F32 => bytes
                .chunks_exact(4)
                .map(|b| f32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            DType::F64 => bytes
                .chunks_exact(8)
                .map(|b| f64::from_ne_bytes(b.try_into().expect("8 bytes")) as f32)
                .collect(),
            other => {
                return Err(
                    self.error(format!("`{key}` is {other:?}; float32 or float64 expected"))
                );
            }
        };
        self.used.push(key.to_string());
        Ok(Tensor::from_data(
            TensorData::new(values, shape),
            &self.device,
        ))
    }

    fn conv(&mut self, key: &str, c: &mut Conv2d) -> Result<()> {
        c.weight = Param::from_tensor(self.take(&format!("{key}.weight"), c.weight.dims())?);
        if let Some(b) = &c.bias {
            let b = self.take(&format!("{key}.bias"), b.dims())?;
            c.bias = Some(Param::from_tensor(b));
        }
        Ok(())
    }

    fn bn(&mut self, key: &str, bn: &mut BatchNorm) -> Result<()> {
        let d = bn.gamma.dims();
        bn.gamma = Param::from_tensor(self.take(&format!("{key}.weight"), d)?);
        bn.beta = Param::from_tensor(self.take(&format!("{key}.bias"), d)?);
        bn.running_mean = RunningState::new(self.take(&format!("{key}.running_mean"), d)?);
        bn.running_var = RunningState::new(self.take(&format!("{key}.running_var"), d)?);
        Ok(())
    }

    /// `{key}.conv.*` and `{key}.bn.*` (mobile-vision's ConvBNRelu).
    fn conv_bn(&mut self, key: &str, l: &mut ConvBnAct) -> Result<()> {
        self.conv(&format!("{key}.conv"), &mut l.conv)?;
        self.bn(&format!("{key}.bn"), &mut l.bn)
    }
}

/// The blocks of the state dict with keys, `backbone.stages.xif{s}_{b}`, in (s, b) order.
fn block_prefixes(sd: &StateDict) -> Result<Vec<String>> {
    let mut blocks = BTreeMap::new();
    for k in sd.tensors.keys() {
        let Some(rest) = k.strip_prefix("backbone.stages.xif") else {
            continue;
        };
        let name = rest.split('.').next().unwrap_or("");
        let parsed = name
            .split_once('_')
            .and_then(|(s, b)| Some((s.parse::<usize>().ok()?, b.parse::<usize>().ok()?)));
        let Some(sb) = parsed else {
            return Err(sd.error(format!(
                "`{k}`: block name `xif{name}` is not xif<stage>_<block>"
            )));
        };
        blocks.insert(sb, format!("backbone.stages.xif{name}"));
    }
    Ok(blocks.into_values().collect())
}

/// `net` with the weights of the mobile-vision FBNetV2 state dict in `path` (see the module
/// docs for the layout), on `device`.
pub fn load_mobile_vision(mut net: FixedNet, path: &Path, device: &Device) -> Result<FixedNet> {
    let mut sd = StateDict::open(path, device)?;
    let blocks = block_prefixes(&sd)?;
    let with_params = net
        .blocks
        .iter()
        .filter(|b| !matches!(b, FixedBlock::Identity(_)))
        .count();
    if blocks.len() != with_params + 2 {
        return Err(sd.error(format!(
            "{} blocks with weights (backbone.stages.xif*), the architecture has {} (the stem, {with_params} blocks with parameters, the head)",
            blocks.len(),
            with_params + 2
        )));
    }
    sd.conv_bn(&blocks[0], &mut net.stem)?;
    let mut prefixes = blocks[1..].iter();
    for b in &mut net.blocks {
        match b {
            FixedBlock::Ir(b) => {
                let p = prefixes.next().expect("counted");
                if let Some(pw) = &mut b.pw {
                    sd.conv_bn(&format!("{p}.pw"), pw)?;
                }
                sd.conv_bn(&format!("{p}.dw"), &mut b.dw)?;
                if let Some(se) = &mut b.se {
                    sd.conv(&format!("{p}.se.se.0.conv"), &mut se.reduce)?;
                    sd.conv(&format!("{p}.se.se.1"), &mut se.expand)?;
                }
                sd.conv_bn(&format!("{p}.pwl"), &mut b.pwl)?;
            }
            FixedBlock::Projection(l) => {
                let p = prefixes.next().expect("counted");
                sd.conv_bn(&format!("{p}.conv"), l)?;
            }
            FixedBlock::Identity(_) => {}
        }
    }
    let p = prefixes.next().expect("counted");
    let head = &mut net.head;
    if let Some(pw) = &mut head.pw {
        sd.conv_bn(&format!("{p}.pw"), pw)?;
    }
    if let Some(conv) = &mut head.conv {
        sd.conv(&format!("{p}.pwl.conv"), conv)?;
    }
    let l = &mut head.classifier;
    let [f, classes] = l.weight.dims();
    let w: Tensor<4> = sd.take("head.conv.weight", [classes, f, 1, 1])?;
    l.weight = Param::from_tensor(w.reshape([classes, f]).transpose());
    if let Some(b) = &l.bias {
        l.bias = Some(Param::from_tensor(sd.take("head.conv.bias", b.dims())?));
    }
    let mut unused: Vec<&String> = sd.tensors.keys().filter(|k| !sd.used.contains(k)).collect();
    if !unused.is_empty() {
        unused.sort();
        let shown: Vec<&str> = unused.iter().take(5).map(|s| s.as_str()).collect();
        return Err(sd.error(format!(
            "{} tensors the architecture has no place for: {}{}",
            unused.len(),
            shown.join(", "),
            if unused.len() > 5 { ", ..." } else { "" }
        )));
    }
    Ok(net)
}
