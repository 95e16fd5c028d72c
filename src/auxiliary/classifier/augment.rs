//! Decoded training images and batch assembly: the standard CIFAR-10 augmentation (random
//! 32x32 crop of the image zero-padded by 4 pixels, horizontal flip with probability 1/2),
//! driven by a seeded RNG so a run and its resumption draw the same crops, then
//! per-channel normalisation.

use candle_core::{Device, Tensor};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::{ClassifierError, Result};
use crate::data::Dataset;

/// Per-channel mean of the CIFAR-10 training images (pixel values in `[0, 1]`).
pub const CIFAR10_MEAN: [f32; 3] = [0.4914, 0.4822, 0.4465];
/// Per-channel standard deviation of the CIFAR-10 training images.
pub const CIFAR10_STD: [f32; 3] = [0.2470, 0.2435, 0.2616];

/// A split decoded once into memory: 50,000 CIFAR images are 150 MB of pixels, and
/// decoding JPEGs every epoch would cost more than a small network's training step.
#[derive(Debug, Clone)]
pub struct Images {
    /// Width of every image in pixels.
    pub width: usize,
    /// Height of every image in pixels.
    pub height: usize,
    /// `[N, H, W, 3]` bytes.
    pub pixels: Vec<u8>,
    /// `[N]` class indices, in the dataset's sample order.
    pub labels: Vec<u32>,
}

impl Images {
    /// Decodes every sample; all images must share one size.
    pub fn decode(data: &Dataset) -> Result<Self> {
        if data.is_empty() {
            return Err(ClassifierError::invalid(format!(
                "{}: the {} split has no images",
                data.spec.path().display(),
                data.split
            )));
        }
        let decoded = (0..data.len())
            .into_par_iter()
            .map(|i| data.image(i))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let (width, height) = (decoded[0].width, decoded[0].height);
        let mut pixels = Vec::with_capacity(decoded.len() * width * height * 3);
        for (image, sample) in decoded.iter().zip(&data.samples) {
            if (image.width, image.height) != (width, height) {
                return Err(ClassifierError::invalid(format!(
                    "{}: image {} is {}x{}, the first image {width}x{height}; the classifier needs one size",
                    data.spec.path().display(),
                    sample.id,
                    image.width,
                    image.height
                )));
            }
            pixels.extend_from_slice(&image.pixels);
        }
        let labels = data.samples.iter().map(|s| s.label as u32).collect();
        Ok(Self {
            width,
            height,
            pixels,
            labels,
        })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// Crop-and-flip settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Augment {
    /// Zero padding on each side before the random crop (0 disables cropping).
    pub pad: usize,
    /// Random horizontal flips.
    pub flip: bool,
}

impl Augment {
    /// The standard CIFAR-10 augmentation.
    pub const STANDARD: Augment = Augment { pad: 4, flip: true };
    /// No augmentation.
    pub const NONE: Augment = Augment {
        pad: 0,
        flip: false,
    };
}

/// A normalised `[B, 3, H, W]` f32 batch of the images at `indices` and their `[B]` u32
/// labels. The RNG is drawn (crop y, crop x, flip, per image in order) only for the
/// augmentations that are enabled.
pub fn batch(
    images: &Images,
    indices: &[usize],
    augment: Augment,
    rng: &mut ChaCha8Rng,
    device: &Device,
) -> Result<(Tensor, Tensor)> {
    let (w, h) = (images.width, images.height);
    let plane = w * h;
    let pad = augment.pad as isize;
    // Parameters are drawn serially so the stream does not depend on thread scheduling.
    let draws: Vec<(isize, isize, bool)> = indices
        .iter()
        .map(|_| {
            let dy = if pad > 0 {
                rng.random_range(0..=2 * pad as i64) as isize - pad
            } else {
                0
            };
            let dx = if pad > 0 {
                rng.random_range(0..=2 * pad as i64) as isize - pad
            } else {
                0
            };
            let flip = augment.flip && rng.random_bool(0.5);
            (dy, dx, flip)
        })
        .collect();
    // A padded pixel is 0 before normalisation, like torchvision's Pad on the PIL image.
    let scale: [f32; 3] = std::array::from_fn(|c| 1.0 / (255.0 * CIFAR10_STD[c]));
    let shift: [f32; 3] = std::array::from_fn(|c| -CIFAR10_MEAN[c] / CIFAR10_STD[c]);
    let mut out = vec![0f32; indices.len() * 3 * plane];
    out.par_chunks_mut(3 * plane)
        .zip(indices.par_iter().zip(&draws))
        .for_each(|(dst, (&index, &(dy, dx, flip)))| {
            let src = &images.pixels[index * plane * 3..(index + 1) * plane * 3];
            for y in 0..h {
                let sy = y as isize + dy;
                for x in 0..w {
                    let xx = if flip { w - 1 - x } else { x };
                    let sx = xx as isize + dx;
                    let inside = sy >= 0 && sx >= 0 && (sy as usize) < h && (sx as usize) < w;
                    for c in 0..3 {
                        let value = if inside {
                            src[(sy as usize * w + sx as usize) * 3 + c] as f32
                        } else {
                            0.0
                        };
                        dst[c * plane + y * w + x] = value * scale[c] + shift[c];
                    }
                }
            }
        });
    let labels: Vec<u32> = indices.iter().map(|&i| images.labels[i]).collect();
    let x = Tensor::from_vec(out, (indices.len(), 3, h, w), device)?;
    let y = Tensor::from_vec(labels, indices.len(), device)?;
    Ok((x, y))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn ramp() -> Images {
        // One 4x4 image whose red channel is 10 * (y * 4 + x).
        let mut pixels = vec![0u8; 4 * 4 * 3];
        for i in 0..16 {
            pixels[i * 3] = (10 * i) as u8;
        }
        Images {
            width: 4,
            height: 4,
            pixels,
            labels: vec![7],
        }
    }

    fn red(x: &Tensor) -> Vec<f32> {
        let v: Vec<f32> = x.flatten_all().unwrap().to_vec1().unwrap();
        v[..16]
            .iter()
            .map(|&n| ((n * CIFAR10_STD[0] + CIFAR10_MEAN[0]) * 255.0).round())
            .collect()
    }

    #[test]
    fn no_augmentation_normalises_only() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let (x, y) = batch(&ramp(), &[0], Augment::NONE, &mut rng, &Device::Cpu).unwrap();
        assert_eq!(x.dims(), &[1, 3, 4, 4]);
        assert_eq!(y.to_vec1::<u32>().unwrap(), [7]);
        let expected: Vec<f32> = (0..16).map(|i| (10 * i) as f32).collect();
        assert_eq!(red(&x), expected);
    }

    #[test]
    fn crops_shift_with_zero_fill_and_flips_mirror() {
        let images = ramp();
        let mut seen_flip = false;
        let mut seen_shift = false;
        for seed in 0..40 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let augment = Augment { pad: 1, flip: true };
            let (x, _) = batch(&images, &[0], augment, &mut rng, &Device::Cpu).unwrap();
            let got = red(&x);
            // Recompute the expected pixels from the same draws.
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let dy = rng.random_range(0..=2i64) as isize - 1;
            let dx = rng.random_range(0..=2i64) as isize - 1;
            let flip = rng.random_bool(0.5);
            seen_flip |= flip;
            seen_shift |= dx != 0 || dy != 0;
            for y in 0..4isize {
                for x in 0..4isize {
                    let xx = if flip { 3 - x } else { x };
                    let (sy, sx) = (y + dy, xx + dx);
                    let value = if (0..4).contains(&sy) && (0..4).contains(&sx) {
                        (10 * (sy * 4 + sx)) as f32
                    } else {
                        0.0
                    };
                    assert_eq!(got[(y * 4 + x) as usize], value, "seed {seed}");
                }
            }
        }
        assert!(seen_flip && seen_shift);
    }
}
