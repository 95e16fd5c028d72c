//! The text side under training: CLIP's text tower with one method's trainable tensors
//! (CoOp context, LoRA adapters or the last k layers), as candle `Var`s so gradients reach
//! them and nothing else.

use std::collections::{BTreeMap, HashMap};

use candle_core::{DType, Device, IndexOp, Tensor, Var, D};
use candle_nn::VarBuilder;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal, Uniform};

use super::error::FinetuneError;
use super::params::{FinetuneParam, FinetuneParams, Method};
use crate::clip::model::{ClipTextTower, Kernels, LowRank};
use crate::clip::{ClipConfig, ClipFiles, ClipTokenizer, Overflow};

type Result<T, E = FinetuneError> = std::result::Result<T, E>;

/// The name CoOp gives its context tensor; kept so checkpoints read the same in both.
pub const CONTEXT_TENSOR: &str = "prompt_learner.ctx";

/// Standard deviation of CoOp's random context initialisation.
const CONTEXT_INIT_STD: f64 = 0.02;

/// Keeps the random initialisations on their own stream of the run's seed.
const INIT_STREAM: u64 = 0x696e_6974;

/// A text to encode and the class whose context it uses (its subject: the class of a hard
/// text, x of a soft text "x REL y"); the subject matters only for class-specific context.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TextItem {
    /// The text without any CoOp context words.
    pub text: String,
    /// Subject class.
    pub subject: usize,
}

/// What the method adds to the frozen tower.
#[derive(Debug)]
enum Learned {
    Coop {
        /// `[n_ctx, width]`, or `[classes, n_ctx, width]` class-specific.
        context: Var,
        /// The placeholder words whose token positions the context replaces.
        words: String,
        /// Their BPE ids.
        word_ids: Vec<u32>,
    },
    Lora {
        /// `alpha / rank`, shared by every adapter.
        scale: f64,
    },
    LastK,
}

/// CLIP's text side with trainable tensors, on one device and dtype.
pub struct TextSide {
    tower: ClipTextTower,
    tokenizer: ClipTokenizer,
    config: ClipConfig,
    device: Device,
    logit_scale: f64,
    learned: Learned,
    /// The trained tensors by name, sorted.
    trainable: BTreeMap<String, Var>,
}

impl std::fmt::Debug for TextSide {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextSide")
            .field("learned", &self.learned)
            .field("trainable", &self.trainable.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl TextSide {
    /// Reads the text tensors of `files` (the image tower is never read) and sets up the
    /// trainable tensors of `params.method` for `classes` classes. `init`, when given,
    /// replaces the starting values by name (every trained tensor must be in it).
    pub fn load(
        files: &ClipFiles,
        params: &FinetuneParams,
        classes: usize,
        device: &Device,
        dtype: DType,
        init: Option<&HashMap<String, Tensor>>,
    ) -> Result<Self> {
        let config = ClipConfig::from_file(&files.config)?;
        let tokenizer = ClipTokenizer::from_file(&files.tokenizer)?;
        let mut tensors = read_text_tensors(files, device, dtype)?;
        let layers = config.text_config.num_hidden_layers;
        let mut trainable = BTreeMap::new();
        if params.method == Method::LastK {
            if params.layers > layers {
                return Err(FinetuneError::param(
                    FinetuneParam::Layers,
                    format!(
                        "{} layers asked, the text encoder has {layers}",
                        params.layers
                    ),
                ));
            }
            for (name, tensor) in tensors.iter_mut() {
                if is_last_k_tensor(name, layers, params.layers) {
                    let var = Var::from_tensor(tensor)?;
                    *tensor = var.as_tensor().clone();
                    trainable.insert(name.clone(), var);
                }
            }
        }
        let logit_scale = tensors
            .get("logit_scale")
            .ok_or_else(|| FinetuneError::artifact(&files.weights, "missing tensor `logit_scale`"))?
            // Exponentiated in f32, as transformers does; the f64 exp differs in the 8th digit.
            .to_dtype(DType::F32)?
            .exp()?
            .to_scalar::<f32>()? as f64;
        let token_embedding = tensors
            .get("text_model.embeddings.token_embedding.weight")
            .cloned();
        let vb = VarBuilder::from_tensors(tensors, dtype, device);
        let mut tower = ClipTextTower::new(vb, &config)
            .map_err(|e| FinetuneError::artifact(&files.weights, describe(e)))?;
        let mut rng = ChaCha8Rng::seed_from_u64(params.seed ^ INIT_STREAM);
        let width = config.text_config.hidden_size;
        let learned = match params.method {
            Method::LastK => Learned::LastK,
            Method::Lora => {
                let scale = params.alpha / params.rank as f64;
                for layer in 0..layers {
                    let mut adapter = |projection: &str| -> Result<LowRank> {
                        let prefix =
                            format!("text_model.encoder.layers.{layer}.self_attn.{projection}");
                        let bound = 1.0 / (width as f64).sqrt();
                        let a = uniform(&mut rng, (params.rank, width), bound, device, dtype)?;
                        let a = Var::from_tensor(&a)?;
                        let b = Var::zeros((width, params.rank), dtype, device)?;
                        let adapter = LowRank {
                            a: a.as_tensor().clone(),
                            b: b.as_tensor().clone(),
                            scale,
                        };
                        trainable.insert(format!("{prefix}.lora_A"), a);
                        trainable.insert(format!("{prefix}.lora_B"), b);
                        Ok(adapter)
                    };
                    let query = adapter("q_proj")?;
                    let value = adapter("v_proj")?;
                    tower
                        .transformer
                        .set_adapters(layer, Some(query), Some(value))?;
                }
                Learned::Lora { scale }
            }
            Method::Coop => {
                let (words, word_ids, start) = match &params.ctx_init {
                    Some(init) => {
                        let ids = tokenizer.bpe_ids(init)?;
                        if ids.is_empty() {
                            return Err(FinetuneError::param(
                                FinetuneParam::CtxInit,
                                format!("{init:?} has no tokens"),
                            ));
                        }
                        let table = token_embedding.as_ref().expect("the tower loaded it");
                        let index = Tensor::new(ids.as_slice(), device)?;
                        (
                            init.trim().to_string(),
                            ids,
                            Some(table.index_select(&index, 0)?),
                        )
                    }
                    None => {
                        let words = vec!["X"; params.n_ctx].join(" ");
                        let ids = tokenizer.bpe_ids(&words)?;
                        (words, ids, None)
                    }
                };
                let n_ctx = word_ids.len();
                // The context must leave room for at least one word and the end marker.
                let room = config.text_config.max_position_embeddings.saturating_sub(3);
                if n_ctx > room {
                    return Err(FinetuneError::param(
                        if params.ctx_init.is_some() {
                            FinetuneParam::CtxInit
                        } else {
                            FinetuneParam::NCtx
                        },
                        format!("{n_ctx} context tokens; the text encoder's context holds at most {room} beside a class name"),
                    ));
                }
                let shape: Vec<usize> = if params.csc {
                    vec![classes, n_ctx, width]
                } else {
                    vec![n_ctx, width]
                };
                let context = match start {
                    Some(rows) if params.csc => rows.unsqueeze(0)?.repeat((classes, 1, 1))?,
                    Some(rows) => rows,
                    None => normal(&mut rng, &shape, CONTEXT_INIT_STD, device, dtype)?,
                };
                let context = Var::from_tensor(&context.contiguous()?)?;
                trainable.insert(CONTEXT_TENSOR.to_string(), context.clone());
                Learned::Coop {
                    context,
                    words,
                    word_ids,
                }
            }
        };
        let side = Self {
            tower,
            tokenizer,
            config,
            device: device.clone(),
            logit_scale,
            learned,
            trainable,
        };
        if let Some(init) = init {
            side.assign(init, "the initial values")?;
        }
        Ok(side)
    }

    /// `exp(logit_scale)`, frozen.
    pub fn logit_scale(&self) -> f64 {
        self.logit_scale
    }

    /// The architecture.
    pub fn config(&self) -> &ClipConfig {
        &self.config
    }

    /// The device it runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The trained tensors by name.
    pub fn trainable(&self) -> &BTreeMap<String, Var> {
        &self.trainable
    }

    /// A copy of the trained tensors' current values, by name. A copy, not a view: an
    /// optimiser step updates a variable's storage in place, which would silently change a
    /// view kept as the best epoch's values.
    pub fn values(&self) -> Result<BTreeMap<String, Tensor>> {
        self.trainable
            .iter()
            .map(|(name, var)| Ok((name.clone(), var.as_tensor().copy()?.detach())))
            .collect()
    }

    /// Sets trained tensors from `values` by name; every trained tensor must be there with
    /// its shape. `what` names the source in errors.
    pub fn assign(&self, values: &HashMap<String, Tensor>, what: &str) -> Result<()> {
        for (name, var) in &self.trainable {
            let Some(value) = values.get(name) else {
                return Err(FinetuneError::Input(format!("{what}: no tensor `{name}`")));
            };
            if value.dims() != var.dims() {
                return Err(FinetuneError::Input(format!(
                    "{what}: tensor `{name}` has shape {:?}, the model needs {:?}",
                    value.dims(),
                    var.dims()
                )));
            }
            // A copy: a value sharing the variable's storage (its own detached value) cannot be set.
            var.set(
                &value
                    .to_dtype(var.dtype())?
                    .to_device(&self.device)?
                    .copy()?,
            )?;
        }
        Ok(())
    }

    /// The placeholder words of CoOp's context, if this is CoOp.
    pub fn context_words(&self) -> Option<&str> {
        match &self.learned {
            Learned::Coop { words, .. } => Some(words),
            _ => None,
        }
    }

    /// The text as the tokenizer sees it: CoOp's placeholder words, then the text.
    pub fn full_text(&self, text: &str) -> String {
        match &self.learned {
            Learned::Coop { words, .. } => format!("{words} {text}"),
            _ => text.to_string(),
        }
    }

    /// L2-normalised projected features `[texts, projection_dim]`, differentiable in the
    /// trained tensors when `kernels` is [`Kernels::Differentiable`].
    pub fn features(&self, items: &[TextItem], kernels: Kernels) -> Result<Tensor> {
        let full: Vec<String> = items
            .iter()
            .map(|item| self.full_text(&item.text))
            .collect();
        let ids = self.tokenizer.encode_all(&full, Overflow::Error)?;
        let transformer = &self.tower.transformer;
        let positions = transformer.pooling_positions(&ids);
        let mut embeds = transformer.embed_tokens(&ids, &positions, &self.device)?;
        if let Learned::Coop {
            context, word_ids, ..
        } = &self.learned
        {
            let n_ctx = word_ids.len();
            for (row, text) in ids.iter().zip(&full) {
                if row.get(1..=n_ctx) != Some(word_ids.as_slice()) {
                    return Err(FinetuneError::Input(format!(
                        "{text:?}: the context words do not tokenize on their own; CoOp needs them as the text's first tokens"
                    )));
                }
            }
            let (batch, tokens, width) = embeds.dims3()?;
            let context = if context.rank() == 3 {
                let subjects: Vec<u32> = items.iter().map(|item| item.subject as u32).collect();
                context.index_select(&Tensor::new(subjects.as_slice(), &self.device)?, 0)?
            } else {
                context
                    .as_tensor()
                    .unsqueeze(0)?
                    .broadcast_as((batch, n_ctx, width))?
                    .contiguous()?
            };
            let start = embeds.i((.., ..1, ..))?;
            let rest = embeds.i((.., 1 + n_ctx..tokens, ..))?;
            embeds = Tensor::cat(&[&start, &context, &rest], 1)?;
        }
        let features = self
            .tower
            .features_from_embeddings(&embeds, &positions, kernels)?;
        Ok(normalize_rows(&features)?)
    }

    /// The checkpoint tensors that training changed, under their checkpoint names, with the
    /// trained values (LoRA merged into `q_proj`/`v_proj`: `W + (alpha/r) B A`); `base`
    /// holds the text tower's original tensors. Empty for CoOp, which changes no weight.
    pub fn merged_text_weights(
        &self,
        base: &HashMap<String, Tensor>,
    ) -> Result<HashMap<String, Tensor>> {
        let mut merged = HashMap::new();
        match &self.learned {
            Learned::Coop { .. } => {}
            Learned::LastK => {
                for (name, var) in &self.trainable {
                    merged.insert(name.clone(), var.as_tensor().detach());
                }
            }
            Learned::Lora { scale } => {
                let scale = *scale;
                for (name, a) in &self.trainable {
                    let Some(prefix) = name.strip_suffix(".lora_A") else {
                        continue;
                    };
                    let b = &self.trainable[&format!("{prefix}.lora_B")];
                    let weight_name = format!("{prefix}.weight");
                    let weight = base.get(&weight_name).ok_or_else(|| {
                        FinetuneError::Input(format!("base checkpoint has no `{weight_name}`"))
                    })?;
                    let adapter = LowRank {
                        a: a.as_tensor().detach(),
                        b: b.as_tensor().detach(),
                        scale,
                    };
                    merged.insert(weight_name, adapter.merged(weight)?);
                }
            }
        }
        Ok(merged)
    }
}

/// Whether `name` trains under last-k with `k` of `layers` layers.
fn is_last_k_tensor(name: &str, layers: usize, k: usize) -> bool {
    if name.starts_with("text_model.final_layer_norm.") || name == "text_projection.weight" {
        return true;
    }
    name.strip_prefix("text_model.encoder.layers.")
        .and_then(|rest| rest.split('.').next())
        .and_then(|index| index.parse::<usize>().ok())
        .is_some_and(|index| index + k >= layers)
}

/// The checkpoint's text tensors (and `logit_scale`) in `dtype` on `device`.
pub(crate) fn read_text_tensors(
    files: &ClipFiles,
    device: &Device,
    dtype: DType,
) -> Result<HashMap<String, Tensor>> {
    // SAFETY: read-only mapping of a checkpoint softtext does not write while training.
    let mapped = unsafe { candle_core::safetensors::MmapedSafetensors::new(&files.weights) }
        .map_err(|e| {
            FinetuneError::artifact(&files.weights, format!("cannot read: {}", describe(e)))
        })?;
    let mut tensors = HashMap::new();
    for (name, _) in mapped.tensors() {
        if name.starts_with("text_model.")
            || name == "text_projection.weight"
            || name == "logit_scale"
        {
            let tensor = mapped
                .load(&name, device)
                .and_then(|t| t.to_dtype(dtype))
                .map_err(|e| FinetuneError::artifact(&files.weights, describe(e)))?;
            tensors.insert(name, tensor);
        }
    }
    Ok(tensors)
}

fn describe(e: candle_core::Error) -> String {
    crate::diagnostics::without_backtrace(e)
        .to_string()
        .replace('\n', " ")
}

/// Rows scaled to unit L2 norm in the rows' own dtype (f64 for the gradient check).
pub(crate) fn normalize_rows(xs: &Tensor) -> candle_core::Result<Tensor> {
    xs.broadcast_div(&xs.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?)
}

fn uniform(
    rng: &mut ChaCha8Rng,
    shape: (usize, usize),
    bound: f64,
    device: &Device,
    dtype: DType,
) -> Result<Tensor> {
    let between = Uniform::new(-bound, bound).expect("bound > 0");
    let values: Vec<f64> = (0..shape.0 * shape.1)
        .map(|_| between.sample(rng))
        .collect();
    Ok(Tensor::from_vec(values, shape, device)?.to_dtype(dtype)?)
}

fn normal(
    rng: &mut ChaCha8Rng,
    shape: &[usize],
    std: f64,
    device: &Device,
    dtype: DType,
) -> Result<Tensor> {
    let gaussian = Normal::new(0.0, std).expect("std > 0");
    let count: usize = shape.iter().product();
    let values: Vec<f64> = (0..count).map(|_| gaussian.sample(rng)).collect();
    Ok(Tensor::from_vec(values, shape, device)?.to_dtype(dtype)?)
}
