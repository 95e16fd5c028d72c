//! CLIP (Radford et al., 2021) text and vision towers, loaded by tensor name from a Hugging
//! Face `CLIPModel` checkpoint.
//!
//! Written after the layout of candle-transformers' model files (explicit config, weights by
//! name through a `VarBuilder`), with three differences that matter for correctness:
//! every tensor is required (no random `class_embedding`, no default `logit_scale`), all
//! parameters share one dtype so f16/bf16 work end to end, and the softmax of attention runs
//! in f32 whatever the storage dtype, as `transformers` does.

use candle_core::{DType, Device, IndexOp, Module, Tensor, D};
use candle_nn::{embedding, layer_norm, linear, linear_no_bias, Embedding, LayerNorm, Linear};
use candle_nn::{LayerNormConfig, VarBuilder};

use super::config::{Activation, ClipConfig, ClipTextConfig, ClipVisionConfig};

type Result<T> = candle_core::Result<T>;

/// `nn.Linear` applied to `[batch, tokens, features]` as one matrix product.
fn linear_tokens(layer: &Linear, xs: &Tensor) -> Result<Tensor> {
    let (batch, tokens, features) = xs.dims3()?;
    layer
        .forward(&xs.reshape((batch * tokens, features))?)?
        .reshape((batch, tokens, ()))
}

fn activation(kind: Activation, xs: &Tensor) -> Result<Tensor> {
    match kind {
        Activation::QuickGelu => xs * candle_nn::ops::sigmoid(&(xs * 1.702f64)?)?,
        Activation::Gelu => xs.gelu_erf(),
        Activation::GeluTanh => xs.gelu(),
    }
}

fn layer_norm_eps(size: usize, eps: f64, vb: VarBuilder) -> Result<LayerNorm> {
    layer_norm(
        size,
        LayerNormConfig {
            eps,
            ..Default::default()
        },
        vb,
    )
}

/// Which kernels a forward pass uses.
///
/// candle's fused layer-norm and last-dimension softmax kernels are the fast path but have no
/// backward pass; training runs the same maths through primitive ops so gradients flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kernels {
    /// candle's fused kernels (inference).
    #[default]
    Fused,
    /// Primitive ops that candle can differentiate (training).
    Differentiable,
}

/// A layer norm that remembers its epsilon, so the differentiable path can recompute it.
#[derive(Debug, Clone)]
struct Norm {
    inner: LayerNorm,
    eps: f64,
}

impl Norm {
    fn new(size: usize, eps: f64, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            inner: layer_norm_eps(size, eps, vb)?,
            eps,
        })
    }

    fn forward(&self, xs: &Tensor, kernels: Kernels) -> Result<Tensor> {
        match (kernels, self.inner.bias()) {
            (Kernels::Differentiable, Some(bias)) => {
                candle_nn::ops::layer_norm_slow(xs, self.inner.weight(), bias, self.eps as f32)
            }
            _ => self.inner.forward(xs),
        }
    }
}

/// A low-rank update added to a frozen projection (LoRA, Hu et al. 2022):
/// `W x + b + scale * B A x`, with `A [rank, in]`, `B [out, rank]` and `scale = alpha / rank`.
#[derive(Debug, Clone)]
pub struct LowRank {
    /// `lora_A`, `[rank, in]`.
    pub a: Tensor,
    /// `lora_B`, `[out, rank]`.
    pub b: Tensor,
    /// `alpha / rank`.
    pub scale: f64,
}

impl LowRank {
    /// `scale * B A x` for `xs [batch, tokens, in]`.
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let (batch, tokens, features) = xs.dims3()?;
        let down = xs
            .reshape((batch * tokens, features))?
            .matmul(&self.a.t()?)?;
        (down.matmul(&self.b.t()?)? * self.scale)?.reshape((batch, tokens, ()))
    }

    /// The dense weight `W + scale * B A` that computes the same projection without the
    /// adapter.
    pub fn merged(&self, weight: &Tensor) -> Result<Tensor> {
        weight + (self.b.matmul(&self.a)? * self.scale)?
    }
}

#[derive(Debug, Clone)]
struct Attention {
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    out_proj: Linear,
    /// Adapters on the query and value projections, as LoRA places them.
    lora_q: Option<LowRank>,
    lora_v: Option<LowRank>,
    num_heads: usize,
    head_dim: usize,
    scale: f64,
}

impl Attention {
    fn new(hidden: usize, num_heads: usize, vb: VarBuilder) -> Result<Self> {
        let head_dim = hidden / num_heads;
        Ok(Self {
            q_proj: linear(hidden, hidden, vb.pp("q_proj"))?,
            k_proj: linear(hidden, hidden, vb.pp("k_proj"))?,
            v_proj: linear(hidden, hidden, vb.pp("v_proj"))?,
            out_proj: linear(hidden, hidden, vb.pp("out_proj"))?,
            lora_q: None,
            lora_v: None,
            num_heads,
            head_dim,
            scale: (head_dim as f64).powf(-0.5),
        })
    }

    fn split_heads(&self, xs: Tensor, batch: usize, tokens: usize) -> Result<Tensor> {
        xs.reshape((batch, tokens, self.num_heads, self.head_dim))?
            .transpose(1, 2)?
            .contiguous()
    }

    /// `mask` is additive, `[tokens, tokens]` (0 or -inf), broadcast over batch and heads.
    fn forward(&self, xs: &Tensor, mask: Option<&Tensor>, kernels: Kernels) -> Result<Tensor> {
        let (batch, tokens, hidden) = xs.dims3()?;
        let adapted = |layer: &Linear, adapter: &Option<LowRank>| -> Result<Tensor> {
            let base = linear_tokens(layer, xs)?;
            match adapter {
                Some(adapter) => base + adapter.forward(xs)?,
                None => Ok(base),
            }
        };
        let q = self.split_heads(adapted(&self.q_proj, &self.lora_q)?, batch, tokens)?;
        let k = self.split_heads(linear_tokens(&self.k_proj, xs)?, batch, tokens)?;
        let v = self.split_heads(adapted(&self.v_proj, &self.lora_v)?, batch, tokens)?;
        let scores = (q.matmul(&k.t()?)? * self.scale)?;
        let scores = match mask {
            Some(mask) => scores.broadcast_add(mask)?,
            None => scores,
        };
        // transformers normalises in f32 and casts back. candle's CUDA softmax kernel already
        // accumulates half inputs in f32, so there the [batch, heads, tokens, tokens] f32 copy
        // is skipped; on the CPU a half softmax would exponentiate in half, so it is upcast.
        let probs = if kernels == Kernels::Differentiable {
            candle_nn::ops::softmax(&scores, D::Minus1)?
        } else if scores.dtype() == DType::F32 || scores.device().is_cuda() {
            candle_nn::ops::softmax_last_dim(&scores)?
        } else {
            candle_nn::ops::softmax_last_dim(&scores.to_dtype(DType::F32)?)?.to_dtype(v.dtype())?
        };
        let context = probs
            .matmul(&v)?
            .transpose(1, 2)?
            .reshape((batch, tokens, hidden))?;
        linear_tokens(&self.out_proj, &context)
    }
}

#[derive(Debug, Clone)]
struct Mlp {
    fc1: Linear,
    fc2: Linear,
    activation: Activation,
}

impl Mlp {
    fn new(hidden: usize, intermediate: usize, act: Activation, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            fc1: linear(hidden, intermediate, vb.pp("fc1"))?,
            fc2: linear(intermediate, hidden, vb.pp("fc2"))?,
            activation: act,
        })
    }

    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let xs = activation(self.activation, &linear_tokens(&self.fc1, xs)?)?;
        linear_tokens(&self.fc2, &xs)
    }
}

#[derive(Debug, Clone)]
struct EncoderLayer {
    layer_norm1: Norm,
    self_attn: Attention,
    layer_norm2: Norm,
    mlp: Mlp,
}

impl EncoderLayer {
    fn forward(&self, xs: &Tensor, mask: Option<&Tensor>, kernels: Kernels) -> Result<Tensor> {
        let attended =
            self.self_attn
                .forward(&self.layer_norm1.forward(xs, kernels)?, mask, kernels)?;
        let xs = (xs + attended)?;
        let transformed = self.mlp.forward(&self.layer_norm2.forward(&xs, kernels)?)?;
        xs + transformed
    }
}

#[derive(Debug, Clone)]
struct Encoder {
    layers: Vec<EncoderLayer>,
}

/// The shape shared by both towers' encoders.
struct EncoderShape {
    hidden: usize,
    intermediate: usize,
    heads: usize,
    layers: usize,
    act: Activation,
    eps: f64,
}

impl Encoder {
    fn new(shape: &EncoderShape, vb: VarBuilder) -> Result<Self> {
        let vb = vb.pp("layers");
        let layers = (0..shape.layers)
            .map(|i| {
                let vb = vb.pp(i);
                Ok(EncoderLayer {
                    layer_norm1: Norm::new(shape.hidden, shape.eps, vb.pp("layer_norm1"))?,
                    self_attn: Attention::new(shape.hidden, shape.heads, vb.pp("self_attn"))?,
                    layer_norm2: Norm::new(shape.hidden, shape.eps, vb.pp("layer_norm2"))?,
                    mlp: Mlp::new(shape.hidden, shape.intermediate, shape.act, vb.pp("mlp"))?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { layers })
    }

    fn forward(&self, xs: &Tensor, mask: Option<&Tensor>, kernels: Kernels) -> Result<Tensor> {
        self.layers
            .iter()
            .try_fold(xs.clone(), |xs, layer| layer.forward(&xs, mask, kernels))
    }
}

/// The text tower (`text_model`): token and position embeddings, a causally masked
/// transformer and a final layer norm, pooled at the end-of-text token.
#[derive(Debug, Clone)]
pub struct ClipTextTransformer {
    token_embedding: Embedding,
    position_embedding: Tensor,
    encoder: Encoder,
    final_layer_norm: Norm,
    eos_token_id: u32,
    max_positions: usize,
}

impl ClipTextTransformer {
    /// Reads the tower's weights under `vb` (the checkpoint's `text_model` prefix); every
    /// tensor must be present with the shape `c` implies.
    pub fn new(vb: VarBuilder, c: &ClipTextConfig) -> Result<Self> {
        let embeddings = vb.pp("embeddings");
        let shape = EncoderShape {
            hidden: c.hidden_size,
            intermediate: c.intermediate_size,
            heads: c.num_attention_heads,
            layers: c.num_hidden_layers,
            act: c.hidden_act,
            eps: c.layer_norm_eps,
        };
        Ok(Self {
            token_embedding: embedding(
                c.vocab_size,
                c.hidden_size,
                embeddings.pp("token_embedding"),
            )?,
            position_embedding: embeddings.get(
                (c.max_position_embeddings, c.hidden_size),
                "position_embedding.weight",
            )?,
            encoder: Encoder::new(&shape, vb.pp("encoder"))?,
            final_layer_norm: Norm::new(
                c.hidden_size,
                c.layer_norm_eps,
                vb.pp("final_layer_norm"),
            )?,
            eos_token_id: c.eos_token_id,
            max_positions: c.max_position_embeddings,
        })
    }

    /// Where each sequence is pooled: the end-of-text token, found the way `transformers`
    /// finds it for this config.
    pub fn pooling_positions(&self, ids: &[Vec<u32>]) -> Vec<usize> {
        ids.iter()
            .map(|row| {
                if self.eos_token_id == 2 {
                    // First position of the largest id (OpenAI's original rule).
                    let max = row.iter().copied().max().unwrap_or(0);
                    row.iter().position(|&t| t == max).unwrap_or(0)
                } else {
                    row.iter()
                        .position(|&t| t == self.eos_token_id)
                        .unwrap_or(0)
                }
            })
            .collect()
    }

    /// Pooled, final-layer-normed features `[batch, hidden]` for token-id rows.
    ///
    /// The causal mask means a token never sees later positions, so the batch is cut to the
    /// longest pooled position: prompts of ten tokens cost ten positions, not 77, with
    /// identical results.
    pub fn forward_ids(&self, ids: &[Vec<u32>], device: &Device) -> Result<Tensor> {
        let positions = self.pooling_positions(ids);
        let embeds = self.embed_tokens(ids, &positions, device)?;
        self.forward_embeddings(&embeds, &positions, Kernels::Fused)
    }

    /// Token embeddings `[batch, tokens, hidden]` of the id rows, cut (or zero-padded) to the
    /// longest of `positions` (the pooling positions, [`Self::pooling_positions`]) plus one.
    pub fn embed_tokens(
        &self,
        ids: &[Vec<u32>],
        positions: &[usize],
        device: &Device,
    ) -> Result<Tensor> {
        let batch = ids.len();
        let tokens = positions.iter().max().map_or(1, |&p| p + 1);
        if tokens > self.max_positions {
            candle_core::bail!(
                "sequence of {tokens} tokens exceeds max_position_embeddings {}",
                self.max_positions
            );
        }
        let flat: Vec<u32> = ids
            .iter()
            .flat_map(|row| (0..tokens).map(move |i| row.get(i).copied().unwrap_or(0)))
            .collect();
        let input = Tensor::from_vec(flat, (batch, tokens), device)?;
        self.token_embedding.forward(&input)
    }

    /// Pooled, final-layer-normed features `[batch, hidden]` from token embeddings
    /// `[batch, tokens, hidden]` (as [`Self::embed_tokens`] makes them, possibly edited, as
    /// CoOp replaces the context words), pooled at `positions`.
    pub fn forward_embeddings(
        &self,
        embeds: &Tensor,
        positions: &[usize],
        kernels: Kernels,
    ) -> Result<Tensor> {
        let (batch, tokens, _) = embeds.dims3()?;
        let device = embeds.device();
        let xs = embeds.broadcast_add(&self.position_embedding.i(..tokens)?)?;
        let mask = causal_mask(tokens, xs.dtype(), device)?;
        let xs = self.encoder.forward(&xs, Some(&mask), kernels)?;
        let xs = self.final_layer_norm.forward(&xs, kernels)?;
        let index: Vec<u32> = positions
            .iter()
            .enumerate()
            .map(|(b, &p)| (b * tokens + p) as u32)
            .collect();
        let index = Tensor::from_vec(index, batch, device)?;
        xs.reshape((batch * tokens, ()))?.index_select(&index, 0)
    }

    /// Number of transformer layers.
    pub fn num_layers(&self) -> usize {
        self.encoder.layers.len()
    }

    /// Puts LoRA adapters on the query and value projections of `layer` (replacing any there).
    pub fn set_adapters(
        &mut self,
        layer: usize,
        query: Option<LowRank>,
        value: Option<LowRank>,
    ) -> Result<()> {
        let Some(layer) = self.encoder.layers.get_mut(layer) else {
            candle_core::bail!("no text encoder layer {layer}")
        };
        layer.self_attn.lora_q = query;
        layer.self_attn.lora_v = value;
        Ok(())
    }
}

fn causal_mask(tokens: usize, dtype: DType, device: &Device) -> Result<Tensor> {
    let mask: Vec<f32> = (0..tokens)
        .flat_map(|i| (0..tokens).map(move |j| if j > i { f32::NEG_INFINITY } else { 0.0 }))
        .collect();
    Tensor::from_vec(mask, (tokens, tokens), device)?.to_dtype(dtype)
}

/// The vision tower (`vision_model`): a ViT over square patches with a class token, pooled
/// at the class token.
#[derive(Debug, Clone)]
pub struct ClipVisionTransformer {
    class_embedding: Tensor,
    patch_weight: Tensor,
    position_embedding: Tensor,
    pre_layrnorm: LayerNorm,
    encoder: Encoder,
    post_layernorm: LayerNorm,
    patch_size: usize,
    image_size: usize,
    num_channels: usize,
}

impl ClipVisionTransformer {
    /// Reads the tower's weights under `vb` (the checkpoint's `vision_model` prefix); every
    /// tensor must be present with the shape `c` implies.
    pub fn new(vb: VarBuilder, c: &ClipVisionConfig) -> Result<Self> {
        let embeddings = vb.pp("embeddings");
        let patch_inputs = c.num_channels * c.patch_size * c.patch_size;
        let shape = EncoderShape {
            hidden: c.hidden_size,
            intermediate: c.intermediate_size,
            heads: c.num_attention_heads,
            layers: c.num_hidden_layers,
            act: c.hidden_act,
            eps: c.layer_norm_eps,
        };
        Ok(Self {
            class_embedding: embeddings.get(c.hidden_size, "class_embedding")?,
            // The patch convolution has stride == kernel, so it is exactly a matrix product
            // on flattened patches; keeping the weight as [hidden, C*P*P] skips im2col.
            patch_weight: embeddings
                .get(
                    (c.hidden_size, c.num_channels, c.patch_size, c.patch_size),
                    "patch_embedding.weight",
                )?
                .reshape((c.hidden_size, patch_inputs))?,
            position_embedding: embeddings.get(
                (c.num_patches() + 1, c.hidden_size),
                "position_embedding.weight",
            )?,
            pre_layrnorm: layer_norm_eps(c.hidden_size, c.layer_norm_eps, vb.pp("pre_layrnorm"))?,
            encoder: Encoder::new(&shape, vb.pp("encoder"))?,
            post_layernorm: layer_norm_eps(
                c.hidden_size,
                c.layer_norm_eps,
                vb.pp("post_layernorm"),
            )?,
            patch_size: c.patch_size,
            image_size: c.image_size,
            num_channels: c.num_channels,
        })
    }

    /// Pooled, post-layer-normed class-token features `[batch, hidden]` for
    /// `pixel_values [batch, channels, size, size]`.
    pub fn forward(&self, pixel_values: &Tensor) -> Result<Tensor> {
        let (batch, channels, height, width) = pixel_values.dims4()?;
        if channels != self.num_channels || height != self.image_size || width != self.image_size {
            candle_core::bail!(
                "pixel_values must be [batch, {}, {}, {}], got {:?}",
                self.num_channels,
                self.image_size,
                self.image_size,
                pixel_values.dims()
            );
        }
        let p = self.patch_size;
        let grid = self.image_size / p;
        let hidden = self.class_embedding.dim(0)?;
        let patches = pixel_values
            .to_dtype(self.patch_weight.dtype())?
            .reshape((batch, channels, grid, p, grid, p))?
            .permute((0, 2, 4, 1, 3, 5))?
            .contiguous()?
            .reshape((batch * grid * grid, channels * p * p))?;
        let patch_embeds =
            patches
                .matmul(&self.patch_weight.t()?)?
                .reshape((batch, grid * grid, hidden))?;
        let class = self
            .class_embedding
            .reshape((1, 1, hidden))?
            .broadcast_as((batch, 1, hidden))?;
        let xs =
            Tensor::cat(&[&class, &patch_embeds], 1)?.broadcast_add(&self.position_embedding)?;
        let xs = self.pre_layrnorm.forward(&xs)?;
        let xs = self.encoder.forward(&xs, None, Kernels::Fused)?;
        self.post_layernorm
            .forward(&xs.i((.., 0, ..))?.contiguous()?)
    }
}

/// The two towers, their projections and the learned temperature.
#[derive(Debug, Clone)]
pub struct ClipModel {
    /// The text tower, before its projection.
    pub text: ClipTextTransformer,
    /// The vision tower, before its projection.
    pub vision: ClipVisionTransformer,
    text_projection: Linear,
    visual_projection: Linear,
    logit_scale: Tensor,
    /// The architecture it was built from.
    pub config: ClipConfig,
}

impl ClipModel {
    /// Reads every weight of a Hugging Face `CLIPModel` checkpoint from `vb`; a missing or
    /// misshapen tensor is an error naming it.
    pub fn new(vb: VarBuilder, config: &ClipConfig) -> Result<Self> {
        let text = ClipTextTransformer::new(vb.pp("text_model"), &config.text_config)?;
        let vision = ClipVisionTransformer::new(vb.pp("vision_model"), &config.vision_config)?;
        Ok(Self {
            text,
            vision,
            text_projection: linear_no_bias(
                config.text_config.hidden_size,
                config.projection_dim,
                vb.pp("text_projection"),
            )?,
            visual_projection: linear_no_bias(
                config.vision_config.hidden_size,
                config.projection_dim,
                vb.pp("visual_projection"),
            )?,
            logit_scale: vb.get((), "logit_scale")?,
            config: config.clone(),
        })
    }

    /// Projected (not yet normalised) text features `[batch, projection_dim]`.
    pub fn text_features(&self, ids: &[Vec<u32>], device: &Device) -> Result<Tensor> {
        self.text_projection
            .forward(&self.text.forward_ids(ids, device)?)
    }

    /// Projected (not yet normalised) image features `[batch, projection_dim]`.
    pub fn image_features(&self, pixel_values: &Tensor) -> Result<Tensor> {
        self.visual_projection
            .forward(&self.vision.forward(pixel_values)?)
    }

    /// `exp(logit_scale)`, the temperature CLIP multiplies cosine similarities by.
    pub fn logit_scale(&self) -> Result<f32> {
        self.logit_scale
            .to_dtype(DType::F32)?
            .exp()?
            .to_scalar::<f32>()
    }
}

/// The text side alone, the text tower and its projection, for fine-tuning: the image
/// tower's weights are never read.
#[derive(Debug, Clone)]
pub struct ClipTextTower {
    /// The text tower, before its projection.
    pub transformer: ClipTextTransformer,
    /// `text_projection`, `[projection_dim, hidden]`, no bias.
    pub projection: Linear,
}

impl ClipTextTower {
    /// Reads `text_model.*` and `text_projection.weight` of a `CLIPModel` checkpoint from `vb`.
    pub fn new(vb: VarBuilder, config: &ClipConfig) -> Result<Self> {
        Ok(Self {
            transformer: ClipTextTransformer::new(vb.pp("text_model"), &config.text_config)?,
            projection: linear_no_bias(
                config.text_config.hidden_size,
                config.projection_dim,
                vb.pp("text_projection"),
            )?,
        })
    }

    /// Projected (not yet normalised) features `[batch, projection_dim]` from token
    /// embeddings, as [`ClipTextTransformer::forward_embeddings`] pools them.
    pub fn features_from_embeddings(
        &self,
        embeds: &Tensor,
        positions: &[usize],
        kernels: Kernels,
    ) -> Result<Tensor> {
        self.projection.forward(
            &self
                .transformer
                .forward_embeddings(embeds, positions, kernels)?,
        )
    }
}

/// Rows scaled to unit L2 norm, computed in f32.
pub(crate) fn l2_normalize(xs: &Tensor) -> Result<Tensor> {
    let xs = xs.to_dtype(DType::F32)?;
    let norm = xs.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?;
    xs.broadcast_div(&norm)
}
