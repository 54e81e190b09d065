//! The pieces a network's latency is summed from, each named by a key as the network
//! builder sees the layer: the input normalisation, the stem, every block that runs (an
//! identity skip runs nothing) and the head, each with its input size.

use crate::arch::{Act, Arch, BlockLayout, HeadOp, Layout, conv_out};
use crate::error::Result;
pub use crate::nn::Part;
use crate::supernet::Plan;

/// One timed piece of a network, at its input size (`h`: the side of its square input).
#[derive(Clone, Debug, PartialEq)]
pub enum Piece {
    /// The graph's input normalisation `(image − mean) / std` on `c` × `h` × `h`.
    Input {
        /// Image channels.
        c: usize,
        /// Input side.
        h: usize,
    },
    /// The stem: k×k conv (stride, bias) → act.
    Stem {
        /// Image channels.
        c_in: usize,
        /// Output channels.
        c_out: usize,
        /// Kernel.
        kernel: usize,
        /// Stride.
        stride: usize,
        /// Activation.
        act: Act,
        /// The conv has a bias.
        bias: bool,
        /// Input side.
        h: usize,
    },
    /// A block that runs: an inverted residual or a projecting skip.
    Block {
        /// Its layout (widths, kernel, stride, SE, activation; a residual where stride 1
        /// and widths agree).
        layout: BlockLayout,
        /// Input side.
        h: usize,
    },
    /// The head and the classifier.
    Head {
        /// Head kind.
        op: HeadOp,
        /// Input channels.
        c_in: usize,
        /// Width before the pool.
        mid: usize,
        /// `ir_pool`'s post-pool width.
        out: usize,
        /// Classifier outputs.
        classes: usize,
        /// Activation.
        act: Act,
        /// Input side.
        h: usize,
    },
}

fn act(a: Act) -> &'static str {
    match a {
        Act::Relu => "relu",
        Act::Hswish => "hswish",
        Act::None => "none",
    }
}

impl Piece {
    /// The key of the piece in a latency table, e.g.
    /// `ir in=16 mid=48 out=24 k=3 s=2 se=0 act=relu res=0 h=32`.
    pub fn key(&self) -> String {
        match self {
            Piece::Input { c, h } => format!("input c={c} h={h}"),
            Piece::Stem {
                c_in,
                c_out,
                kernel,
                stride,
                act: a,
                bias,
                h,
            } => format!(
                "stem in={c_in} out={c_out} k={kernel} s={stride} act={} bias={} h={h}",
                act(*a),
                *bias as u8
            ),
            Piece::Block {
                layout: BlockLayout::Ir(b),
                h,
            } => format!(
                "ir in={} mid={} out={} k={} s={} se={} act={} res={} h={h}",
                b.c_in,
                b.mid,
                b.c_out,
                b.kernel,
                b.stride,
                b.se.unwrap_or(0),
                act(b.act),
                b.has_residual() as u8
            ),
            Piece::Block {
                layout:
                    BlockLayout::Skip {
                        c_in,
                        c_out,
                        stride,
                        act: a,
                    },
                h,
            } => format!(
                "proj in={c_in} out={c_out} s={stride} act={} h={h}",
                act(*a)
            ),
            Piece::Head {
                op,
                c_in,
                mid,
                out,
                classes,
                act: a,
                h,
            } => format!(
                "head {} in={c_in} mid={mid} out={out} classes={classes} act={} h={h}",
                match op {
                    HeadOp::IrPool => "ir_pool",
                    HeadOp::Conv => "conv",
                },
                act(*a)
            ),
        }
    }

    /// The channels and side of the piece's input.
    pub fn input(&self) -> (usize, usize) {
        match self {
            Piece::Input { c, h } => (*c, *h),
            Piece::Stem { c_in, h, .. } => (*c_in, *h),
            Piece::Block {
                layout: BlockLayout::Ir(b),
                h,
            } => (b.c_in, *h),
            Piece::Block {
                layout: BlockLayout::Skip { c_in, .. },
                h,
            } => (*c_in, *h),
            Piece::Head { c_in, h, .. } => (*c_in, *h),
        }
    }

    /// The kind of piece: `input`, `stem`, `ir`, `proj` or `head` (its key's first word).
    pub fn kind(&self) -> &'static str {
        match self {
            Piece::Input { .. } => "input",
            Piece::Stem { .. } => "stem",
            Piece::Block {
                layout: BlockLayout::Ir(_),
                ..
            } => "ir",
            Piece::Block { .. } => "proj",
            Piece::Head { .. } => "head",
        }
    }
}

/// Every piece of a network that runs, in order, with its part: the input, the stem, each
/// block but identity skips, the head.
pub fn pieces_of_layout(l: &Layout, input_size: usize) -> Vec<(Part, Piece)> {
    let mut v = vec![
        (
            Part::Input,
            Piece::Input {
                c: l.in_channels,
                h: input_size,
            },
        ),
        (
            Part::Stem,
            Piece::Stem {
                c_in: l.in_channels,
                c_out: l.stem_out,
                kernel: l.stem_kernel,
                stride: l.stem_stride,
                act: l.stem_act,
                bias: l.stem_bias,
                h: input_size,
            },
        ),
    ];
    let mut h = conv_out(input_size, l.stem_kernel, l.stem_stride);
    for (i, b) in l.blocks.iter().enumerate() {
        let runs = matches!(b, BlockLayout::Ir(_)) || b.is_projection();
        if runs {
            v.push((
                Part::Block(i),
                Piece::Block {
                    layout: b.clone(),
                    h,
                },
            ));
        }
        let k = match b {
            BlockLayout::Ir(ir) => ir.kernel,
            BlockLayout::Skip { .. } => 1,
        };
        h = conv_out(h, k, b.stride());
    }
    let hd = &l.head;
    v.push((
        Part::Head,
        Piece::Head {
            op: hd.op,
            c_in: hd.c_in,
            mid: hd.mid,
            out: hd.out,
            classes: l.num_classes,
            act: hd.act,
            h,
        },
    ));
    v
}

/// Every piece of `arch` that runs ([`pieces_of_layout`]).
pub fn pieces_of(arch: &Arch) -> Result<Vec<(Part, Piece)>> {
    Ok(pieces_of_layout(&arch.layout()?, arch.input_size))
}

/// A piece of a space, with a network that runs it.
#[derive(Clone, Debug)]
pub struct SpacePiece {
    /// The piece's key.
    pub key: String,
    /// The picks of a network of the space that runs it.
    pub picks: Vec<usize>,
    /// Where it runs in that network.
    pub part: Part,
    /// The piece.
    pub piece: Piece,
}

/// Every piece any network of a space can run, each once (by key), with picks of a network
/// that runs it: for each block, every combination of the choices its piece depends on
/// (resolution, its input and output widths, its expansion and op), the other choices at
/// their first option; the stem and the head likewise over resolution and their widths.
/// Tested against every network of a small space.
pub fn pieces_of_space(plan: &Plan) -> Result<Vec<SpacePiece>> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let resolution = plan.resolution.choice;
    for b in &plan.blocks {
        groups.push(
            [
                resolution,
                b.c_in.choice,
                b.c_out.choice,
                b.mid.choice,
                b.op_choice,
            ]
            .into_iter()
            .flatten()
            .collect(),
        );
    }
    groups.push(
        [resolution, plan.stem_out.choice]
            .into_iter()
            .flatten()
            .collect(),
    );
    groups.push(
        [resolution, plan.head.c_in.choice, plan.head.mid.choice]
            .into_iter()
            .flatten()
            .collect(),
    );
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for mut group in groups {
        group.sort_unstable();
        group.dedup();
        let mut picks = vec![0; plan.choices.len()];
        'combos: loop {
            for (part, piece) in pieces_of(&plan.derive(&picks)?)? {
                let key = piece.key();
                if seen.insert(key.clone()) {
                    out.push(SpacePiece {
                        key,
                        picks: picks.clone(),
                        part,
                        piece,
                    });
                }
            }
            for &c in &group {
                picks[c] += 1;
                if picks[c] < plan.choices[c].options.len() {
                    continue 'combos;
                }
                picks[c] = 0;
            }
            break;
        }
    }
    Ok(out)
}
