//! torchvision's RandomResizedCrop, with its random numbers drawn before the image is
//! read: the loader draws them in order (reproducible with a seed, whichever thread
//! decodes), the data source fits them to the image's own size.

use image::imageops::FilterType;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// A random crop of area s · W · H, s ~ U(scale), and aspect ratio r (log-uniform in
/// `ratio`), resized to the input size; 10 tries, else the centre crop of the whole image
/// with its aspect clamped to `ratio`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ResizedCrop {
    /// Range of the crop's area as a fraction of the image's.
    pub scale: [f32; 2],
    /// Range of the crop's width / height.
    pub ratio: [f32; 2],
}

impl ResizedCrop {
    /// ImageNet training's: area 8 % to 100 %, aspect 3/4 to 4/3.
    pub fn imagenet() -> Self {
        ResizedCrop {
            scale: [0.08, 1.0],
            ratio: [3.0 / 4.0, 4.0 / 3.0],
        }
    }

    /// The crop (left, top, width, height) of a `w` × `h` image for the draws `d`.
    pub fn crop_box(&self, w: u32, h: u32, d: &CropDraws) -> (u32, u32, u32, u32) {
        let area = (w as f32) * (h as f32);
        let (lo, hi) = (self.ratio[0].ln(), self.ratio[1].ln());
        for [a, r, top, left] in d.0 {
            let target = area * (self.scale[0] + a * (self.scale[1] - self.scale[0]));
            let aspect = (lo + r * (hi - lo)).exp();
            let cw = (target * aspect).sqrt().round() as u32;
            let ch = (target / aspect).sqrt().round() as u32;
            if 0 < cw && cw <= w && 0 < ch && ch <= h {
                let x = ((left * (w - cw + 1) as f32) as u32).min(w - cw);
                let y = ((top * (h - ch + 1) as f32) as u32).min(h - ch);
                return (x, y, cw, ch);
            }
        }
        let in_ratio = w as f32 / h.max(1) as f32;
        let (cw, ch) = if in_ratio < self.ratio[0] {
            (w, ((w as f32 / self.ratio[0]).round() as u32).clamp(1, h))
        } else if in_ratio > self.ratio[1] {
            (((h as f32 * self.ratio[1]).round() as u32).clamp(1, w), h)
        } else {
            (w, h)
        };
        ((w - cw) / 2, (h - ch) / 2, cw, ch)
    }
}

/// The uniform numbers in [0, 1) one [`ResizedCrop`] may use: 10 tries of (area, aspect,
/// top, left).
#[derive(Clone, Debug, PartialEq)]
pub struct CropDraws(pub [[f32; 4]; 10]);

impl CropDraws {
    /// Draw them from `rng`.
    pub fn draw(rng: &mut impl Rng) -> Self {
        CropDraws(std::array::from_fn(|_| {
            std::array::from_fn(|_| rng.random::<f32>())
        }))
    }
}

/// Cut `(x, y, w, h)` out of `img` and resize it to `ow` × `oh` (bilinear, antialiased
/// when shrinking, as PIL's).
pub fn crop_resize<P: image::Pixel + 'static>(
    img: &image::ImageBuffer<P, Vec<P::Subpixel>>,
    (x, y, w, h): (u32, u32, u32, u32),
    (ow, oh): (u32, u32),
) -> image::ImageBuffer<P, Vec<P::Subpixel>> {
    let cut = image::imageops::crop_imm(img, x, y, w, h).to_image();
    if (w, h) == (ow, oh) {
        cut
    } else {
        image::imageops::resize(&cut, ow, oh, FilterType::Triangle)
    }
}

#[cfg(test)]
mod tests {
    use rand::{SeedableRng, rngs::StdRng};

    use super::*;

    /// Crops lie inside the image with area and aspect in range, and every part of a
    /// large image is reached.
    #[test]
    fn crops_fit_the_image_and_respect_the_ranges() {
        let c = ResizedCrop::imagenet();
        let mut rng = StdRng::seed_from_u64(1);
        let (mut min_x, mut max_right) = (u32::MAX, 0);
        for (w, h) in [(500, 375), (40, 300), (300, 40), (32, 32)] {
            for _ in 0..500 {
                let (x, y, cw, ch) = c.crop_box(w, h, &CropDraws::draw(&mut rng));
                assert!(cw > 0 && ch > 0 && x + cw <= w && y + ch <= h, "{w}x{h}");
                let area = (cw * ch) as f32 / (w * h) as f32;
                let aspect = cw as f32 / ch as f32;
                let full_fallback = (cw, ch) == (w, h);
                if !full_fallback && w == 500 {
                    assert!((0.07..=1.01).contains(&area), "area {area}");
                    assert!((0.70..=1.40).contains(&aspect), "aspect {aspect}");
                    min_x = min_x.min(x);
                    max_right = max_right.max(x + cw);
                }
            }
        }
        assert!(min_x < 10 && max_right > 490, "{min_x} {max_right}");
    }

    /// With no try that fits (a very wide image and draws asking for nearly all of it at
    /// aspect 3/4), the centre crop of the whole image, aspect clamped to 4/3.
    #[test]
    fn fallback_is_the_clamped_centre_crop() {
        let c = ResizedCrop::imagenet();
        let d = CropDraws([[0.999, 0.0, 0.5, 0.5]; 10]);
        assert_eq!(c.crop_box(400, 100, &d), (133, 0, 133, 100));
    }
}
