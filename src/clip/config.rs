//! CLIP architecture as written in a Hugging Face `config.json`.
//!
//! Field names and defaults are those of `transformers.CLIPConfig`, so any checkpoint that
//! `transformers` loads (ViT-B/32, ViT-B/16, ViT-L/14, ViT-L/14@336, ...) loads here, and a
//! config that leaves a field out gets the same value `transformers` would use.

use serde::Deserialize;
use std::path::Path;

use super::ClipError;
use crate::artifact::IoContext;

type Result<T, E = ClipError> = std::result::Result<T, E>;

/// The MLP activation (`hidden_act`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Activation {
    /// `quick_gelu`: `x * sigmoid(1.702 x)`, OpenAI's original models (and the default).
    #[serde(rename = "quick_gelu")]
    QuickGelu,
    /// `gelu`: the exact, erf-based GELU.
    #[serde(rename = "gelu")]
    Gelu,
    /// `gelu_new`, `gelu_pytorch_tanh` or `gelu_fast`: the tanh approximation of GELU.
    #[serde(rename = "gelu_new", alias = "gelu_pytorch_tanh", alias = "gelu_fast")]
    GeluTanh,
}

/// The text tower (`text_config`); defaults are ViT-B/32's.
#[derive(Debug, Clone, Deserialize)]
pub struct ClipTextConfig {
    /// Token vocabulary size (default 49,408).
    #[serde(default = "text::vocab_size")]
    pub vocab_size: usize,
    /// Width of the transformer (default 512).
    #[serde(default = "text::hidden_size")]
    pub hidden_size: usize,
    /// Width of each MLP's hidden layer (default 2048).
    #[serde(default = "text::intermediate_size")]
    pub intermediate_size: usize,
    /// Transformer layers (default 12).
    #[serde(default = "text::num_hidden_layers")]
    pub num_hidden_layers: usize,
    /// Attention heads; must divide `hidden_size` (default 8).
    #[serde(default = "text::num_attention_heads")]
    pub num_attention_heads: usize,
    /// Longest token sequence, markers included (default 77).
    #[serde(default = "text::max_position_embeddings")]
    pub max_position_embeddings: usize,
    /// MLP activation (default `quick_gelu`).
    #[serde(default = "quick_gelu")]
    pub hidden_act: Activation,
    /// Epsilon of every layer norm (default 1e-5).
    #[serde(default = "layer_norm_eps")]
    pub layer_norm_eps: f64,
    /// `2` is the value in OpenAI's original configs and means "pool at the highest token id"
    /// (the end-of-text token); anything else means "pool at the first occurrence of this id".
    #[serde(default = "text::eos_token_id")]
    pub eos_token_id: u32,
}

/// The vision tower (`vision_config`), a ViT; defaults are ViT-B/32's.
#[derive(Debug, Clone, Deserialize)]
pub struct ClipVisionConfig {
    /// Width of the transformer (default 768).
    #[serde(default = "vision::hidden_size")]
    pub hidden_size: usize,
    /// Width of each MLP's hidden layer (default 3072).
    #[serde(default = "vision::intermediate_size")]
    pub intermediate_size: usize,
    /// Transformer layers (default 12).
    #[serde(default = "vision::num_hidden_layers")]
    pub num_hidden_layers: usize,
    /// Attention heads; must divide `hidden_size` (default 12).
    #[serde(default = "vision::num_attention_heads")]
    pub num_attention_heads: usize,
    /// Input channels (default 3, RGB).
    #[serde(default = "vision::num_channels")]
    pub num_channels: usize,
    /// Side of the square input image in pixels (default 224; 336 for ViT-L/14@336).
    #[serde(default = "vision::image_size")]
    pub image_size: usize,
    /// Side of a square patch in pixels; must divide `image_size` (default 32).
    #[serde(default = "vision::patch_size")]
    pub patch_size: usize,
    /// MLP activation (default `quick_gelu`).
    #[serde(default = "quick_gelu")]
    pub hidden_act: Activation,
    /// Epsilon of every layer norm (default 1e-5).
    #[serde(default = "layer_norm_eps")]
    pub layer_norm_eps: f64,
}

/// A checkpoint's `config.json`: both towers and the joint embedding width.
#[derive(Debug, Clone, Deserialize)]
pub struct ClipConfig {
    /// The text tower.
    pub text_config: ClipTextConfig,
    /// The vision tower.
    pub vision_config: ClipVisionConfig,
    /// Width of the joint embedding space both towers project to (default 512).
    #[serde(default = "projection_dim")]
    pub projection_dim: usize,
}

impl ClipConfig {
    /// Reads and checks `config.json`: [`ClipError::Io`] when it cannot be read,
    /// [`ClipError::Checkpoint`] when it is not a CLIP config or a head count or patch size
    /// does not divide its width.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).at(path)?;
        let config: ClipConfig = serde_json::from_str(&text).map_err(|e| {
            ClipError::checkpoint(
                path,
                format!("not a CLIP config.json (line {}): {e}", e.line()),
            )
        })?;
        config.validate(path)?;
        Ok(config)
    }

    fn validate(&self, path: &Path) -> Result<()> {
        let checks = [
            (
                "text_config.hidden_size % num_attention_heads",
                self.text_config.hidden_size % self.text_config.num_attention_heads.max(1),
                self.text_config.num_attention_heads,
            ),
            (
                "vision_config.hidden_size % num_attention_heads",
                self.vision_config.hidden_size % self.vision_config.num_attention_heads.max(1),
                self.vision_config.num_attention_heads,
            ),
            (
                "vision_config.image_size % patch_size",
                self.vision_config.image_size % self.vision_config.patch_size.max(1),
                self.vision_config.patch_size,
            ),
        ];
        for (field, remainder, divisor) in checks {
            if divisor == 0 || remainder != 0 {
                return Err(ClipError::checkpoint(
                    path,
                    format!("{field} must be 0 with a non-zero divisor"),
                ));
            }
        }
        Ok(())
    }
}

impl ClipVisionConfig {
    /// Patches per image: `(image_size / patch_size)^2` (49 for ViT-B/32 at 224 pixels).
    pub fn num_patches(&self) -> usize {
        (self.image_size / self.patch_size).pow(2)
    }
}

fn quick_gelu() -> Activation {
    Activation::QuickGelu
}
fn layer_norm_eps() -> f64 {
    1e-5
}
fn projection_dim() -> usize {
    512
}

mod text {
    pub fn vocab_size() -> usize {
        49408
    }
    pub fn hidden_size() -> usize {
        512
    }
    pub fn intermediate_size() -> usize {
        2048
    }
    pub fn num_hidden_layers() -> usize {
        12
    }
    pub fn num_attention_heads() -> usize {
        8
    }
    pub fn max_position_embeddings() -> usize {
        77
    }
    pub fn eos_token_id() -> u32 {
        49407
    }
}

mod vision {
    pub fn hidden_size() -> usize {
        768
    }
    pub fn intermediate_size() -> usize {
        3072
    }
    pub fn num_hidden_layers() -> usize {
        12
    }
    pub fn num_attention_heads() -> usize {
        12
    }
    pub fn num_channels() -> usize {
        3
    }
    pub fn image_size() -> usize {
        224
    }
    pub fn patch_size() -> usize {
        32
    }
}
