//! A labelled set of square images in memory, and how its images become network inputs.

use serde::{Deserialize, Serialize};

use super::ImageData;
use crate::error::{Error, Result};

/// How an image becomes a network input: `(x / 255 − mean[c]) / std[c]` per channel
/// (one mean and std per channel: [`check`](super::check), which the search, training
/// and batching apply), and
/// for training the augmentation: a random crop of the image zero-padded by
/// `crop_padding` pixels on every side (or, with `resized_crop`, torchvision's
/// RandomResizedCrop of the original image instead), and a horizontal flip with
/// probability ½.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Transform {
    /// Per-channel mean of the scaled pixels (one value per channel).
    pub mean: Vec<f32>,
    /// Per-channel standard deviation.
    pub std: Vec<f32>,
    /// Random-crop padding in pixels (0: no crop).
    pub crop_padding: usize,
    /// Random horizontal flips.
    pub flip: bool,
    /// Training crops by RandomResizedCrop instead of the padded crop (default: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resized_crop: Option<super::ResizedCrop>,
}

/// ImageNet's per-channel mean of RGB scaled to [0, 1] (torchvision's).
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// ImageNet's per-channel standard deviation (torchvision's).
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

impl Transform {
    /// CIFAR-10's: its training images' mean and std, 4-pixel crops and flips.
    pub fn cifar10() -> Self {
        Transform {
            mean: vec![0.4914, 0.4822, 0.4465],
            std: vec![0.2470, 0.2435, 0.2616],
            crop_padding: 4,
            flip: true,
            resized_crop: None,
        }
    }
}

impl Default for Transform {
    fn default() -> Self {
        Self::cifar10()
    }
}

/// Images in CHW u8 layout with their labels.
#[derive(Clone, Debug, Default)]
pub struct ImageSet {
    /// Channels per image.
    pub channels: usize,
    /// Height and width (images are square).
    pub size: usize,
    /// `len · channels · size · size` bytes.
    pub pixels: Vec<u8>,
    /// Class index of every image.
    pub labels: Vec<u32>,
    /// Class names in label order.
    pub classes: Vec<String>,
    /// Normalisation and augmentation.
    pub transform: Transform,
}

impl ImageSet {
    /// A set from `len` images of `channels × size × size` bytes (CHW) and their labels,
    /// normalised by the images' own per-channel mean and std, with 4-pixel crops and
    /// flips when training; checks that sizes, labels and class names agree.
    ///
    /// ```
    /// use dmasking::data::ImageSet;
    ///
    /// // Two 1x2x2 images: one dark, one bright.
    /// let set = ImageSet::new(1, 2, vec![0, 0, 0, 0, 255, 255, 255, 255], vec![0, 1],
    ///     vec!["dark".into(), "bright".into()])?;
    /// assert_eq!(set.len(), 2);
    /// assert!((set.transform.mean[0] - 0.5).abs() < 1e-6);
    /// assert!((set.transform.std[0] - 0.5).abs() < 1e-6);
    /// // A label without a class name is an error.
    /// assert!(ImageSet::new(1, 2, vec![0; 4], vec![2], vec!["a".into(), "b".into()]).is_err());
    /// # Ok::<(), dmasking::Error>(())
    /// ```
    pub fn new(
        channels: usize,
        size: usize,
        pixels: Vec<u8>,
        labels: Vec<u32>,
        classes: Vec<String>,
    ) -> Result<Self> {
        let per = channels * size * size;
        if per == 0 || pixels.len() != labels.len() * per {
            return Err(Error::Data(format!(
                "{} bytes of pixels are not {} images of {channels}x{size}x{size}",
                pixels.len(),
                labels.len()
            )));
        }
        if let Some(&l) = labels.iter().find(|&&l| l as usize >= classes.len()) {
            return Err(Error::Data(format!(
                "label {l} but only {} class names",
                classes.len()
            )));
        }
        let mut set = ImageSet {
            channels,
            size,
            pixels,
            labels,
            classes,
            transform: Transform::cifar10(),
        };
        set.transform.mean.clear();
        set.transform.std.clear();
        for c in 0..channels {
            let (mut s, mut s2, mut n) = (0.0f64, 0.0f64, 0.0f64);
            for i in 0..set.len() {
                for &v in &set.image(i)[c * size * size..(c + 1) * size * size] {
                    let v = v as f64 / 255.0;
                    s += v;
                    s2 += v * v;
                    n += 1.0;
                }
            }
            let mean = s / n.max(1.0);
            let std = (s2 / n.max(1.0) - mean * mean).max(0.0).sqrt();
            set.transform.mean.push(mean as f32);
            set.transform
                .std
                .push(if std > 1e-6 { std as f32 } else { 1.0 });
        }
        Ok(set)
    }

    /// Check that the transform fits the images: one positive finite std and one mean per
    /// channel ([`check`](super::check)).
    pub fn check_transform(&self) -> Result<()> {
        super::check(self)
    }

    /// The same images with another transform.
    pub fn with_transform(mut self, transform: Transform) -> Self {
        self.transform = transform;
        self
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Bytes of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.channels * self.size * self.size;
        &self.pixels[i * n..(i + 1) * n]
    }

    /// The seeded training subset a run with `--max-images n` and `seed` uses (search,
    /// training and the example draw the same images for the same seed).
    pub fn train_subset(&self, n: usize, seed: u64) -> ImageSet {
        self.subset(&super::loader::train_subset_indices(self.len(), n, seed))
    }

    /// The test subset of `--max-test-images n`, the same in `train` and `eval`, so that
    /// an evaluation reproduces the accuracy its training run logged.
    pub fn test_subset(&self, n: usize) -> ImageSet {
        self.subset(&super::loader::test_subset_indices(self.len(), n))
    }

    /// A seeded random subset of `n` images (all of them, shuffled, when `n` ≥ len):
    /// image folders are sorted by class, so a prefix would not do.
    pub fn random_subset(&self, n: usize, seed: u64) -> ImageSet {
        self.subset(&super::random_indices(self.len(), n, seed))
    }

    /// The images at `idx`, in that order.
    pub fn subset(&self, idx: &[usize]) -> ImageSet {
        let mut pixels = Vec::with_capacity(idx.len() * self.channels * self.size * self.size);
        for &i in idx {
            pixels.extend_from_slice(self.image(i));
        }
        ImageSet {
            channels: self.channels,
            size: self.size,
            pixels,
            labels: idx.iter().map(|&i| self.labels[i]).collect(),
            classes: self.classes.clone(),
            transform: self.transform.clone(),
        }
    }
}

impl ImageData for ImageSet {
    fn len(&self) -> usize {
        self.labels.len()
    }
    fn shape(&self) -> [usize; 3] {
        [self.channels, self.size, self.size]
    }
    fn classes(&self) -> &[String] {
        &self.classes
    }
    fn label(&self, i: usize) -> usize {
        self.labels[i] as usize
    }
    fn read(&self, i: usize, out: &mut [u8]) -> Result<()> {
        out.copy_from_slice(self.image(i));
        Ok(())
    }
    fn transform(&self) -> &Transform {
        &self.transform
    }
}
