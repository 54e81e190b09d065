//! The structure of a supernet resolved from a search space: every choice, its options,
//! and the widths each option gives. Pure data, no tensors.

use crate::arch::{Act, HeadOp, conv_out};
use crate::divisible::{divisible, se_hidden};
use crate::space::Space;

/// What a choice decides.
#[derive(Clone, Debug, PartialEq)]
pub enum ChoiceKind {
    /// The network-wide input resolution.
    Resolution,
    /// The stem's output width.
    StemWidth,
    /// A `conv` head's width.
    HeadWidth,
    /// The output width of a stage (shared by its blocks).
    Width {
        /// Stage index.
        stage: usize,
    },
    /// The hidden width of one block.
    Expansion {
        /// Stage index.
        stage: usize,
        /// Index of the block within its stage.
        block: usize,
    },
    /// The op of one block: kernel × SE branches (or coupled ops), and skip.
    Op {
        /// Stage index.
        stage: usize,
        /// Index of the block within its stage.
        block: usize,
    },
}

/// One searched choice: its name and option labels.
#[derive(Clone, Debug, PartialEq)]
pub struct Choice {
    /// Choice name, e.g. `stage1.block0.op`.
    pub name: String,
    /// What the choice decides.
    pub kind: ChoiceKind,
    /// Option labels, one per option.
    pub options: Vec<String>,
}

/// A value that is either fixed or picked by a choice.
#[derive(Clone, Debug, PartialEq)]
pub struct Options<T> {
    /// The values, one per option.
    pub values: Vec<T>,
    /// Index into [`Plan::choices`]; `None` when there is a single value.
    pub choice: Option<usize>,
}

impl<T: Copy + PartialOrd> Options<T> {
    /// The largest value.
    pub fn max(&self) -> T {
        self.values
            .iter()
            .copied()
            .fold(self.values[0], |a, b| if b > a { b } else { a })
    }
}

/// An op branch of a block.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Branch {
    /// Depthwise kernel size.
    pub kernel: usize,
    /// The branch has squeeze-excitation.
    pub se: bool,
    /// A coupled op's own hidden width: an index into the block's `mid` values (`None`:
    /// the block's expansion choice decides).
    pub mid: Option<usize>,
}

/// One searched block.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockPlan {
    /// Stage index.
    pub stage: usize,
    /// Index of the block within its stage.
    pub index: usize,
    /// Stride (the stage's for block 0, else 1).
    pub stride: usize,
    /// Activation of the block (the stage's).
    pub act: Act,
    /// Input widths (the previous stage's widths or the stem's).
    pub c_in: Options<usize>,
    /// Hidden widths, mid_i = divisible(in_max · e_i). With coupled ops the values are
    /// the ops' hidden widths and the op choice picks among them.
    pub mid: Options<usize>,
    /// SE hidden width of each hidden-width option.
    pub se_hidden: Vec<usize>,
    /// Output widths (the stage's).
    pub c_out: Options<usize>,
    /// Kernel × SE branches (or coupled ops); the op choice has one more option, skip,
    /// when `skip`.
    pub branches: Vec<Branch>,
    /// The op choice has a `skip` option.
    pub skip: bool,
    /// Activation of the skip projection (a stage's first block, where the shape changes).
    pub skip_act: Act,
    /// Index into [`Plan::choices`] of the op choice; `None` when there is a single op.
    pub op_choice: Option<usize>,
    /// Index of the layer boundary (for resolution sizes) at this block's input.
    pub boundary: usize,
}

impl BlockPlan {
    /// The first block of a stage takes its input from elsewhere.
    pub fn is_first(&self) -> bool {
        self.index == 0
    }
    /// Some op branch has squeeze-excitation.
    pub fn has_se_branch(&self) -> bool {
        self.branches.iter().any(|b| b.se)
    }
    /// The op choice couples kernel, SE and hidden width.
    pub fn coupled(&self) -> bool {
        self.branches.iter().any(|b| b.mid.is_some())
    }
    /// Index into `mid` of the hidden width under `picks` with branch `t`.
    pub fn mid_index(&self, picks: &[usize], t: usize) -> usize {
        match self.branches.get(t).and_then(|b| b.mid) {
            Some(i) => i,
            None => self.mid.choice.map_or(0, |c| picks[c]),
        }
    }
    /// Under `picks` the block is skipped and the skip is a projection (the stride or
    /// the width changes).
    pub fn projects(&self, picks: &[usize]) -> bool {
        let skipped = self
            .op_choice
            .is_some_and(|c| picks[c] == self.branches.len());
        skipped && (self.stride != 1 || self.c_in.pick(picks) != self.c_out.pick(picks))
    }
    /// The input and output widths are equal whatever is picked: one choice picks both
    /// (a stage's later blocks, a stage without widths of its own), or both are fixed
    /// and equal (widths are distinct options, so this is the only way).
    pub fn widths_tied(&self) -> bool {
        self.c_in == self.c_out
    }
    /// Skip may replace the block by a 1×1 projection: it is offered where the stride
    /// or the width can change.
    pub fn may_project(&self) -> bool {
        self.skip && (self.stride != 1 || !self.widths_tied())
    }
}

/// The head: an `ir_pool` head's widths follow the last stage's width choice; a `conv`
/// head's width may be its own choice.
#[derive(Clone, Debug, PartialEq)]
pub struct HeadPlan {
    /// Head kind.
    pub op: HeadOp,
    /// Input widths (the last stage's).
    pub c_in: Options<usize>,
    /// The width before the pool: for `ir_pool` divisible(c_in_i · expansion), one per
    /// input-width option (and picked by the same choice); for `conv` its `out` options.
    pub mid: Options<usize>,
    /// The space head's `out` (its first option): `ir_pool`'s post-pool width; a `conv` head's
    /// widths are `mid`.
    pub out: usize,
    /// Activation.
    pub act: Act,
}

impl HeadPlan {
    /// The 1×1 conv before the pool exists for option `i` of `mid`.
    pub fn has_pw(&self, i: usize) -> bool {
        self.op == HeadOp::Conv || self.mid.values[i] != self.c_in.values[i]
    }
}

/// A resolved supernet.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Every searched choice; `picks` index this list.
    pub choices: Vec<Choice>,
    /// Input-resolution options (just `input_size` when not searched).
    pub resolution: Options<usize>,
    /// Full map size at every layer boundary: input, after the stem, after each block.
    pub full_sizes: Vec<usize>,
    /// `sizes[b][i]`: resolution option i's exact size at boundary b.
    pub sizes: Vec<Vec<usize>>,
    /// Image channels.
    pub in_channels: usize,
    /// Classifier outputs.
    pub num_classes: usize,
    /// Stem output widths.
    pub stem_out: Options<usize>,
    /// Stem kernel size (odd).
    pub stem_kernel: usize,
    /// Stem stride.
    pub stem_stride: usize,
    /// Stem activation.
    pub stem_act: Act,
    /// The stem conv has a bias.
    pub stem_bias: bool,
    /// Per stage: its output widths.
    pub stage_out: Vec<Options<usize>>,
    /// Every searched block, stage by stage.
    pub blocks: Vec<BlockPlan>,
    /// The head.
    pub head: HeadPlan,
    /// Dropout before the classifier.
    pub dropout: f64,
    /// The space this plan resolves (for derivation).
    pub space: Space,
}

fn fmt_f(x: f64) -> String {
    let s = format!("{x}");
    if s.contains('.') { s } else { format!("{s}.0") }
}

impl Plan {
    /// Resolve a validated space.
    pub fn new(space: &Space) -> Self {
        let mut choices = Vec::new();
        let mut choose = |name: String, kind: ChoiceKind, options: Vec<String>| {
            if options.len() < 2 {
                return None;
            }
            choices.push(Choice {
                name,
                kind,
                options,
            });
            Some(choices.len() - 1)
        };
        let res = space.resolution_options();
        let resolution = Options {
            choice: choose(
                "resolution".into(),
                ChoiceKind::Resolution,
                res.iter().map(|r| r.to_string()).collect(),
            ),
            values: res.clone(),
        };
        let d = space.width_divisor;
        let stem_widths = space.stem.out.options();
        let stem_out = Options {
            choice: choose(
                "stem.width".into(),
                ChoiceKind::StemWidth,
                stem_widths.iter().map(|c| c.to_string()).collect(),
            ),
            values: stem_widths,
        };
        let mut stage_out = Vec::new();
        let mut blocks = Vec::new();
        let mut c_in = stem_out.clone();
        let mut strides = vec![space.stem.stride];
        let mut kernels = vec![space.stem.kernel];
        for (s, st) in space.stages.iter().enumerate() {
            let out = match &st.out {
                Some(out) => Options {
                    choice: choose(
                        format!("stage{s}.width"),
                        ChoiceKind::Width { stage: s },
                        out.iter().map(|c| c.to_string()).collect(),
                    ),
                    values: out.clone(),
                },
                // The width of whatever feeds the stage, picked by the same choice.
                None => c_in.clone(),
            };
            let label = |kernel: usize, e: Option<f64>, se: bool| {
                let e = e.map_or(String::new(), |e| format!("_e{}", fmt_f(e)));
                format!("k{kernel}{e}{}", if se { "_se" } else { "" })
            };
            for b in 0..st.blocks {
                let block_in = if b == 0 { c_in.clone() } else { out.clone() };
                let in_max = block_in.max();
                let width = |e: f64| divisible(in_max as f64 * e, d);
                let (mid, branches, mut op_labels) = match &st.ops {
                    Some(ops) => {
                        // Coupled: the distinct hidden widths, each op pointing at its own.
                        let mut mids: Vec<usize> = Vec::new();
                        let branches: Vec<Branch> = ops
                            .iter()
                            .map(|op| {
                                let m = width(op.expansion);
                                let i = mids.iter().position(|&x| x == m).unwrap_or_else(|| {
                                    mids.push(m);
                                    mids.len() - 1
                                });
                                Branch {
                                    kernel: op.kernel,
                                    se: op.se,
                                    mid: Some(i),
                                }
                            })
                            .collect();
                        let labels: Vec<String> = ops
                            .iter()
                            .map(|op| label(op.kernel, Some(op.expansion), op.se))
                            .collect();
                        let mid = Options {
                            values: mids,
                            choice: None,
                        };
                        (mid, branches, labels)
                    }
                    None => {
                        let expansion = st.expansion.clone().unwrap_or_default();
                        let mids: Vec<usize> = expansion.iter().map(|&e| width(e)).collect();
                        let mid = Options {
                            choice: choose(
                                format!("stage{s}.block{b}.expansion"),
                                ChoiceKind::Expansion { stage: s, block: b },
                                expansion
                                    .iter()
                                    .zip(&mids)
                                    .map(|(e, m)| format!("e{}:{m}", fmt_f(*e)))
                                    .collect(),
                            ),
                            values: mids,
                        };
                        let mut branches = Vec::new();
                        for kernel in st.kernels() {
                            for se in st.ses() {
                                branches.push(Branch {
                                    kernel,
                                    se,
                                    mid: None,
                                });
                            }
                        }
                        let labels: Vec<String> = branches
                            .iter()
                            .map(|br| label(br.kernel, None, br.se))
                            .collect();
                        (mid, branches, labels)
                    }
                };
                let mids = mid.values.clone();
                let skip = if b == 0 { st.skip_first } else { st.skip };
                if skip {
                    op_labels.push("skip".into());
                }
                let op_choice = choose(
                    format!("stage{s}.block{b}.op"),
                    ChoiceKind::Op { stage: s, block: b },
                    op_labels,
                );
                let stride = if b == 0 { st.stride } else { 1 };
                let boundary = strides.len();
                strides.push(stride);
                kernels.push(branches.iter().map(|br| br.kernel).max().unwrap_or(3));
                blocks.push(BlockPlan {
                    stage: s,
                    index: b,
                    stride,
                    act: st.act,
                    c_in: block_in,
                    se_hidden: mids.iter().map(|&m| se_hidden(m, d)).collect(),
                    mid,
                    c_out: out.clone(),
                    branches,
                    skip,
                    skip_act: st.skip_act.unwrap_or_default(),
                    op_choice,
                    boundary,
                });
            }
            c_in = out.clone();
            stage_out.push(out);
        }
        // Sizes at every boundary, for the full grid and each resolution option. Kernel
        // sizes do not change the output size (padding k/2), only strides do.
        let walk = |r: usize| {
            let mut v = vec![r];
            for (i, &s) in strides.iter().enumerate() {
                v.push(conv_out(v[i], kernels[i], s));
            }
            v
        };
        let full_sizes = walk(space.input_size);
        let per_option: Vec<Vec<usize>> = res.iter().map(|&r| walk(r)).collect();
        let sizes = (0..full_sizes.len())
            .map(|b| per_option.iter().map(|v| v[b]).collect())
            .collect();
        let head_mid = match space.head.op {
            HeadOp::IrPool => Options {
                values: c_in
                    .values
                    .iter()
                    .map(|&c| space.head.with_out(0).mid(c, d))
                    .collect(),
                choice: c_in.choice,
            },
            HeadOp::Conv => {
                let widths = space.head.out.options();
                Options {
                    choice: choose(
                        "head.width".into(),
                        ChoiceKind::HeadWidth,
                        widths.iter().map(|c| c.to_string()).collect(),
                    ),
                    values: widths,
                }
            }
        };
        Plan {
            choices,
            resolution,
            full_sizes,
            sizes,
            in_channels: space.in_channels,
            num_classes: space.num_classes,
            stem_out,
            stem_kernel: space.stem.kernel,
            stem_stride: space.stem.stride,
            stem_act: space.stem.act,
            stem_bias: space.stem.bias,
            stage_out,
            blocks,
            head: HeadPlan {
                op: space.head.op,
                c_in,
                mid: head_mid,
                out: space.head.out.options()[0],
                act: space.head.act,
            },
            dropout: space.dropout,
            space: space.clone(),
        }
    }

    /// log10 of the number of architectures: the sum of log10 of each choice's option count.
    pub fn log10_size(&self) -> f64 {
        self.choices
            .iter()
            .map(|c| (c.options.len() as f64).log10())
            .sum()
    }
}
