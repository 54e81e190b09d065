//! Architecture logits and their Gumbel-softmax weights:
//! `g = softmax((alpha + eps) / T)`, `eps ~ Gumbel(0, 1)`.

use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor, activation::softmax};
use rand::Rng;

use super::plan::Choice;

/// The learnable logits alpha, one vector per choice, zero-initialised.
#[derive(Module, Debug)]
pub struct ArchLogits {
    /// One logit vector per choice, one entry per option.
    pub alphas: Vec<Param<Tensor<1>>>,
}

/// Architecture weights g, one vector per choice (soft, hard or one-hot).
#[derive(Clone, Debug)]
pub struct ArchWeights(pub Vec<Tensor<1>>);

impl ArchWeights {
    /// One-hot weights for explicit option indices.
    pub fn one_hot(choices: &[Choice], picks: &[usize], device: &Device) -> Self {
        ArchWeights(
            choices
                .iter()
                .zip(picks)
                .map(|(c, &p)| {
                    let v: Vec<f32> = (0..c.options.len())
                        .map(|i| if i == p { 1.0 } else { 0.0 })
                        .collect();
                    Tensor::from_floats(v.as_slice(), device)
                })
                .collect(),
        )
    }

    /// Weights of choice `c`.
    pub fn get(&self, c: usize) -> &Tensor<1> {
        &self.0[c]
    }
}

/// Gumbel(0, 1) noise for every option of every choice, drawn from `rng` on the host and
/// uploaded once: `eps = -ln(-ln u)`.
pub fn gumbel_noise<R: Rng>(rng: &mut R, n: usize, device: &Device) -> Tensor<1> {
    Tensor::from_floats(gumbel_values(rng, n).as_slice(), device)
}

/// `n` Gumbel(0, 1) samples on the host.
pub fn gumbel_values<R: Rng>(rng: &mut R, n: usize) -> Vec<f32> {
    (0..n)
        .map(|_| {
            let u: f64 = rng.random_range(1e-10..1.0);
            -((-(u.ln())).ln()) as f32
        })
        .collect()
}

impl ArchLogits {
    /// Zero logits for every choice.
    pub fn new(choices: &[Choice], device: &Device) -> Self {
        ArchLogits {
            alphas: choices
                .iter()
                .map(|c| Param::from_tensor(Tensor::zeros([c.options.len()], device)))
                .collect(),
        }
    }

    /// Total number of options (the length of a noise vector).
    pub fn num_options(&self) -> usize {
        self.alphas.iter().map(|a| a.dims()[0]).sum()
    }

    /// `g = softmax((alpha + eps) / T)` for each choice; `noise` (length [`num_options`](Self::num_options))
    /// is split across the choices; `hard` makes g one-hot in the forward pass with the soft
    /// gradient (straight-through).
    pub fn sample(&self, temperature: f64, noise: Option<&Tensor<1>>, hard: bool) -> ArchWeights {
        let mut offset = 0;
        ArchWeights(
            self.alphas
                .iter()
                .map(|a| {
                    let k = a.dims()[0];
                    let logits = match noise {
                        Some(n) => a.val() + n.clone().narrow(0, offset, k),
                        None => a.val(),
                    };
                    offset += k;
                    let g = softmax(logits.div_scalar(temperature), 0);
                    if hard {
                        let max = g.clone().max_dim(0);
                        let one_hot = g.clone().equal(max.expand([k])).float();
                        one_hot - g.clone().detach() + g
                    } else {
                        g
                    }
                })
                .collect(),
        )
    }

    /// One path: per choice the argmax of α + ε (the option a hard Gumbel sample picks at
    /// any temperature), with the noise `noise` (length [`num_options`](Self::num_options)) on the host.
    /// Reads the logits to the host once.
    pub fn sample_path(&self, noise: &[f32]) -> Vec<usize> {
        let alphas: Vec<Tensor<1>> = self.alphas.iter().map(|a| a.val().detach()).collect();
        let values = Tensor::cat(alphas, 0)
            .into_data()
            .try_to_vec::<f32>()
            .expect("architecture logits are f32");
        let mut offset = 0;
        self.alphas
            .iter()
            .map(|a| {
                let k = a.dims()[0];
                let scores = (offset..offset + k).map(|i| values[i] + noise[i]);
                offset += k;
                argmax(scores)
            })
            .collect()
    }

    /// softmax(alpha) for each choice, on the host.
    pub fn probabilities(&self) -> Vec<Vec<f32>> {
        self.alphas
            .iter()
            .map(|a| {
                softmax(a.val().detach(), 0)
                    .into_data()
                    .try_to_vec::<f32>()
                    .unwrap_or_default()
            })
            .collect()
    }

    /// argmax of each choice's logits (the first on ties).
    pub fn argmax(&self) -> Vec<usize> {
        self.probabilities()
            .iter()
            .map(|p| argmax(p.iter().copied()))
            .collect()
    }
}

/// Index of the largest value (the first on ties).
fn argmax(v: impl Iterator<Item = f32>) -> usize {
    v.enumerate()
        .fold((0, f32::MIN), |b, (i, x)| if x > b.1 { (i, x) } else { b })
        .0
}
