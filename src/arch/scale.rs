//! A network scaled as MobileNet and EfficientNet are used without search: every width
//! times one factor (a width multiplier), or a smaller input.

use super::format::{Arch, BlockOp, HeadOp};
use crate::divisible::divisible;
use crate::error::Result;

impl Arch {
    /// The same network with every width (stem, blocks' outputs and hidden widths, head)
    /// multiplied by `factor` and rounded to the width divisor (`divisible`), never below 8
    /// channels. Kernels, strides, SE and activations stay; a skip whose widths become equal
    /// at stride 1 becomes an identity.
    pub fn with_widths_scaled(&self, factor: f64) -> Result<Arch> {
        let d = self.width_divisor;
        let w = |c: usize| divisible(c as f64 * factor, d).max(8);
        let mut a = self.clone();
        a.stem.out = w(a.stem.out);
        let mut c_in = a.stem.out;
        for b in &mut a.blocks {
            b.out = w(b.out);
            if let Some(m) = b.mid.as_mut() {
                *m = w(*m);
            }
            if b.op == BlockOp::Skip && b.stride == 1 && b.out == c_in {
                b.act = None;
            }
            c_in = b.out;
        }
        if a.head.op == HeadOp::Conv || a.head.expansion.is_some() {
            a.head.out = w(a.head.out);
        }
        a.name = self.name.as_ref().map(|n| format!("{n}-x{factor:.3}"));
        a.provenance = None;
        a.layout()?;
        Ok(a)
    }

    /// The same network at input size `size`.
    pub fn with_input_size(&self, size: usize) -> Result<Arch> {
        let mut a = self.clone();
        a.input_size = size;
        a.name = self.name.as_ref().map(|n| format!("{n}-{size}px"));
        a.provenance = None;
        a.layout()?;
        Ok(a)
    }
}
