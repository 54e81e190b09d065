//! Test-set evaluation of a fixed network: top-1, per-class accuracy, confusion matrix.

use burn::module::Module;
use burn::tensor::{Int, Tensor};
use serde::{Deserialize, Serialize};

use crate::data::{ImageData, check, make_batch};
use crate::error::{Error, Result};
use crate::nn::FixedNet;

/// The result of [`evaluate`].
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// Number of images evaluated.
    pub images: usize,
    /// Fraction of images whose argmax logit is the label.
    pub top1: f64,
    /// Mean cross-entropy (no label smoothing).
    pub loss: f64,
    /// Class names, in label order.
    pub classes: Vec<String>,
    /// Accuracy of each class (its row of the confusion matrix: diagonal / row sum).
    pub per_class: Vec<f64>,
    /// `confusion[true][predicted]`: image counts.
    pub confusion: Vec<Vec<u64>>,
    /// Per image, in the set's order: 1 where the argmax is the label, else 0 (for a mean
    /// of two evaluations, the mean: 0.5 where one is right). Its mean is `top1`; paired
    /// comparisons of two networks on the same images use it. Not serialised.
    #[serde(skip)]
    pub correct: Vec<f32>,
}

impl Evaluation {
    /// The mean of two evaluations of the same images (e.g. two sides of a network):
    /// top-1, loss, per-class accuracy and per-image correctness averaged; the confusion
    /// counts of both summed (they total twice `images`).
    pub fn mean_with(&self, other: &Evaluation) -> Evaluation {
        let mean = |a: f64, b: f64| (a + b) / 2.0;
        Evaluation {
            images: self.images,
            top1: mean(self.top1, other.top1),
            loss: mean(self.loss, other.loss),
            classes: self.classes.clone(),
            per_class: self
                .per_class
                .iter()
                .zip(&other.per_class)
                .map(|(&a, &b)| mean(a, b))
                .collect(),
            confusion: self
                .confusion
                .iter()
                .zip(&other.confusion)
                .map(|(r, q)| r.iter().zip(q).map(|(a, b)| a + b).collect())
                .collect(),
            correct: self
                .correct
                .iter()
                .zip(&other.correct)
                .map(|(&a, &b)| (a + b) / 2.0)
                .collect(),
        }
    }
}

/// Nearest-neighbour subsampling of a batch to `r`×`r` (the sub-lattice a lower input
/// resolution sees; identity when the size already matches).
pub fn resample(x: Tensor<4>, r: usize) -> Tensor<4> {
    let s = x.dims()[2];
    if s == r {
        return x;
    }
    let idx: Vec<i64> = (0..r).map(|j| (j * s / r) as i64).collect();
    let idx = Tensor::<1, Int>::from_ints(idx.as_slice(), &x.device());
    x.select(2, idx.clone()).select(3, idx)
}

/// What [`predict`] says of one image.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Prediction {
    /// The most probable class (an index into the data's `classes()`).
    pub class: usize,
    /// Its softmax probability.
    pub probability: f32,
}

/// The class of every image of `data` by `net` in inference mode, images resampled to
/// `input` (the network's input size, `Arch::input_size`) as [`evaluate`] does and as the
/// ONNX graph expects them (it takes `input`×`input` images only).
pub fn predict(
    net: &FixedNet,
    data: &dyn ImageData,
    input: usize,
    batch_size: usize,
) -> Result<Vec<Prediction>> {
    check(data)?;
    let net = net.valid();
    let device = net.stem.conv.weight.device();
    let mut out = Vec::with_capacity(data.len());
    let idx: Vec<usize> = (0..data.len()).collect();
    for chunk in idx.chunks(batch_size.max(1)) {
        let (x, _) = make_batch(data, chunk, None)?.to_tensors(&device);
        let logits = net.forward(resample(x, input));
        let p = burn::tensor::activation::softmax(logits, 1);
        let (best, class) = p.max_dim_with_indices(1);
        let best: Vec<f32> = best.into_data().convert::<f32>().try_into_vec::<f32>()?;
        let class: Vec<i64> = class.into_data().convert::<i64>().try_into_vec::<i64>()?;
        out.extend(
            best.into_iter()
                .zip(class)
                .map(|(probability, c)| Prediction {
                    class: c as usize,
                    probability,
                }),
        );
    }
    Ok(out)
}

/// Evaluate `net` in inference mode (BN running statistics, no dropout, no autodiff) on
/// every image of `set` at input size `input`.
pub fn evaluate(
    net: &FixedNet,
    set: &dyn ImageData,
    batch_size: usize,
    input: usize,
) -> Result<Evaluation> {
    check(set)?;
    let net = net.valid();
    let device = net.stem.conv.weight.device();
    let device = &device;
    let labels: Vec<usize> = (0..set.len()).map(|i| set.label(i)).collect();
    let outputs = net.head.classifier.weight.dims()[1];
    let k = set.classes().len();
    if let Some(&l) = labels.iter().find(|&&l| l >= k.min(outputs)) {
        return Err(Error::Data(format!(
            "label {l}, but the data has {k} classes and the network {outputs} outputs"
        )));
    }
    let k = k.max(outputs);
    let mut confusion = vec![vec![0u64; k]; k];
    let mut correct_at = Vec::with_capacity(set.len());
    let mut loss_sum = 0.0f64;
    let idx: Vec<usize> = (0..set.len()).collect();
    for chunk in idx.chunks(batch_size.max(1)) {
        let (x, y) = make_batch(set, chunk, None)?.to_tensors(device);
        let logits = net.forward(resample(x, input));
        let n = chunk.len();
        let logp = burn::tensor::activation::log_softmax(logits.clone(), 1);
        let nll = logp
            .gather(1, y.clone().reshape([n, 1]))
            .sum()
            .neg()
            .into_scalar::<f32>();
        loss_sum += nll as f64;
        let pred = logits.argmax(1).reshape([n]).into_data();
        let pred: Vec<i64> = pred
            .convert::<i64>()
            .try_to_vec::<i64>()
            .expect("int predictions");
        for (&i, p) in chunk.iter().zip(pred) {
            confusion[labels[i]][p as usize] += 1;
            correct_at.push(if p as usize == labels[i] { 1.0 } else { 0.0 });
        }
    }
    let n = set.len().max(1) as f64;
    let correct: u64 = (0..k).map(|c| confusion[c][c]).sum();
    let per_class = confusion
        .iter()
        .enumerate()
        .map(|(c, row)| {
            let total: u64 = row.iter().sum();
            if total == 0 {
                0.0
            } else {
                row[c] as f64 / total as f64
            }
        })
        .collect();
    let classes = (0..k)
        .map(|c| {
            set.classes()
                .get(c)
                .cloned()
                .unwrap_or_else(|| format!("class {c}"))
        })
        .collect();
    Ok(Evaluation {
        images: set.len(),
        top1: correct as f64 / n,
        loss: loss_sum / n,
        classes,
        per_class,
        confusion,
        correct: correct_at,
    })
}

/// The standard error of the mean of `v` (sample standard deviation / √n; 0 for fewer
/// than two values). Of [`Evaluation::correct`]: the binomial standard error of top-1; of
/// the differences of two networks' `correct` on the same images: the paired standard
/// error of their top-1 difference.
pub fn standard_error(v: &[f32]) -> f64 {
    let n = v.len();
    if n < 2 {
        return 0.0;
    }
    let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n as f64;
    let ss: f64 = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum();
    (ss / (n - 1) as f64 / n as f64).sqrt()
}
