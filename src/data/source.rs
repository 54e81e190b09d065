//! [`ImageData`], the data trait the search, training and evaluation loops read, and
//! [`Subset`], a view of some of a data set's images.

use super::crop::crop_resize;
use super::{CropDraws, ResizedCrop, Transform};
use crate::error::{Error, Result};

/// A labelled set of images, as the loops read it: implement it for your own data (held
/// in memory, decoded from disk on demand, generated). Image `i` comes out as
/// `channels × height × width` bytes in CHW order; [`transform`](Self::transform) says how
/// those bytes become a network input (normalisation, and for training the augmentation).
/// The loops read images from a worker thread, hence `Send + Sync`.
///
/// ```
/// use dmasking::data::{ImageData, Transform};
///
/// /// 8x8 grey images: even ones dark, odd ones bright.
/// struct Shades {
///     transform: Transform,
///     classes: Vec<String>,
/// }
///
/// impl ImageData for Shades {
///     fn len(&self) -> usize { 100 }
///     fn shape(&self) -> [usize; 3] { [1, 8, 8] }
///     fn classes(&self) -> &[String] { &self.classes }
///     fn label(&self, i: usize) -> usize { i % 2 }
///     fn read(&self, i: usize, out: &mut [u8]) -> dmasking::Result<()> {
///         out.fill(if i % 2 == 0 { 30 } else { 220 });
///         Ok(())
///     }
///     fn transform(&self) -> &Transform { &self.transform }
/// }
///
/// let data = Shades {
///     transform: Transform { mean: vec![0.5], std: vec![0.35], crop_padding: 0, flip: false, resized_crop: None },
///     classes: vec!["dark".into(), "bright".into()],
/// };
/// dmasking::data::check(&data)?;
/// # Ok::<(), dmasking::Error>(())
/// ```
pub trait ImageData: Send + Sync {
    /// Number of images.
    fn len(&self) -> usize;
    /// `[channels, height, width]` of every image.
    fn shape(&self) -> [usize; 3];
    /// Class names in label order; their number is the number of classes.
    fn classes(&self) -> &[String];
    /// Class index of image `i` (< `classes().len()`). It must not need
    /// [`read`](Self::read): splits, class checks and evaluation read every label up front
    /// without decoding images, so keep labels in memory (a list, or the folder names).
    fn label(&self, i: usize) -> usize;
    /// Write image `i` into `out` (`channels · height · width` bytes, CHW). An image that
    /// cannot be read is an error naming it, not a panic. It must be deterministic (the
    /// same bytes every call, from any thread): batches are decoded on several threads
    /// and a resumed run reads its images again, so reproducibility rests on it; random
    /// augmentation is the loader's, not the data's.
    fn read(&self, i: usize, out: &mut [u8]) -> Result<()>;
    /// Write image `i` cut by a RandomResizedCrop (`crop` with the random numbers `draws`)
    /// and resized to [`shape`](Self::shape) into `out`. The default crops the image as
    /// [`read`](Self::read) gives it; a source that holds larger originals (an image folder)
    /// crops those.
    fn read_resized_crop(
        &self,
        i: usize,
        crop: &ResizedCrop,
        draws: &CropDraws,
        out: &mut [u8],
    ) -> Result<()> {
        let [c, h, w] = self.shape();
        let mut full = vec![0u8; c * h * w];
        self.read(i, &mut full)?;
        let cut = crop.crop_box(w as u32, h as u32, draws);
        for (plane, o) in full.chunks_exact(h * w).zip(out.chunks_exact_mut(h * w)) {
            let img = image::GrayImage::from_raw(w as u32, h as u32, plane.to_vec())
                .expect("a plane of w · h bytes");
            o.copy_from_slice(crop_resize(&img, cut, (w as u32, h as u32)).as_raw());
        }
        Ok(())
    }
    /// How the bytes become a network input: `(x / 255 − mean[c]) / std[c]`, and for
    /// training random crops and flips.
    fn transform(&self) -> &Transform;
    /// Whether there are no images.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Check what the loops rely on before they start: a non-empty image shape, classes, and
/// a transform with one mean and one positive finite std per channel.
pub fn check(data: &dyn ImageData) -> Result<()> {
    let [c, h, w] = data.shape();
    if c == 0 || h == 0 || w == 0 {
        return Err(Error::Data(format!("images of shape {c}x{h}x{w}")));
    }
    if data.classes().is_empty() {
        return Err(Error::Data("the data has no classes".into()));
    }
    let t = data.transform();
    if t.mean.len() != c || t.std.len() != c {
        return Err(Error::Data(format!(
            "the transform has {} means and {} stds for {c} channels",
            t.mean.len(),
            t.std.len()
        )));
    }
    if t.std.iter().any(|s| !(s.is_finite() && *s > 0.0)) || t.mean.iter().any(|m| !m.is_finite()) {
        return Err(Error::Data(
            "the transform's std must be positive and finite, its mean finite".into(),
        ));
    }
    Ok(())
}

/// [`check`], and that `data` fits a network that takes `channels` × `input` × `input`
/// inputs: square images with those channels, at least `input` pixels a side (the loops
/// subsample larger ones). `what` names the data in the error.
pub fn check_input(data: &dyn ImageData, what: &str, channels: usize, input: usize) -> Result<()> {
    check(data)?;
    let [c, h, w] = data.shape();
    if c != channels || h != w || h < input {
        return Err(Error::Data(format!(
            "{what} has {c}x{h}x{w} images but the network expects {channels}x{input}x{input} (square images, subsampled when larger)"
        )));
    }
    Ok(())
}

/// The images of `data` at `indices`, in that order, without copying them.
#[derive(Clone, Copy)]
pub struct Subset<'a> {
    data: &'a dyn ImageData,
    indices: &'a [usize],
}

impl<'a> Subset<'a> {
    /// The images of `data` at `indices` (each < `data.len()`).
    pub fn new(data: &'a dyn ImageData, indices: &'a [usize]) -> Self {
        Subset { data, indices }
    }
}

impl ImageData for Subset<'_> {
    fn len(&self) -> usize {
        self.indices.len()
    }
    fn shape(&self) -> [usize; 3] {
        self.data.shape()
    }
    fn classes(&self) -> &[String] {
        self.data.classes()
    }
    fn label(&self, i: usize) -> usize {
        self.data.label(self.indices[i])
    }
    fn read(&self, i: usize, out: &mut [u8]) -> Result<()> {
        self.data.read(self.indices[i], out)
    }
    fn read_resized_crop(
        &self,
        i: usize,
        crop: &ResizedCrop,
        draws: &CropDraws,
        out: &mut [u8],
    ) -> Result<()> {
        self.data
            .read_resized_crop(self.indices[i], crop, draws, out)
    }
    fn transform(&self) -> &Transform {
        self.data.transform()
    }
}
