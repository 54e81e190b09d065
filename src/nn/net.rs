//! The fixed network an architecture file describes.

use burn::module::Module;
use burn::nn::BatchNorm;
use burn::tensor::{Device, Tensor};

use super::conv_bn::{ConvBnAct, ConvBnActConfig};
use super::head::{Head, HeadConfig};
use super::ir_block::{IrBlock, IrBlockConfig};
use crate::arch::{Arch, BlockLayout, Layout};
use crate::error::Result;

/// A block of a fixed network.
#[derive(Module, Debug)]
pub enum FixedBlock {
    /// An inverted-residual block.
    Ir(IrBlock),
    /// 1×1 conv (stride) → BN → act where the shape changes.
    Projection(ConvBnAct),
    /// An identity skip (same width, stride 1).
    Identity(burn::nn::Identity),
}

impl FixedBlock {
    /// Apply the block.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            FixedBlock::Ir(b) => b.forward(x),
            FixedBlock::Projection(p) => p.forward(x),
            FixedBlock::Identity(_) => x,
        }
    }
}

/// A part of a network as a latency piece sees it: the exported graph's input
/// normalisation, the stem, block i, or the head with the classifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// The input normalisation (of an exported graph).
    Input,
    /// The stem.
    Stem,
    /// Block i of the layout.
    Block(usize),
    /// The head and the classifier.
    Head,
}

/// stem → blocks → head → classifier; runs at any input size.
#[derive(Module, Debug)]
pub struct FixedNet {
    /// The stem: k×k conv → BN → act.
    pub stem: ConvBnAct,
    /// The blocks, in order.
    pub blocks: Vec<FixedBlock>,
    /// The head and the classifier.
    pub head: Head,
}

impl FixedNet {
    /// Build the network of a validated architecture.
    pub fn new(arch: &Arch, device: &Device) -> Result<Self> {
        Ok(Self::from_layout(&arch.layout()?, device))
    }

    /// Build the network of a resolved layout.
    pub fn from_layout(l: &Layout, device: &Device) -> Self {
        let stem = ConvBnActConfig::new(l.in_channels, l.stem_out)
            .with_kernel(l.stem_kernel)
            .with_stride(l.stem_stride)
            .with_bias(l.stem_bias)
            .with_act(Some(l.stem_act))
            .init(device);
        let blocks = l
            .blocks
            .iter()
            .map(|b| match b {
                BlockLayout::Ir(b) => FixedBlock::Ir(
                    IrBlockConfig::new(
                        b.c_in,
                        b.mid,
                        b.c_out,
                        b.kernel,
                        b.stride,
                        b.act,
                        b.has_pw(),
                        b.has_residual(),
                    )
                    .with_se(b.se)
                    .init(device),
                ),
                b @ BlockLayout::Skip {
                    c_in,
                    c_out,
                    stride,
                    act,
                } if b.is_projection() => FixedBlock::Projection(
                    ConvBnActConfig::new(*c_in, *c_out)
                        .with_stride(*stride)
                        .with_act(Some(*act))
                        .init(device),
                ),
                BlockLayout::Skip { .. } => FixedBlock::Identity(burn::nn::Identity::new()),
            })
            .collect();
        let h = &l.head;
        let head = HeadConfig::new(h.op, h.c_in, h.mid, h.out, l.num_classes, h.act)
            .with_dropout(l.dropout)
            .init(device);
        FixedNet { stem, blocks, head }
    }

    /// Every BN layer, stem to head.
    pub fn batch_norms_mut(&mut self) -> Vec<&mut BatchNorm> {
        let mut bns = vec![&mut self.stem.bn];
        for b in &mut self.blocks {
            match b {
                FixedBlock::Ir(b) => {
                    if let Some(pw) = &mut b.pw {
                        bns.push(&mut pw.bn);
                    }
                    bns.push(&mut b.dw.bn);
                    bns.push(&mut b.pwl.bn);
                }
                FixedBlock::Projection(p) => bns.push(&mut p.bn),
                FixedBlock::Identity(_) => {}
            }
        }
        if let Some(pw) = &mut self.head.pw {
            bns.push(&mut pw.bn);
        }
        bns
    }

    /// Set the running-statistics momentum of every BN layer (BN re-estimation averages
    /// batch k with 1 / (k + 1)).
    pub fn set_bn_momentum(&mut self, momentum: f64) {
        for bn in self.batch_norms_mut() {
            bn.momentum = momentum;
        }
    }

    /// Logits [N, classes] of images [N, C, H, W].
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let x = self
            .blocks
            .iter()
            .fold(self.stem.forward(x), |x, b| b.forward(x));
        self.head.forward(x)
    }
}
