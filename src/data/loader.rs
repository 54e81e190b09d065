//! Seeded split, augmentation and normalisation (the set's `Transform`) and batching on
//! a worker thread.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, sync_channel};

use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng, rngs::StdRng};

use super::{CropDraws, ImageData};
use crate::error::Result;

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

/// `n` of the indices `0..len` in a seeded random order (all of them when `n` ≥ len):
/// image folders are sorted by class, so a prefix would not do.
pub fn random_indices(len: usize, n: usize, seed: u64) -> Vec<usize> {
    let (mut keep, _) = split(len, 1.0, seed);
    keep.truncate(n);
    keep
}

/// The seeded training subset a run with `--max-images n` and `seed` uses, as indices
/// (search, training and the examples draw the same images for the same seed).
pub fn train_subset_indices(len: usize, n: usize, seed: u64) -> Vec<usize> {
    random_indices(len, n, seed ^ 0x5EED)
}

/// The test subset of `--max-test-images n`, the same in `train` and `eval`, so that an
/// evaluation reproduces the accuracy its training run logged.
pub fn test_subset_indices(len: usize, n: usize) -> Vec<usize> {
    random_indices(len, n, 0x7E57)
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

/// How one training image is augmented, drawn before it is read.
enum Augment {
    /// The padded crop's offset and the flip.
    Shift { dx: isize, dy: isize, flip: bool },
    /// RandomResizedCrop's numbers and the flip.
    Resized { draws: CropDraws, flip: bool },
}

impl Augment {
    /// The augmentation of the next image under `t`, drawn from `rng`.
    fn draw(t: &super::Transform, rng: &mut StdRng) -> Self {
        if t.resized_crop.is_some() {
            let draws = CropDraws::draw(rng);
            return Augment::Resized {
                draws,
                flip: t.flip && rng.random_bool(0.5),
            };
        }
        let pad = t.crop_padding as i64;
        Augment::Shift {
            dx: rng.random_range(-pad..=pad) as isize,
            dy: rng.random_range(-pad..=pad) as isize,
            flip: t.flip && rng.random_bool(0.5),
        }
    }
}

/// Normalized, optionally augmented (the data's [`Transform`](super::Transform)) copy of
/// image `i` written to `out`; `buf` holds its bytes.
fn write_image(
    data: &dyn ImageData,
    i: usize,
    augment: Option<&Augment>,
    buf: &mut [u8],
    out: &mut [f32],
) -> Result<()> {
    let [channels, h, w] = data.shape();
    let t = data.transform();
    let (dx, dy, flip) = match augment {
        Some(Augment::Resized { draws, flip }) => {
            let crop = t.resized_crop.as_ref().expect("drawn for a resized crop");
            data.read_resized_crop(i, crop, draws, buf)?;
            (0, 0, *flip)
        }
        Some(&Augment::Shift { dx, dy, flip }) => {
            data.read(i, buf)?;
            (dx, dy, flip)
        }
        None => {
            data.read(i, buf)?;
            (0, 0, false)
        }
    };
    let (hi, wi) = (h as isize, w as isize);
    let mut o = out.iter_mut();
    for c in 0..channels {
        let plane = &buf[c * h * w..][..h * w];
        let (m, sd) = (t.mean[c], t.std[c]);
        for y in 0..hi {
            for x in 0..wi {
                let sx = if flip { wi - 1 - x } else { x } + dx;
                let sy = y + dy;
                let v = if (0..wi).contains(&sx) && (0..hi).contains(&sy) {
                    plane[(sy * wi + sx) as usize] as f32 / 255.0
                } else {
                    0.0 // zero padding, before normalization as torchvision pads
                };
                *o.next().expect("out holds one image") = (v - m) / sd;
            }
        }
    }
    Ok(())
}

/// Threads that read and decode a batch's images (the cores the machine has).
pub fn decode_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Assemble the batch of images `idx` of `data` (an error where [`check`](super::check)
/// rejects the data or an image cannot be read). The augmentation of every image is drawn
/// from `augment` in order first; the images are then read and decoded on several threads,
/// so the batch is the same whichever thread reads which image.
pub fn make_batch(
    data: &dyn ImageData,
    idx: &[usize],
    augment: Option<&mut StdRng>,
) -> Result<Batch> {
    let augs = augment.map(|rng| draw_augments(data, idx.len(), rng));
    fill_batch(data, idx, augs.as_deref())
}

/// The augmentations of `n` images, in order.
fn draw_augments(data: &dyn ImageData, n: usize, rng: &mut StdRng) -> Vec<Augment> {
    let t = data.transform();
    (0..n).map(|_| Augment::draw(t, rng)).collect()
}

/// The batch of images `idx` with the augmentations `augs` (one per image).
fn fill_batch(data: &dyn ImageData, idx: &[usize], augs: Option<&[Augment]>) -> Result<Batch> {
    super::check(data)?;
    let [c, h, w] = data.shape();
    let per = c * h * w;
    let mut images = vec![0f32; idx.len() * per];
    let threads = decode_threads().min(idx.len()).max(1);
    let per_thread = idx.len().div_ceil(threads).max(1);
    let results: Vec<Result<()>> = std::thread::scope(|s| {
        let handles: Vec<_> = images
            .chunks_mut(per_thread * per)
            .enumerate()
            .map(|(t, out)| {
                s.spawn(move || {
                    let mut buf = vec![0u8; per];
                    for (k, o) in out.chunks_exact_mut(per).enumerate() {
                        let j = t * per_thread + k;
                        write_image(data, idx[j], augs.map(|a| &a[j]), &mut buf, o)?;
                    }
                    Ok(())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a decoding thread panicked"))
            .collect()
    });
    results.into_iter().collect::<Result<Vec<()>>>()?;
    Ok(Batch {
        images,
        labels: idx.iter().map(|&i| data.label(i) as i64).collect(),
        shape: [idx.len(), c, h, w],
    })
}

/// The batches of one epoch over `indices` of `data`, shuffled and augmented with RNGs
/// seeded by `seed`, produced on a worker thread a few batches ahead (a bounded queue of
/// four). The first `start` batches are skipped without reading their images (a resumed
/// epoch's batches already done): their augmentations are drawn, so the rest are those of
/// an uninterrupted epoch. An image that cannot be read ends the epoch with its error.
pub fn epoch_batches(
    data: Arc<dyn ImageData>,
    mut indices: Vec<usize>,
    batch_size: usize,
    seed: u64,
    augment: bool,
    start: usize,
) -> Receiver<Result<Batch>> {
    let (tx, rx) = sync_channel(4);
    std::thread::spawn(move || {
        let mut rng = StdRng::seed_from_u64(seed);
        indices.shuffle(&mut rng);
        for (k, chunk) in indices.chunks(batch_size).enumerate() {
            if chunk.len() < batch_size && indices.len() >= batch_size {
                break; // drop the last partial batch so every step sees one batch size
            }
            let augs = augment.then(|| draw_augments(&*data, chunk.len(), &mut rng));
            if k < start {
                continue;
            }
            let batch = fill_batch(&*data, chunk, augs.as_deref());
            let failed = batch.is_err();
            if tx.send(batch).is_err() || failed {
                break;
            }
        }
    });
    rx
}

/// The next batch of `rx`; `None` at the end of the epoch, an error where an image could
/// not be read.
pub fn next_batch(rx: &Receiver<Result<Batch>>) -> Result<Option<Batch>> {
    match rx.recv() {
        Ok(b) => b.map(Some),
        Err(_) => Ok(None),
    }
}
