//! The structure of a supernet resolved from a search space: every choice, its options,
//! and the widths each option gives. Pure data, no tensors.

use crate::arch::{Act, conv_out};
use crate::divisible::{divisible, se_hidden};
use crate::space::Space;

/// What a choice decides.
#[derive(Clone, Debug, PartialEq)]
pub enum ChoiceKind {
    /// The network-wide input resolution.
    Resolution,
    /// The output width of a stage (shared by its blocks).
    Width { stage: usize },
    /// The hidden width of one block.
    Expansion { stage: usize, block: usize },
    /// The op of one block: kernel × SE branches, and skip.
    Op { stage: usize, block: usize },
}

/// One searched choice: its name and option labels.
#[derive(Clone, Debug, PartialEq)]
pub struct Choice {
    pub name: String,
    pub kind: ChoiceKind,
    pub options: Vec<String>,
}

/// A value that is either fixed or picked by a choice.
#[derive(Clone, Debug, PartialEq)]
pub struct Options<T> {
    pub values: Vec<T>,
    /// Index into [`Plan::choices`]; `None` when there is a single value.
    pub choice: Option<usize>,
}

impl<T: Copy + PartialOrd> Options<T> {
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
    pub kernel: usize,
    pub se: bool,
}

/// One searched block.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockPlan {
    pub stage: usize,
    pub index: usize,
    pub stride: usize,
    pub act: Act,
    /// Input widths (the previous stage's widths or the stem's).
    pub c_in: Options<usize>,
    /// Hidden widths, mid_i = divisible(in_max · e_i).
    pub mid: Options<usize>,
    /// SE hidden width of each hidden-width option.
    pub se_hidden: Vec<usize>,
    pub c_out: Options<usize>,
    /// Kernel × SE branches; the op choice has one more option, skip, when `skip`.
    pub branches: Vec<Branch>,
    pub skip: bool,
    pub op_choice: Option<usize>,
    /// Index of the layer boundary (for resolution sizes) at this block's input.
    pub boundary: usize,
}

impl BlockPlan {
    /// The first block of a stage takes its input from elsewhere.
    pub fn is_first(&self) -> bool {
        self.index == 0
    }
    pub fn has_se_branch(&self) -> bool {
        self.branches.iter().any(|b| b.se)
    }
}

/// The head: widths follow the last stage's width choice.
#[derive(Clone, Debug, PartialEq)]
pub struct HeadPlan {
    pub c_in: Options<usize>,
    /// mid_i = divisible(c_in_i · expansion), one per input-width option.
    pub mid: Vec<usize>,
    pub out: usize,
    pub act: Act,
}

/// A resolved supernet.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub choices: Vec<Choice>,
    pub resolution: Options<usize>,
    /// Full map size at every layer boundary: input, after the stem, after each block.
    pub full_sizes: Vec<usize>,
    /// `sizes[b][i]`: resolution option i's exact size at boundary b.
    pub sizes: Vec<Vec<usize>>,
    pub in_channels: usize,
    pub num_classes: usize,
    pub stem_out: usize,
    pub stem_kernel: usize,
    pub stem_stride: usize,
    pub stem_act: Act,
    pub stage_out: Vec<Options<usize>>,
    pub blocks: Vec<BlockPlan>,
    pub head: HeadPlan,
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
        let stem_out = Options {
            values: vec![space.stem.out],
            choice: None,
        };
        let mut stage_out = Vec::new();
        let mut blocks = Vec::new();
        let mut c_in = stem_out;
        let mut strides = vec![space.stem.stride];
        let mut kernels = vec![space.stem.kernel];
        for (s, st) in space.stages.iter().enumerate() {
            let out = Options {
                choice: choose(
                    format!("stage{s}.width"),
                    ChoiceKind::Width { stage: s },
                    st.out.iter().map(|c| c.to_string()).collect(),
                ),
                values: st.out.clone(),
            };
            let mut branches = Vec::new();
            for &kernel in &st.kernel {
                for &se in &st.se {
                    branches.push(Branch { kernel, se });
                }
            }
            for b in 0..st.blocks {
                let block_in = if b == 0 { c_in.clone() } else { out.clone() };
                let in_max = block_in.max();
                let mids: Vec<usize> = st
                    .expansion
                    .iter()
                    .map(|&e| divisible(in_max as f64 * e, d))
                    .collect();
                let mid = Options {
                    choice: choose(
                        format!("stage{s}.block{b}.expansion"),
                        ChoiceKind::Expansion { stage: s, block: b },
                        st.expansion
                            .iter()
                            .zip(&mids)
                            .map(|(e, m)| format!("e{}:{m}", fmt_f(*e)))
                            .collect(),
                    ),
                    values: mids.clone(),
                };
                let skip = st.skip && b > 0;
                let mut op_labels: Vec<String> = branches
                    .iter()
                    .map(|br| format!("k{}{}", br.kernel, if br.se { "_se" } else { "" }))
                    .collect();
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
                kernels.push(st.kernel.iter().copied().max().unwrap_or(3));
                blocks.push(BlockPlan {
                    stage: s,
                    index: b,
                    stride,
                    act: st.act,
                    c_in: block_in,
                    se_hidden: mids.iter().map(|&m| se_hidden(m, d)).collect(),
                    mid,
                    c_out: out.clone(),
                    branches: branches.clone(),
                    skip,
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
        let head_mid = c_in
            .values
            .iter()
            .map(|&c| divisible(c as f64 * space.head.expansion, d))
            .collect();
        Plan {
            choices,
            resolution,
            full_sizes,
            sizes,
            in_channels: space.in_channels,
            num_classes: space.num_classes,
            stem_out: space.stem.out,
            stem_kernel: space.stem.kernel,
            stem_stride: space.stem.stride,
            stem_act: space.stem.act,
            stage_out,
            blocks,
            head: HeadPlan {
                c_in,
                mid: head_mid,
                out: space.head.out,
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
