//! Seeded split, augmentation and normalisation (the set's `Transform`) and batching on
//! a worker thread.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, sync_channel};

use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng, rngs::StdRng};

use super::ImageSet;

/// Sizes of the two parts [`split`] cuts `n` images into at `fraction`.
pub fn split_sizes(n: usize, fraction: f64) -> (usize, usize) {
    let cut = (((n as f64) * fraction).round() as usize).min(n);
    (cut, n - cut)
}

/// Seeded shuffle of `0..n` cut at `fraction`: (first part, second part).
pub fn split(n: usize, fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(&mut StdRng::seed_from_u64(seed));
    let second = idx.split_off(split_sizes(n, fraction).0);
    (idx, second)
}

/// One batch on the host.
pub struct Batch {
    /// Normalized pixels, flattened in [N, C, H, W] order.
    pub images: Vec<f32>,
    /// Class label of each image.
    pub labels: Vec<i64>,
    /// Shape [N, C, H, W] of `images`.
    pub shape: [usize; 4],
}

impl Batch {
    /// Upload to `device`.
    pub fn to_tensors(self, device: &Device) -> (Tensor<4>, Tensor<1, Int>) {
        let n = self.labels.len();
        (
            Tensor::from_data(TensorData::new(self.images, self.shape), device),
            Tensor::from_data(TensorData::new(self.labels, [n]), device),
        )
    }
}

/// Normalized, optionally augmented (the set's [`Transform`](super::Transform)) copy of
/// image `i` appended to `out`.
fn push_image(set: &ImageSet, i: usize, augment: Option<&mut StdRng>, out: &mut Vec<f32>) {
    let s = set.size as isize;
    let img = set.image(i);
    let t = &set.transform;
    let pad = t.crop_padding as i64;
    let (dx, dy, flip) = match augment {
        Some(rng) => (
            rng.random_range(-pad..=pad) as isize,
            rng.random_range(-pad..=pad) as isize,
            t.flip && rng.random_bool(0.5),
        ),
        None => (0, 0, false),
    };
    for c in 0..set.channels {
        let plane = &img[c * set.size * set.size..(c + 1) * set.size * set.size];
        let (m, sd) = (t.mean[c % t.mean.len()], t.std[c % t.std.len()]);
        for y in 0..s {
            for x in 0..s {
                let sx = if flip { s - 1 - x } else { x } + dx;
                let sy = y + dy;
                let v = if (0..s).contains(&sx) && (0..s).contains(&sy) {
                    plane[(sy * s + sx) as usize] as f32 / 255.0
                } else {
                    0.0 // zero padding, before normalization as torchvision pads
                };
                out.push((v - m) / sd);
            }
        }
    }
}

/// Assemble the batch of images `idx`.
pub fn make_batch(set: &ImageSet, idx: &[usize], mut augment: Option<&mut StdRng>) -> Batch {
    let mut images = Vec::with_capacity(idx.len() * set.image(0).len());
    for &i in idx {
        push_image(set, i, augment.as_deref_mut(), &mut images);
    }
    Batch {
        images,
        labels: idx.iter().map(|&i| set.labels[i] as i64).collect(),
        shape: [idx.len(), set.channels, set.size, set.size],
    }
}

/// The batches of one epoch over `indices` of `set`, shuffled and augmented with RNGs
/// seeded by `seed`, produced on a worker thread a few batches ahead.
pub fn epoch_batches(
    set: Arc<ImageSet>,
    mut indices: Vec<usize>,
    batch_size: usize,
    seed: u64,
    augment: bool,
) -> Receiver<Batch> {
    let (tx, rx) = sync_channel(4);
    std::thread::spawn(move || {
        let mut rng = StdRng::seed_from_u64(seed);
        indices.shuffle(&mut rng);
        for chunk in indices.chunks(batch_size) {
            if chunk.len() < batch_size && indices.len() >= batch_size {
                break; // drop the last partial batch so every step sees one batch size
            }
            let batch = make_batch(&set, chunk, augment.then_some(&mut rng));
            if tx.send(batch).is_err() {
                break;
            }
        }
    });
    rx
}

/// Drop the first `n` batches of `rx` (a resumed epoch's batches already done).
pub fn skip(rx: &std::sync::mpsc::Receiver<Batch>, n: usize) -> crate::error::Result<()> {
    for _ in 0..n {
        rx.recv()
            .map_err(|_| crate::error::Error::Other("data worker stopped while resuming".into()))?;
    }
    Ok(())
}
