//! OpenAI CLIP's image preprocessing: resize the shorter side with PIL's bicubic filter,
//! centre-crop, scale to `[0, 1]`, normalise per channel.
//!
//! The resize reproduces Pillow's `ImagingResample` for 8-bit images exactly (separable
//! convolution, support widened by the scale factor when shrinking, coefficients in 22-bit
//! fixed point, horizontal pass then vertical pass, each rounded to 8 bits), because the
//! `image` crate's Catmull-Rom filter and float arithmetic give different pixels. The crop
//! offsets follow torchvision's `CenterCrop` (round half to even), which OpenAI's transform
//! uses; `transformers`' own `center_crop` floors instead and differs by one pixel on some
//! odd margins.

use std::path::Path;

use serde::Deserialize;

use super::checkpoint::ClipFiles;
use super::config::ClipConfig;
use super::ClipError;
use crate::artifact::IoContext;

type Result<T, E = ClipError> = std::result::Result<T, E>;

// OpenAI's published constants, digit for digit; as f32 they round exactly as torch's do.
/// OpenAI's per-channel (RGB) mean of pixel values in `[0, 1]`, subtracted before dividing
/// by [`OPENAI_STD`].
#[allow(clippy::excessive_precision)]
pub const OPENAI_MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
/// OpenAI's per-channel (RGB) standard deviation of pixel values in `[0, 1]`.
#[allow(clippy::excessive_precision)]
pub const OPENAI_STD: [f32; 3] = [0.268_629_54, 0.261_302_58, 0.275_777_11];

/// An 8-bit RGB image, row-major, 3 bytes a pixel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbImage {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `width * height * 3` bytes: R, G, B for each pixel, rows top to bottom.
    pub pixels: Vec<u8>,
}

impl RgbImage {
    /// An image from raw pixels; [`ClipError::Invalid`] unless `pixels` holds exactly
    /// `width * height * 3` bytes.
    pub fn new(width: usize, height: usize, pixels: Vec<u8>) -> Result<Self> {
        if pixels.len() != width * height * 3 {
            return Err(ClipError::invalid(format!(
                "image buffer of {} bytes does not hold {width}x{height} RGB pixels",
                pixels.len()
            )));
        }
        Ok(Self {
            width,
            height,
            pixels,
        })
    }

    /// Decodes a JPEG with libjpeg-turbo (PIL's decoder, so pixels match PIL's exactly) and
    /// any other format the `image` crate reads (PNG, ...), converting to RGB. CMYK and
    /// YCCK JPEGs become RGB as PIL's `convert("RGB")` makes them (Adobe's inverted CMYK,
    /// no colour management).
    pub fn decode(bytes: &[u8]) -> std::result::Result<Self, String> {
        if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            return decode_jpeg(bytes);
        }
        let rgb = image::load_from_memory(bytes)
            .map_err(|e| e.to_string())?
            .into_rgb8();
        let (width, height) = (rgb.width() as usize, rgb.height() as usize);
        Ok(Self {
            width,
            height,
            pixels: rgb.into_raw(),
        })
    }

    /// Reads and decodes an image file ([`RgbImage::decode`]); errors name the file.
    pub fn open(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).at(path)?;
        Self::decode(&bytes).map_err(|e| {
            ClipError::invalid(format!("{}: cannot decode image: {e}", path.display()))
        })
    }
}

fn decode_jpeg(bytes: &[u8]) -> std::result::Result<RgbImage, String> {
    silence_jpeg_panics();
    // libjpeg reports corrupt data through its error handler, which the mozjpeg crate turns
    // into a Rust panic; it is caught here and becomes an ordinary error.
    let decoded = std::panic::catch_unwind(|| -> std::io::Result<RgbImage> {
        let decoder = mozjpeg::Decompress::new_mem(bytes)?;
        if matches!(
            decoder.color_space(),
            mozjpeg::ColorSpace::JCS_CMYK | mozjpeg::ColorSpace::JCS_YCCK
        ) {
            // libjpeg converts YCCK to CMYK itself; CMYK to RGB is PIL's conversion.
            let mut decoder = decoder.to_colorspace(mozjpeg::ColorSpace::JCS_CMYK)?;
            let (width, height) = (decoder.width(), decoder.height());
            let cmyk: Vec<[u8; 4]> = decoder.read_scanlines()?;
            decoder.finish()?;
            return Ok(RgbImage {
                width,
                height,
                pixels: cmyk.iter().flat_map(|&p| adobe_cmyk_to_rgb(p)).collect(),
            });
        }
        let mut decoder = decoder.rgb()?;
        let (width, height) = (decoder.width(), decoder.height());
        let rows: Vec<[u8; 3]> = decoder.read_scanlines()?;
        decoder.finish()?;
        Ok(RgbImage {
            width,
            height,
            pixels: rows.concat(),
        })
    });
    match decoded {
        Ok(Ok(image)) if image.pixels.len() == image.width * image.height * 3 => Ok(image),
        Ok(Ok(_)) => Err("truncated JPEG data".to_string()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(payload) => Err(payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "corrupt JPEG data".to_string())),
    }
}

/// One pixel of libjpeg's CMYK output to RGB exactly as PIL's `Image.open(f).convert("RGB")`
/// does. PIL reads every CMYK JPEG with Adobe's inverted polarity (raw mode `CMYK;I`: its
/// C is `255 - stored`, ...), Adobe marker or not, then converts with
/// `channel = clip(nk - nk * channel / 255)`, `nk = 255 - K`, the product rounded in fixed
/// point as its `MULDIV255` macro does. With the inversion folded in, `nk` is the stored
/// K byte and each channel is `nk - MULDIV255(255 - stored, nk)`.
fn adobe_cmyk_to_rgb([c, m, y, k]: [u8; 4]) -> [u8; 3] {
    let nk = u32::from(k);
    let channel = |stored: u8| {
        let t = u32::from(255 - stored) * nk + 128;
        let product = ((t >> 8) + t) >> 8;
        // PIL clips to 0..=255; the rounded product never exceeds nk anyway.
        nk.saturating_sub(product) as u8
    };
    [channel(c), channel(m), channel(y)]
}

/// Keeps the panics that carry libjpeg's errors off stderr (they are reported as errors);
/// every other panic still reaches the previous hook.
fn silence_jpeg_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let from_libjpeg = info
                .location()
                .is_some_and(|l| l.file().contains("mozjpeg"));
            if !from_libjpeg {
                previous(info);
            }
        }));
    });
}

/// The preprocessing settings of a checkpoint (`preprocessor_config.json`), defaulting to
/// OpenAI's for the model's input size. Serialised (JSON) it is part of the cache key of
/// image embeddings.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Preprocess {
    /// Target of the shorter side.
    pub resize_shortest: usize,
    /// Height of the centre crop, the model's input height.
    pub crop_height: usize,
    /// Width of the centre crop, the model's input width.
    pub crop_width: usize,
    /// Per-channel mean subtracted from pixels scaled to `[0, 1]`.
    pub mean: [f32; 3],
    /// Per-channel standard deviation the centred pixels are divided by.
    pub std: [f32; 3],
}

#[derive(Deserialize)]
struct PreprocessorJson {
    #[serde(default)]
    size: Option<SizeJson>,
    #[serde(default)]
    crop_size: Option<SizeJson>,
    #[serde(default)]
    image_mean: Option<Vec<f32>>,
    #[serde(default)]
    image_std: Option<Vec<f32>>,
    #[serde(default)]
    resample: Option<u32>,
    #[serde(default)]
    do_center_crop: Option<bool>,
    #[serde(default)]
    do_resize: Option<bool>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum SizeJson {
    Square(usize),
    Shortest { shortest_edge: usize },
    Rect { height: usize, width: usize },
}

/// Pillow's resampling-filter code for bicubic.
const PIL_BICUBIC: u32 = 3;

impl Preprocess {
    /// OpenAI's transform for a square `image_size` input: shorter side resized to it,
    /// centre crop of that size, [`OPENAI_MEAN`] and [`OPENAI_STD`].
    pub fn openai(image_size: usize) -> Self {
        Self {
            resize_shortest: image_size,
            crop_height: image_size,
            crop_width: image_size,
            mean: OPENAI_MEAN,
            std: OPENAI_STD,
        }
    }

    /// The preprocessing of a checkpoint: `preprocessor_config.json` when it has one, else
    /// OpenAI's for `config.json`'s `vision_config.image_size`. Reads only those two small
    /// files, never the weights.
    pub fn for_checkpoint(files: &ClipFiles) -> Result<Self> {
        let config = ClipConfig::from_file(&files.config)?;
        Self::for_image_size(files, config.vision_config.image_size)
    }

    /// [`Preprocess::for_checkpoint`] once `config.json` has been read; the crop must be
    /// the model's input size.
    pub(crate) fn for_image_size(files: &ClipFiles, image_size: usize) -> Result<Self> {
        let preprocess = match &files.preprocessor {
            Some(path) => Self::from_file(path, image_size)?,
            None => Self::openai(image_size),
        };
        if (preprocess.crop_height, preprocess.crop_width) != (image_size, image_size) {
            return Err(ClipError::checkpoint(
                files.preprocessor.as_deref().unwrap_or(&files.config),
                format!(
                    "crop_size {}x{} does not match vision_config.image_size {image_size}",
                    preprocess.crop_height, preprocess.crop_width
                ),
            ));
        }
        Ok(preprocess)
    }

    /// Reads `preprocessor_config.json`; settings softtext does not implement (another
    /// resampling filter, no resize, no crop) are refused rather than ignored.
    pub fn from_file(path: &Path, image_size: usize) -> Result<Self> {
        let text = std::fs::read_to_string(path).at(path)?;
        let json: PreprocessorJson = serde_json::from_str(&text)
            .map_err(|e| ClipError::checkpoint(path, format!("line {}: {e}", e.line())))?;
        let unsupported = |field: &str, value: String| {
            ClipError::checkpoint(
                path,
                format!("{field} = {value} is not supported (softtext implements OpenAI CLIP's bicubic resize + centre crop)"),
            )
        };
        if let Some(resample) = json.resample.filter(|&r| r != PIL_BICUBIC) {
            return Err(unsupported("resample", resample.to_string()));
        }
        if json.do_resize == Some(false) {
            return Err(unsupported("do_resize", "false".into()));
        }
        if json.do_center_crop == Some(false) {
            return Err(unsupported("do_center_crop", "false".into()));
        }
        let mut p = Self::openai(image_size);
        match json.size {
            Some(SizeJson::Square(s)) | Some(SizeJson::Shortest { shortest_edge: s }) => {
                p.resize_shortest = s
            }
            Some(SizeJson::Rect { height, width }) if height == width => p.resize_shortest = height,
            Some(SizeJson::Rect { height, width }) => {
                return Err(unsupported("size", format!("{height}x{width}")))
            }
            None => {}
        }
        match json.crop_size {
            Some(SizeJson::Square(s)) | Some(SizeJson::Shortest { shortest_edge: s }) => {
                (p.crop_height, p.crop_width) = (s, s)
            }
            Some(SizeJson::Rect { height, width }) => {
                (p.crop_height, p.crop_width) = (height, width)
            }
            None => {}
        }
        if p.resize_shortest == 0 || p.crop_height == 0 || p.crop_width == 0 {
            return Err(ClipError::checkpoint(
                path,
                "size and crop_size must be at least 1 pixel",
            ));
        }
        let triple = |field: &str, v: Option<Vec<f32>>, default: [f32; 3]| -> Result<[f32; 3]> {
            match v {
                None => Ok(default),
                Some(v) => <[f32; 3]>::try_from(v.as_slice()).map_err(|_| {
                    ClipError::checkpoint(
                        path,
                        format!("{field} must have 3 values, has {}", v.len()),
                    )
                }),
            }
        };
        p.mean = triple("image_mean", json.image_mean, OPENAI_MEAN)?;
        p.std = triple("image_std", json.image_std, OPENAI_STD)?;
        if p.std.iter().any(|&s| s <= 0.0 || !s.is_finite()) {
            return Err(ClipError::checkpoint(
                path,
                "image_std values must be positive",
            ));
        }
        Ok(p)
    }

    /// Size after the shorter side is resized: torchvision's rule (the longer side scales
    /// and is truncated), which PIL-based `transformers` shares.
    pub fn resized_size(&self, width: usize, height: usize) -> (usize, usize) {
        let target = self.resize_shortest;
        if width <= height {
            (target, (target * height) / width)
        } else {
            ((target * width) / height, target)
        }
    }

    /// Resized and cropped 8-bit pixels: the image OpenAI's transform feeds to `ToTensor`.
    /// [`ClipError::Invalid`] for an image without pixels.
    pub fn resize_crop(&self, image: &RgbImage) -> Result<RgbImage> {
        if image.width == 0 || image.height == 0 {
            return Err(ClipError::invalid("image has no pixels"));
        }
        let (w, h) = self.resized_size(image.width, image.height);
        let resized = resize_bicubic(image, w, h);
        Ok(center_crop(&resized, self.crop_width, self.crop_height))
    }

    /// Normalised CHW floats, appended to `out` (so a batch is built without copies).
    pub fn pixel_values_into(&self, image: &RgbImage, out: &mut Vec<f32>) -> Result<()> {
        let cropped = self.resize_crop(image)?;
        let plane = cropped.width * cropped.height;
        let start = out.len();
        out.resize(start + 3 * plane, 0.0);
        let dst = &mut out[start..];
        for (i, px) in cropped.pixels.chunks_exact(3).enumerate() {
            for c in 0..3 {
                dst[c * plane + i] = (px[c] as f32 / 255.0 - self.mean[c]) / self.std[c];
            }
        }
        Ok(())
    }

    /// Normalised CHW floats of one image, `3 * crop_height * crop_width` values.
    pub fn pixel_values(&self, image: &RgbImage) -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(3 * self.crop_height * self.crop_width);
        self.pixel_values_into(image, &mut out)?;
        Ok(out)
    }
}

/// Centre crop with torchvision's offsets; where the image is smaller than the crop the
/// missing pixels are black. CLIP's resize makes the shorter side equal to the crop, so
/// that only happens with unusual preprocessor configs.
fn center_crop(image: &RgbImage, width: usize, height: usize) -> RgbImage {
    let offset = |have: usize, want: usize| -> isize {
        round_half_even((have as f64 - want as f64) / 2.0) as isize
    };
    let (left, top) = (offset(image.width, width), offset(image.height, height));
    let mut pixels = vec![0u8; width * height * 3];
    for y in 0..height {
        let sy = y as isize + top;
        if sy < 0 || sy >= image.height as isize {
            continue;
        }
        for x in 0..width {
            let sx = x as isize + left;
            if sx < 0 || sx >= image.width as isize {
                continue;
            }
            let src = (sy as usize * image.width + sx as usize) * 3;
            let dst = (y * width + x) * 3;
            pixels[dst..dst + 3].copy_from_slice(&image.pixels[src..src + 3]);
        }
    }
    RgbImage {
        width,
        height,
        pixels,
    }
}

/// Python's `round()`: halves go to the even neighbour.
fn round_half_even(x: f64) -> f64 {
    let r = x.round();
    if (x - x.trunc()).abs() == 0.5 && r % 2.0 != 0.0 {
        r - x.signum()
    } else {
        r
    }
}

const PRECISION_BITS: u32 = 32 - 8 - 2;

fn bicubic(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// For each output position: the first input index and the fixed-point weights.
struct Kernel {
    starts: Vec<usize>,
    weights: Vec<Vec<i32>>,
}

fn kernel(in_size: usize, out_size: usize) -> Kernel {
    const SUPPORT: f64 = 2.0;
    let scale = in_size as f64 / out_size as f64;
    let filter_scale = scale.max(1.0);
    let support = SUPPORT * filter_scale;
    let mut starts = Vec::with_capacity(out_size);
    let mut weights = Vec::with_capacity(out_size);
    for xx in 0..out_size {
        let center = (xx as f64 + 0.5) * scale;
        // C's (int) cast truncates toward zero, as `as` does.
        let xmin = ((center - support + 0.5) as i64).max(0) as usize;
        let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
        let raw: Vec<f64> = (xmin..xmax)
            .map(|x| bicubic((x as f64 - center + 0.5) / filter_scale))
            .collect();
        let total: f64 = raw.iter().sum();
        let fixed = raw
            .iter()
            .map(|&w| {
                let w = if total != 0.0 { w / total } else { w };
                let scaled = w * (1u32 << PRECISION_BITS) as f64;
                if w < 0.0 {
                    (scaled - 0.5) as i32
                } else {
                    (scaled + 0.5) as i32
                }
            })
            .collect();
        starts.push(xmin);
        weights.push(fixed);
    }
    Kernel { starts, weights }
}

fn clip8(acc: i64) -> u8 {
    (acc >> PRECISION_BITS).clamp(0, 255) as u8
}

/// Pillow's bicubic resize of an 8-bit RGB image (`Image.resize(size, Image.BICUBIC)`).
fn resize_bicubic(image: &RgbImage, out_w: usize, out_h: usize) -> RgbImage {
    let (in_w, in_h) = (image.width, image.height);
    if (in_w, in_h) == (out_w, out_h) {
        return image.clone();
    }
    let horizontal = kernel(in_w, out_w);
    let vertical = kernel(in_h, out_h);
    let half = 1i64 << (PRECISION_BITS - 1);

    // Pillow resamples only the rows the vertical pass will read.
    let first_row = vertical.starts[0];
    let last_row = vertical.starts[out_h - 1] + vertical.weights[out_h - 1].len();
    let (rows, row_offset) = if in_w != out_w {
        let rows = last_row - first_row;
        let mut tmp = vec![0u8; rows * out_w * 3];
        for y in 0..rows {
            let src_row = &image.pixels[(y + first_row) * in_w * 3..][..in_w * 3];
            let dst_row = &mut tmp[y * out_w * 3..][..out_w * 3];
            for x in 0..out_w {
                let start = horizontal.starts[x];
                for c in 0..3 {
                    let acc = horizontal.weights[x]
                        .iter()
                        .enumerate()
                        .fold(half, |acc, (k, &w)| {
                            acc + src_row[(start + k) * 3 + c] as i64 * w as i64
                        });
                    dst_row[x * 3 + c] = clip8(acc);
                }
            }
        }
        (tmp, first_row)
    } else {
        (image.pixels.clone(), 0)
    };
    if in_h == out_h {
        return RgbImage {
            width: out_w,
            height: out_h,
            pixels: rows,
        };
    }
    let stride = out_w * 3;
    let mut out = vec![0u8; out_h * stride];
    for y in 0..out_h {
        let start = vertical.starts[y] - row_offset;
        let dst_row = &mut out[y * stride..][..stride];
        for (i, dst) in dst_row.iter_mut().enumerate() {
            let acc = vertical.weights[y]
                .iter()
                .enumerate()
                .fold(half, |acc, (k, &w)| {
                    acc + rows[(start + k) * stride + i] as i64 * w as i64
                });
            *dst = clip8(acc);
        }
    }
    RgbImage {
        width: out_w,
        height: out_h,
        pixels: out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_sizes_are_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("preprocessor_config.json");
        for json in [
            r#"{"size": {"shortest_edge": 0}}"#,
            r#"{"size": 0}"#,
            r#"{"crop_size": {"height": 0, "width": 224}}"#,
        ] {
            std::fs::write(&path, json).unwrap();
            let err = Preprocess::from_file(&path, 224).unwrap_err().to_string();
            assert!(
                err.contains("preprocessor_config.json") && err.contains("at least 1 pixel"),
                "{json}: {err}"
            );
        }
    }

    #[test]
    fn python_rounding() {
        assert_eq!(round_half_even(0.5), 0.0);
        assert_eq!(round_half_even(1.5), 2.0);
        assert_eq!(round_half_even(2.5), 2.0);
        assert_eq!(round_half_even(1.25), 1.0);
    }

    #[test]
    fn kernel_weights_sum_to_one_in_fixed_point() {
        for (i, o) in [(32, 224), (300, 224), (7, 3)] {
            let k = kernel(i, o);
            for w in &k.weights {
                let sum: i64 = w.iter().map(|&x| x as i64).sum();
                assert!(
                    (sum - (1 << PRECISION_BITS)).abs() <= w.len() as i64,
                    "{i}->{o}: {sum}"
                );
            }
        }
    }

    #[test]
    fn constant_image_stays_constant() {
        let img = RgbImage::new(5, 7, vec![77; 5 * 7 * 3]).unwrap();
        let out = resize_bicubic(&img, 11, 3);
        assert!(out.pixels.iter().all(|&p| p == 77));
    }
}
