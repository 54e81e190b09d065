//! FixedNet → ONNX graph, module by module; each module's lowering mirrors its `forward`.

use burn::nn::conv::Conv2d;
use burn::tensor::Tensor;

use super::Normalization;
use super::proto::{
    AttributeProto, Dimension, FLOAT, GraphProto, NodeProto, TensorProto, TensorShapeProto,
    TensorTypeProto, TypeProto, ValueInfoProto, attribute_type,
};
use crate::arch::Arch;
use crate::error::{Error, Result};
use crate::nn::{Act, ConvBnAct, FixedBlock, FixedNet, Head, IrBlock, SqueezeExcite};

/// Nodes and weights in the order they are emitted (a topological order).
#[derive(Default)]
struct Graph {
    nodes: Vec<NodeProto>,
    weights: Vec<TensorProto>,
}

/// A convolution's constants: W [c_out, c_in / groups, k, k], its bias, stride and groups.
struct ConvWeights {
    weight: Vec<f32>,
    dims: [usize; 4],
    bias: Option<Vec<f32>>,
    stride: usize,
    groups: usize,
}

fn values<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    t.into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .map_err(|e| Error::Export(format!("reading a weight: {e:?}")))
}

fn ints(name: &str, v: &[usize]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_type::INTS,
        ints: v.iter().map(|&x| x as i64).collect(),
        ..Default::default()
    }
}

fn int(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_type::INT,
        i: Some(v),
        ..Default::default()
    }
}

fn float(name: &str, v: f32) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_type::FLOAT,
        f: Some(v),
        ..Default::default()
    }
}

impl Graph {
    /// A constant named `name` of shape `dims`.
    fn weight(&mut self, name: String, dims: &[usize], v: &[f32]) -> String {
        debug_assert_eq!(dims.iter().product::<usize>(), v.len());
        self.weights.push(TensorProto {
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: FLOAT,
            name: name.clone(),
            raw_data: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        });
        name
    }

    /// One node; its output is named after the node.
    fn node(
        &mut self,
        op: &str,
        name: String,
        inputs: &[&str],
        attrs: Vec<AttributeProto>,
    ) -> String {
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![name.clone()],
            name: name.clone(),
            op_type: op.into(),
            attribute: attrs,
        });
        name
    }

    /// y = conv(x; W, b), padding k/2.
    fn conv(&mut self, name: &str, x: &str, c: ConvWeights) -> String {
        let k = c.dims[2];
        let wn = self.weight(format!("{name}.weight"), &c.dims, &c.weight);
        let bn = c
            .bias
            .map(|b| self.weight(format!("{name}.bias"), &[c.dims[0]], &b));
        let mut inputs = vec![x, wn.as_str()];
        if let Some(bn) = &bn {
            inputs.push(bn);
        }
        let p = k / 2;
        let attrs = vec![
            ints("kernel_shape", &[k, k]),
            ints("pads", &[p, p, p, p]),
            ints("strides", &[c.stride, c.stride]),
            ints("dilations", &[1, 1]),
            int("group", c.groups as i64),
        ];
        self.node("Conv", name.to_string(), &inputs, attrs)
    }

    /// relu(x), hswish(x) or x.
    fn act(&mut self, name: &str, x: String, act: Act) -> String {
        match act {
            Act::Relu => self.node("Relu", format!("{name}.relu"), &[&x], vec![]),
            Act::Hswish => self.node("HardSwish", format!("{name}.hswish"), &[&x], vec![]),
            Act::None => x,
        }
    }

    /// act(BN(conv(x))) as one Conv with the BN folded in, then the activation.
    fn conv_bn_act(&mut self, name: &str, x: &str, l: &ConvBnAct) -> Result<String> {
        let c = &l.conv;
        if c.stride[0] != c.stride[1] || c.dilation != [1, 1] {
            return Err(Error::Export(format!(
                "{name}: only square strides without dilation are exported"
            )));
        }
        let dims = c.weight.dims();
        let mut w = values(c.weight.val())?;
        let bias = match &c.bias {
            Some(b) => values(b.val())?,
            None => vec![0.0; dims[0]],
        };
        let bn = &l.bn;
        let gamma = values(bn.gamma.val())?;
        let beta = values(bn.beta.val())?;
        let mean = values(bn.running_mean.value())?;
        let var = values(bn.running_var.value())?;
        let per_filter = w.len() / dims[0];
        let mut b = vec![0.0; dims[0]];
        for o in 0..dims[0] {
            let s = gamma[o] / (var[o] + bn.epsilon as f32).sqrt();
            w[o * per_filter..(o + 1) * per_filter]
                .iter_mut()
                .for_each(|v| *v *= s);
            b[o] = beta[o] + (bias[o] - mean[o]) * s;
        }
        let y = self.conv(
            name,
            x,
            ConvWeights {
                weight: w,
                dims,
                bias: Some(b),
                stride: c.stride[0],
                groups: c.groups,
            },
        );
        Ok(self.act(name, y, l.act.unwrap_or(Act::None)))
    }

    /// A 1×1 conv with its own bias (SE, the head's post-pool conv).
    fn plain_conv(&mut self, name: &str, x: &str, c: &Conv2d) -> Result<String> {
        let weights = ConvWeights {
            weight: values(c.weight.val())?,
            dims: c.weight.dims(),
            bias: c.bias.as_ref().map(|b| values(b.val())).transpose()?,
            stride: 1,
            groups: c.groups,
        };
        Ok(self.conv(name, x, weights))
    }

    /// x · hsigmoid(W₂ act(W₁ pool(x) + b₁) + b₂).
    fn se(&mut self, name: &str, x: &str, se: &SqueezeExcite) -> Result<String> {
        let p = self.node("GlobalAveragePool", format!("{name}.pool"), &[x], vec![]);
        let s = self.plain_conv(&format!("{name}.reduce"), &p, &se.reduce)?;
        let s = self.act(&format!("{name}.reduce"), s, se.act);
        let s = self.plain_conv(&format!("{name}.expand"), &s, &se.expand)?;
        let g = self.node(
            "HardSigmoid",
            format!("{name}.gate"),
            &[&s],
            vec![float("alpha", 1.0 / 6.0), float("beta", 0.5)],
        );
        Ok(self.node("Mul", format!("{name}.mul"), &[x, &g], vec![]))
    }

    /// pw → dw → [SE] → pwl [+ x].
    fn ir(&mut self, name: &str, x: &str, b: &IrBlock) -> Result<String> {
        let mut h = x.to_string();
        if let Some(pw) = &b.pw {
            h = self.conv_bn_act(&format!("{name}.pw"), &h, pw)?;
        }
        h = self.conv_bn_act(&format!("{name}.dw"), &h, &b.dw)?;
        if let Some(se) = &b.se {
            h = self.se(&format!("{name}.se"), &h, se)?;
        }
        let y = self.conv_bn_act(&format!("{name}.pwl"), &h, &b.pwl)?;
        Ok(if b.residual {
            self.node("Add", format!("{name}.add"), &[&y, x], vec![])
        } else {
            y
        })
    }

    /// features → pool → [1×1 conv → act] → flatten → linear.
    fn head(&mut self, x: &str, h: &Head) -> Result<String> {
        let mut z = x.to_string();
        if let Some(pw) = &h.pw {
            z = self.conv_bn_act("head.pw", &z, pw)?;
        }
        z = self.node("GlobalAveragePool", "head.pool".into(), &[&z], vec![]);
        if let Some(conv) = &h.conv {
            z = self.plain_conv("head.conv", &z, conv)?;
            z = self.act("head.conv", z, h.act);
        }
        z = self.node(
            "Flatten",
            "head.flatten".into(),
            &[&z],
            vec![int("axis", 1)],
        );
        let l = &h.classifier;
        let [d_in, d_out] = l.weight.dims();
        let w = self.weight(
            "classifier.weight".into(),
            &[d_in, d_out],
            &values(l.weight.val())?,
        );
        let b = match &l.bias {
            Some(b) => values(b.val())?,
            None => vec![0.0; d_out],
        };
        let b = self.weight("classifier.bias".into(), &[d_out], &b);
        Ok(self.node("Gemm", "logits".into(), &[&z, &w, &b], vec![]))
    }
}

fn tensor_info(name: &str, dims: &[Dimension]) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorTypeProto {
                elem_type: FLOAT,
                shape: Some(TensorShapeProto { dim: dims.to_vec() }),
            }),
        }),
    }
}

fn fixed(n: usize) -> Dimension {
    Dimension {
        dim_value: Some(n as i64),
        dim_param: None,
    }
}

/// The graph of `net`: image → (image − mean) / std → stem → blocks → head → logits.
pub(super) fn lower(net: &FixedNet, arch: &Arch, norm: &Normalization) -> Result<GraphProto> {
    let mut g = Graph::default();
    let c = arch.in_channels;
    let mean = g.weight("input.mean".into(), &[1, c, 1, 1], &norm.mean);
    let std = g.weight("input.std".into(), &[1, c, 1, 1], &norm.std);
    let x = g.node("Sub", "input.centred".into(), &["image", &mean], vec![]);
    let mut x = g.node("Div", "input.normalised".into(), &[&x, &std], vec![]);
    x = g.conv_bn_act("stem", &x, &net.stem)?;
    for (i, b) in net.blocks.iter().enumerate() {
        let name = format!("blocks.{i}");
        x = match b {
            FixedBlock::Ir(b) => g.ir(&name, &x, b)?,
            FixedBlock::Projection(p) => g.conv_bn_act(&name, &x, p)?,
            FixedBlock::Identity(_) => x,
        };
    }
    let logits = g.head(&x, &net.head)?;
    debug_assert_eq!(logits, "logits");
    let batch = Dimension {
        dim_value: None,
        dim_param: Some("N".into()),
    };
    let s = arch.input_size;
    Ok(GraphProto {
        node: g.nodes,
        name: arch.name.clone().unwrap_or_else(|| "network".into()),
        initializer: g.weights,
        input: vec![tensor_info(
            "image",
            &[batch.clone(), fixed(c), fixed(s), fixed(s)],
        )],
        output: vec![tensor_info("logits", &[batch, fixed(arch.num_classes)])],
    })
}

/// What a piece graph runs: one part of a network, or nothing.
#[cfg(feature = "latency")]
pub(super) enum PieceGraph<'a> {
    /// One Identity node (the cost of a call).
    Nothing,
    /// The input normalisation.
    Input(&'a Normalization),
    /// One part of a fixed network.
    Part(&'a FixedNet, crate::nn::Part),
}

/// The graph of one piece alone: input `x` [N, c, h, h] → the piece → output `y` (its
/// shape left to the runtime).
#[cfg(feature = "latency")]
pub(super) fn lower_piece(what: PieceGraph, c: usize, h: usize) -> Result<GraphProto> {
    use crate::nn::Part;
    let mut g = Graph::default();
    let y = match what {
        PieceGraph::Nothing => g.node("Identity", "identity".into(), &["x"], vec![]),
        PieceGraph::Input(norm) => {
            let mean = g.weight("input.mean".into(), &[1, c, 1, 1], &norm.mean);
            let std = g.weight("input.std".into(), &[1, c, 1, 1], &norm.std);
            let x = g.node("Sub", "input.centred".into(), &["x", &mean], vec![]);
            g.node("Div", "input.normalised".into(), &[&x, &std], vec![])
        }
        PieceGraph::Part(net, Part::Stem) => g.conv_bn_act("stem", "x", &net.stem)?,
        PieceGraph::Part(net, Part::Block(i)) => {
            let name = format!("blocks.{i}");
            match &net.blocks[i] {
                FixedBlock::Ir(b) => g.ir(&name, "x", b)?,
                FixedBlock::Projection(p) => g.conv_bn_act(&name, "x", p)?,
                FixedBlock::Identity(_) => g.node("Identity", name, &["x"], vec![]),
            }
        }
        PieceGraph::Part(net, Part::Head) => g.head("x", &net.head)?,
        PieceGraph::Part(_, Part::Input) => {
            return Err(Error::Export("the input is not a part of a network".into()));
        }
    };
    let batch = Dimension {
        dim_value: None,
        dim_param: Some("N".into()),
    };
    Ok(GraphProto {
        node: g.nodes,
        name: "piece".into(),
        initializer: g.weights,
        input: vec![tensor_info("x", &[batch, fixed(c), fixed(h), fixed(h)])],
        output: vec![ValueInfoProto {
            name: y,
            r#type: Some(TypeProto {
                tensor_type: Some(TensorTypeProto {
                    elem_type: FLOAT,
                    shape: None,
                }),
            }),
        }],
    })
}
