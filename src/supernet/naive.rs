//! The width choice both ways, for the memory benchmark (docs/ALGORITHM.md, "Channel
//! search by masking"): masked (one conv with C outputs times the soft mask) and naive DNAS
//! (one conv per option, zero-padded to C and summed with the Gumbel weights). Both compute
//! the same function when the naive convs hold the first c_i filters of the masked conv's
//! weights.

use burn::module::Module;
use burn::tensor::{Device, Tensor};

use super::mask::{channel_mask, prefix_matrix};
use crate::nn::{ConvBnAct, ConvBnActConfig, fit_channels};

/// A searchable-width k×k conv → BN → ReLU layer.
#[derive(Module, Debug)]
pub struct WidthChoice {
    /// Masked: one layer at the largest width. Naive: one layer per option.
    pub layers: Vec<ConvBnAct>,
    pub prefix: Tensor<2>,
    #[module(skip)]
    pub widths: Vec<usize>,
    #[module(skip)]
    pub naive: bool,
}

impl WidthChoice {
    /// `widths` options of a `c_in` → max(widths) layer; `naive` builds one conv each.
    pub fn new(c_in: usize, widths: &[usize], kernel: usize, naive: bool, device: &Device) -> Self {
        let c = widths.iter().copied().max().unwrap_or(1);
        let layer = |w: usize| {
            ConvBnActConfig::new(c_in, w)
                .with_kernel(kernel)
                .with_act(Some(crate::arch::Act::Relu))
                .init(device)
        };
        WidthChoice {
            layers: if naive {
                widths.iter().map(|&w| layer(w)).collect()
            } else {
                vec![layer(c)]
            },
            prefix: prefix_matrix(widths, device),
            widths: widths.to_vec(),
            naive,
        }
    }

    /// Masked: `y = b(x) · (g P)`. Naive: `y = Σ_i g_i · pad_C(b_i(x))`.
    pub fn forward(&self, x: Tensor<4>, g: &Tensor<1>) -> Tensor<4> {
        let c = self.prefix.dims()[1];
        if !self.naive {
            return self.layers[0].forward(x) * channel_mask(g, &self.prefix);
        }
        self.layers
            .iter()
            .enumerate()
            .map(|(i, l)| {
                fit_channels(l.forward(x.clone()), c)
                    * g.clone().narrow(0, i, 1).reshape([1, 1, 1, 1])
            })
            .reduce(|a, b| a + b)
            .expect("at least one option")
    }
}
