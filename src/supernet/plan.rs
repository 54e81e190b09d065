//! The structure of a supernet resolved from a search space: every choice, its options,
//! and the widths each option gives. Pure data, no tensors.

use crate::arch::{Act, HeadOp, conv_out};
use crate::divisible::{divisible, se_hidden};
use crate::space::{OpSpace, Space, StageSpace};

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

/// The choices of a plan in the order its passes add them (the order of `picks`).
#[derive(Default)]
struct Choices(Vec<Choice>);

impl Choices {
    /// Add a choice of `options` (none when there are fewer than two); its index.
    fn add(&mut self, name: String, kind: ChoiceKind, options: Vec<String>) -> Option<usize> {
        if options.len() < 2 {
            return None;
        }
        self.0.push(Choice {
            name,
            kind,
            options,
        });
        Some(self.0.len() - 1)
    }

    /// `values` as the options of a new choice, each labelled by its value.
    fn values<T: ToString>(
        &mut self,
        name: String,
        kind: ChoiceKind,
        values: Vec<T>,
    ) -> Options<T> {
        Options {
            choice: self.add(name, kind, values.iter().map(T::to_string).collect()),
            values,
        }
    }
}

impl Plan {
    /// Resolve a validated space, in passes: resolution, stem, stages with their blocks,
    /// the sizes at every layer boundary, head.
    pub fn new(space: &Space) -> Self {
        let mut choices = Choices::default();
        let resolution = choices.values(
            "resolution".into(),
            ChoiceKind::Resolution,
            space.resolution_options(),
        );
        let stem_out = choices.values(
            "stem.width".into(),
            ChoiceKind::StemWidth,
            space.stem.out.options(),
        );
        let (stage_out, blocks) = stages(space, &stem_out, &mut choices);
        let (full_sizes, sizes) = boundary_sizes(space, &resolution.values, &blocks);
        let last = stage_out.last().unwrap_or(&stem_out).clone();
        let head = head(space, last, &mut choices);
        Plan {
            choices: choices.0,
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
            head,
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

/// Pass: every stage's width choice and its blocks, stage by stage (a stage's width, then
/// each block's expansion and op choices). A stage without widths of its own takes the
/// width of whatever feeds it, picked by the same choice.
fn stages(
    space: &Space,
    stem_out: &Options<usize>,
    choices: &mut Choices,
) -> (Vec<Options<usize>>, Vec<BlockPlan>) {
    let (mut stage_out, mut blocks) = (Vec::new(), Vec::new());
    let mut c_in = stem_out.clone();
    for (s, st) in space.stages.iter().enumerate() {
        let out = match &st.out {
            Some(out) => choices.values(
                format!("stage{s}.width"),
                ChoiceKind::Width { stage: s },
                out.clone(),
            ),
            None => c_in.clone(),
        };
        for b in 0..st.blocks {
            let block_in = if b == 0 { c_in.clone() } else { out.clone() };
            // Boundary 0 is the input, 1 the stem's output, then one per block.
            let boundary = blocks.len() + 1;
            blocks.push(block(space, (s, st), b, block_in, &out, boundary, choices));
        }
        c_in = out.clone();
        stage_out.push(out);
    }
    (stage_out, blocks)
}

/// Pass: block `b` of stage `s`: its hidden widths and op branches (coupled ops, or
/// expansion × kernel × SE), the skip option, stride and widths.
fn block(
    space: &Space,
    (s, st): (usize, &StageSpace),
    b: usize,
    c_in: Options<usize>,
    c_out: &Options<usize>,
    boundary: usize,
    choices: &mut Choices,
) -> BlockPlan {
    let d = space.width_divisor;
    let width = |e: f64| divisible(c_in.max() as f64 * e, d);
    let (mid, branches, mut op_labels) = match &st.ops {
        Some(ops) => coupled_ops(ops, width),
        None => {
            let expansion = st.expansion.clone().unwrap_or_default();
            let mids: Vec<usize> = expansion.iter().map(|&e| width(e)).collect();
            let mid = Options {
                choice: choices.add(
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
            let (branches, labels) = kernel_se_branches(st);
            (mid, branches, labels)
        }
    };
    let skip = if b == 0 { st.skip_first } else { st.skip };
    if skip {
        op_labels.push("skip".into());
    }
    let op_choice = choices.add(
        format!("stage{s}.block{b}.op"),
        ChoiceKind::Op { stage: s, block: b },
        op_labels,
    );
    BlockPlan {
        stage: s,
        index: b,
        stride: if b == 0 { st.stride } else { 1 },
        act: st.act,
        se_hidden: mid.values.iter().map(|&m| se_hidden(m, d)).collect(),
        c_in,
        mid,
        c_out: c_out.clone(),
        branches,
        skip,
        skip_act: st.skip_act.unwrap_or_default(),
        op_choice,
        boundary,
    }
}

/// An op's label: `k5_e6.0_se` (the expansion only for coupled ops).
fn op_label(kernel: usize, e: Option<f64>, se: bool) -> String {
    let e = e.map_or(String::new(), |e| format!("_e{}", fmt_f(e)));
    format!("k{kernel}{e}{}", if se { "_se" } else { "" })
}

/// Coupled ops: the distinct hidden widths (`width` of each op's expansion), each op's
/// branch pointing at its own; the op choice picks them.
fn coupled_ops(
    ops: &[OpSpace],
    width: impl Fn(f64) -> usize,
) -> (Options<usize>, Vec<Branch>, Vec<String>) {
    let mut mids: Vec<usize> = Vec::new();
    let branches = ops
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
    let labels = ops
        .iter()
        .map(|op| op_label(op.kernel, Some(op.expansion), op.se))
        .collect();
    let mid = Options {
        values: mids,
        choice: None,
    };
    (mid, branches, labels)
}

/// Every kernel × SE branch of a stage (the expansion is a choice of its own).
fn kernel_se_branches(st: &StageSpace) -> (Vec<Branch>, Vec<String>) {
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
    let labels = branches
        .iter()
        .map(|br| op_label(br.kernel, None, br.se))
        .collect();
    (branches, labels)
}

/// Pass: the map size at every layer boundary (input, after the stem, after each block),
/// for the full grid and for each resolution option (`sizes[boundary][option]`). Kernel
/// sizes do not change a size (padding k/2), only strides do.
fn boundary_sizes(
    space: &Space,
    resolutions: &[usize],
    blocks: &[BlockPlan],
) -> (Vec<usize>, Vec<Vec<usize>>) {
    let layers: Vec<(usize, usize)> = std::iter::once((space.stem.kernel, space.stem.stride))
        .chain(blocks.iter().map(|b| {
            let kernel = b.branches.iter().map(|br| br.kernel).max().unwrap_or(3);
            (kernel, b.stride)
        }))
        .collect();
    let walk = |r: usize| {
        let mut v = vec![r];
        for (i, &(k, s)) in layers.iter().enumerate() {
            v.push(conv_out(v[i], k, s));
        }
        v
    };
    let full_sizes = walk(space.input_size);
    let per_option: Vec<Vec<usize>> = resolutions.iter().map(|&r| walk(r)).collect();
    let sizes = (0..full_sizes.len())
        .map(|b| per_option.iter().map(|v| v[b]).collect())
        .collect();
    (full_sizes, sizes)
}

/// Pass: the head on the last stage's widths `c_in`: an `ir_pool` head's widths follow
/// them (same choice); a `conv` head's width may be a choice of its own.
fn head(space: &Space, c_in: Options<usize>, choices: &mut Choices) -> HeadPlan {
    let d = space.width_divisor;
    let mid = match space.head.op {
        HeadOp::IrPool => Options {
            values: c_in
                .values
                .iter()
                .map(|&c| space.head.with_out(0).mid(c, d))
                .collect(),
            choice: c_in.choice,
        },
        HeadOp::Conv => choices.values(
            "head.width".into(),
            ChoiceKind::HeadWidth,
            space.head.out.options(),
        ),
    };
    HeadPlan {
        op: space.head.op,
        c_in,
        mid,
        out: space.head.out.options()[0],
        act: space.head.act,
    }
}
