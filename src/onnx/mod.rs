//! ONNX export of a fixed network: `image` float32 [N, C, H, W] (RGB scaled to [0, 1])
//! in, `logits` [N, classes] out, the input normalisation inside the graph.
//!
//! The network is lowered by walking [`FixedNet`]'s modules, not by tracing a backend, so
//! the export is the same whichever backend and kernels the weights were trained on. Each
//! BN is folded into the convolution before it (inference BN is an affine map):
//! W' = W · γ/√(σ² + ε), b' = β + (b − μ) · γ/√(σ² + ε). Opset 17 (HardSwish exists from
//! opset 14); the batch dimension is dynamic, height and width are fixed to the input size.

mod lower;
mod proto;

use prost::Message;

use crate::arch::Arch;
use crate::data::{IMAGENET_MEAN, IMAGENET_STD, Transform};
use crate::error::{Error, Result};
use crate::nn::FixedNet;

/// The opset the exported graph imports.
pub const OPSET: i64 = 17;

/// The graph's input normalisation: `(image − mean[c]) / std[c]`, image in [0, 1].
#[derive(Clone, Debug, PartialEq)]
pub struct Normalization {
    /// Per-channel mean.
    pub mean: Vec<f32>,
    /// Per-channel standard deviation (positive).
    pub std: Vec<f32>,
}

impl Normalization {
    /// ImageNet's (torchvision's) mean and std, what the zoo models expect.
    pub fn imagenet() -> Self {
        Normalization {
            mean: IMAGENET_MEAN.to_vec(),
            std: IMAGENET_STD.to_vec(),
        }
    }
}

impl From<&Transform> for Normalization {
    fn from(t: &Transform) -> Self {
        Normalization {
            mean: t.mean.clone(),
            std: t.std.clone(),
        }
    }
}

/// The ONNX model (serialised `ModelProto`) of `net`, the network of `arch`, with the input
/// normalisation `norm` inside the graph.
///
/// ```
/// use dmasking::prelude::*;
/// use dmasking::nn::FixedNet;
/// use dmasking::onnx::{Normalization, to_onnx};
///
/// let arch = dmasking::zoo::get("f1")?;
/// let net = FixedNet::new(&arch, &Device::default())?;
/// let bytes = to_onnx(&net, &arch, &Normalization::imagenet())?;
/// assert!(bytes.len() > 4 * 1_000_000); // the weights are in the file
/// # Ok::<(), dmasking::Error>(())
/// ```
pub fn to_onnx(net: &FixedNet, arch: &Arch, norm: &Normalization) -> Result<Vec<u8>> {
    let c = arch.in_channels;
    if norm.mean.len() != c || norm.std.len() != c {
        return Err(Error::Config(format!(
            "the normalisation has {} means and {} stds for {c} input channels",
            norm.mean.len(),
            norm.std.len()
        )));
    }
    if norm.std.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
        return Err(Error::Config(
            "the normalisation's std must be positive and finite".into(),
        ));
    }
    let graph = lower::lower(net, arch, norm)?;
    let doc = format!(
        "{}: input `image` RGB in [0, 1], normalised inside the graph; output `logits`",
        arch.name.as_deref().unwrap_or("network")
    );
    let metadata = vec![
        meta("mean", &norm.mean),
        meta("std", &norm.std),
        proto::StringStringEntryProto {
            key: "input_size".into(),
            value: arch.input_size.to_string(),
        },
    ];
    Ok(model(graph, doc, metadata))
}

/// A serialised `ModelProto` of `graph`.
fn model(
    graph: proto::GraphProto,
    doc_string: String,
    metadata_props: Vec<proto::StringStringEntryProto>,
) -> Vec<u8> {
    proto::ModelProto {
        ir_version: 8,
        opset_import: vec![proto::OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
        }],
        producer_name: "dmasking".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string,
        graph: Some(graph),
        metadata_props,
    }
    .encode_to_vec()
}

/// What a latency piece graph ([`piece_onnx`]) runs.
#[cfg(feature = "latency")]
pub enum PieceSource<'a> {
    /// Nothing: one Identity node, the cost of a call.
    Nothing,
    /// The input normalisation.
    Input(&'a Normalization),
    /// One part of a network (lowered as [`to_onnx`] lowers it).
    Part(&'a FixedNet, crate::nn::Part),
}

/// The ONNX model of one piece alone, on input `x` [N, `c`, `h`, `h`], output `y`: the
/// graphs a latency table times.
#[cfg(feature = "latency")]
pub fn piece_onnx(what: PieceSource, c: usize, h: usize) -> Result<Vec<u8>> {
    let what = match what {
        PieceSource::Nothing => lower::PieceGraph::Nothing,
        PieceSource::Input(n) => lower::PieceGraph::Input(n),
        PieceSource::Part(net, part) => lower::PieceGraph::Part(net, part),
    };
    let graph = lower::lower_piece(what, c, h)?;
    Ok(model(graph, "a latency piece".into(), vec![]))
}

fn meta(key: &str, v: &[f32]) -> proto::StringStringEntryProto {
    let text: Vec<String> = v.iter().map(|x| x.to_string()).collect();
    proto::StringStringEntryProto {
        key: key.into(),
        value: text.join(","),
    }
}
