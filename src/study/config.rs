//! The study configuration (`reproduce --config FILE.toml`), typed once: every field is
//! parsed into the library type it configures when the file is read, every default is
//! defined here and read by the CLI's flags too, and unknown fields are errors.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::StudyError;
use crate::auxiliary::classifier::TrainParams;
use crate::clip::{DeviceKind, Precision};
use crate::data::{DataSpec, Split};
use crate::prompts::PromptConfigFile;
use crate::subject_share::{SubjectShareError, SubjectShareParams};
use crate::umap::UmapParams;
use crate::zeroshot::{EvalParams, ProtocolKind, ValidEvalParams};

/// Serialises a value through its `Display` and reads it back through `FromStr`, so the
/// library's own parsers (and their messages) decide what a config string means.
mod as_string {
    use std::fmt::Display;
    use std::str::FromStr;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<T: Display, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(value)
    }

    pub fn deserialize<'de, T, D>(d: D) -> Result<T, D::Error>
    where
        T: FromStr,
        T::Err: Display,
        D: Deserializer<'de>,
    {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// [`as_string`] for an optional value.
mod as_optional_string {
    use std::fmt::Display;
    use std::str::FromStr;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<T: Display, S: Serializer>(
        value: &Option<T>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => s.collect_str(v),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, T, D>(d: D) -> Result<Option<T>, D::Error>
    where
        T: FromStr,
        T::Err: Display,
        D: Deserializer<'de>,
    {
        Option::<String>::deserialize(d)?
            .map(|text| text.parse().map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// The whole study. Read with [`StudyConfig::from_file`] (or [`StudyConfig::from_toml`]),
/// which also checks the settings that depend on each other.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudyConfig {
    /// A name for the run; the default output folder is `out/NAME`.
    pub name: String,
    /// Shown first in the report's provenance table when set.
    #[serde(default)]
    pub description: Option<String>,
    /// The CLIP checkpoint and where it runs.
    pub clip: ClipSettings,
    /// The evaluated images.
    pub data: DataSettings,
    /// Where each image's top-k classes come from.
    pub auxiliary: AuxSettings,
    /// Classes, hard templates and relations (the paper's by default).
    #[serde(default)]
    pub prompts: PromptConfigFile,
    /// Protocols and statistics.
    #[serde(default)]
    pub eval: EvalSettings,
    /// The joint UMAP figures.
    #[serde(default)]
    pub umap: UmapSettings,
    /// The report.
    #[serde(default)]
    pub report: ReportSettings,
    /// Fine-tuning of the text side on the train split before evaluation (none by
    /// default); the evaluation then adds the fine-tuned rows.
    #[serde(default)]
    pub finetune: Option<crate::finetune::FinetuneParams>,
}

/// `[clip]`: the checkpoint and the encoders' device, dtype and batch size.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClipSettings {
    /// A Hugging Face folder or repo id (`openai/clip-vit-large-patch14`).
    pub model: String,
    /// Where the encoders run.
    #[serde(default, with = "as_string")]
    pub device: DeviceKind,
    /// The encoders' weight and activation dtype (embeddings are stored as f32).
    #[serde(default, rename = "dtype", with = "as_string")]
    pub precision: Precision,
    /// Images per forward pass of the image encoder.
    #[serde(default = "defaults::image_batch_size")]
    pub batch_size: usize,
}

/// `[data]`: the evaluated images.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSettings {
    /// `folder:PATH`, `cifar10-bin:PATH`, `cifar100-bin:PATH`, `cifar100-coarse-bin:PATH` or
    /// `stl10-bin:PATH` (relative paths are relative to the working
    /// folder).
    #[serde(with = "as_string")]
    pub spec: DataSpec,
    /// Which split is evaluated.
    #[serde(default = "defaults::split", with = "as_string")]
    pub split: Split,
    /// `fine` (the default) or `coarse`: which CIFAR-100 labelling `cifar100-bin:` data
    /// is read with (the same as writing `cifar100-coarse-bin:`); an error for other data.
    #[serde(default)]
    pub label: Option<crate::data::Cifar100Label>,
    /// Evaluate at most this many images (round-robin over classes).
    #[serde(default)]
    pub limit: Option<usize>,
    /// Fetch the official CIFAR-10 binary release to a missing `cifar10-bin:` path (needs the
    /// `download` feature and the network).
    #[serde(default)]
    pub download: bool,
}

/// Where each image's auxiliary top-k classes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuxSpec {
    /// softtext trains the classifier of `[auxiliary.train]`, then predicts.
    Train,
    /// CLIP's own hard-prompt ranking.
    SelfRanking,
    /// The true class and its most-confused class (an upper bound).
    Oracle,
    /// A prediction file (.json, .csv or .safetensors) keyed by image id.
    File(PathBuf),
}

impl AuxSpec {
    /// Whether `path` names a prediction file by its extension (`.json`, `.csv` or
    /// `.safetensors`).
    pub fn is_prediction_file(path: &Path) -> bool {
        crate::auxiliary::predictions::is_prediction_file(path)
    }
}

impl std::str::FromStr for AuxSpec {
    type Err = StudyError;

    /// `train`, `self`, `oracle`, or a path ending in `.json`, `.csv` or `.safetensors`.
    fn from_str(text: &str) -> Result<Self, StudyError> {
        Ok(match text {
            "train" => AuxSpec::Train,
            "self" => AuxSpec::SelfRanking,
            "oracle" => AuxSpec::Oracle,
            path if AuxSpec::is_prediction_file(Path::new(path)) => AuxSpec::File(path.into()),
            other => {
                return Err(StudyError::Config(format!(
                    "[auxiliary] source {other:?}: use \"train\", \"self\", \"oracle\" or a predictions file (.json, .csv or .safetensors)"
                )))
            }
        })
    }
}

impl std::fmt::Display for AuxSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuxSpec::Train => f.write_str("train"),
            AuxSpec::SelfRanking => f.write_str("self"),
            AuxSpec::Oracle => f.write_str("oracle"),
            AuxSpec::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// `[auxiliary]`: the source of the soft texts' class pairs, and the classifier recipe when
/// softtext trains it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuxSettings {
    /// See [`AuxSpec`].
    #[serde(with = "as_string")]
    pub source: AuxSpec,
    /// With `train`: the training data (its train split); default: `[data] spec`.
    #[serde(default, with = "as_optional_string")]
    pub train_data: Option<DataSpec>,
    /// With `train`: data for the per-epoch test accuracy (its test split); default:
    /// `[data] spec`.
    #[serde(default, with = "as_optional_string")]
    pub test_data: Option<DataSpec>,
    /// With `train`: where to train and predict; default: `[clip] device`.
    #[serde(default, with = "as_optional_string")]
    pub device: Option<DeviceKind>,
    /// With `train`: classes kept per image (the soft texts use two, `topk-mean` up to k).
    #[serde(default = "defaults::aux_top_k")]
    pub top_k: usize,
    /// With `train`: the recipe; every field defaults to the paper's.
    #[serde(default)]
    pub train: Option<TrainParams>,
}

impl AuxSettings {
    /// Whether softtext trains the classifier itself.
    pub fn trains(&self) -> bool {
        self.source == AuxSpec::Train
    }
}

/// `[eval]`: which protocols run and the statistics around them. The defaults are
/// [`EvalParams::default`]'s.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvalSettings {
    /// Bootstrap resamples of the 95% confidence intervals.
    pub bootstrap: usize,
    /// Seed of the bootstrap.
    pub seed: u64,
    /// Protocols to run; empty for all.
    pub protocols: Vec<ProtocolKind>,
    /// λ grid of the blend protocols; empty for 0, 0.1, …, 1.
    pub lambdas: Vec<f64>,
    /// How many classes the `self` source ranks per image.
    pub self_k: usize,
    /// Texts per forward pass of the text encoder.
    pub batch_size: usize,
    /// `[eval.subject_share]`: where each soft text lies among the images
    /// ([`crate::subject_share`]); the defaults are [`SubjectShareParams::default`]'s.
    pub subject_share: SubjectShareParams,
}

impl Default for EvalSettings {
    fn default() -> Self {
        let params = EvalParams::default()
            .check()
            .expect("the default evaluation parameters are valid");
        Self {
            bootstrap: params.bootstrap_resamples(),
            seed: params.seed(),
            protocols: Vec::new(),
            lambdas: Vec::new(),
            self_k: params.self_k(),
            batch_size: defaults::TEXT_BATCH_SIZE,
            subject_share: SubjectShareParams::default(),
        }
    }
}

impl EvalSettings {
    /// The engine's parameters for these settings, checked.
    pub fn params(&self) -> Result<ValidEvalParams, crate::zeroshot::ZeroShotError> {
        let mut params = EvalParams::default()
            .bootstrap_resamples(self.bootstrap)
            .seed(self.seed)
            .self_k(self.self_k);
        if !self.protocols.is_empty() {
            params = params.protocols(&self.protocols);
        }
        if !self.lambdas.is_empty() {
            params = params.blend_lambdas(&self.lambdas);
        }
        params.check()
    }
}

/// `[umap]`: the joint UMAP figures. The defaults are [`UmapParams::default`]'s.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UmapSettings {
    /// Whether the study draws them.
    pub enabled: bool,
    /// Neighbourhood size.
    pub n_neighbors: usize,
    /// Minimum distance between embedded points.
    pub min_dist: f32,
    /// SGD epochs (default: 500 up to 10,000 points, else 200, as umap-learn).
    pub epochs: Option<usize>,
    /// The same inputs, parameters and seed give identical coordinates.
    pub seed: u64,
    /// Extra texts to label in the figures.
    pub labels: Vec<String>,
    /// How many of the most frequent soft texts are labelled in each soft figure.
    pub top_labels: usize,
}

impl Default for UmapSettings {
    fn default() -> Self {
        let params = UmapParams::default();
        let valid = params
            .check_ref()
            .expect("the default UMAP parameters are valid");
        Self {
            enabled: true,
            n_neighbors: valid.n_neighbors(),
            min_dist: valid.min_dist(),
            epochs: valid.n_epochs(),
            seed: valid.seed(),
            labels: Vec::new(),
            top_labels: defaults::TOP_LABELS,
        }
    }
}

impl UmapSettings {
    /// The UMAP parameters for these settings (checked when fitted).
    pub fn params(&self) -> UmapParams {
        UmapParams::new()
            .n_neighbors(self.n_neighbors)
            .min_dist(self.min_dist)
            .n_epochs(self.epochs)
            .seed(self.seed)
    }
}

/// A soft protocol row of the table, as `[report] protocol` and `report --protocol` name it:
/// `pair`, or a parameterised one such as `blend-all(0.5)` or `topk-mean(2)`.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportProtocol {
    /// The protocol.
    pub kind: ProtocolKind,
    /// `(K)` or `(λ)` as written, for the protocols with one row per parameter.
    pub parameter: Option<String>,
}

impl ReportProtocol {
    /// The label of its table rows (`ResultRow::protocol_label`).
    pub fn label(&self) -> String {
        match &self.parameter {
            Some(p) => format!("{}({p})", self.kind.name()),
            None => self.kind.name().to_string(),
        }
    }

    fn has_one_row_per_parameter(kind: ProtocolKind) -> bool {
        matches!(
            kind,
            ProtocolKind::TopkMean | ProtocolKind::BlendAll | ProtocolKind::BlendPair
        )
    }
}

impl Default for ReportProtocol {
    fn default() -> Self {
        Self {
            kind: ProtocolKind::Pair,
            parameter: None,
        }
    }
}

impl std::str::FromStr for ReportProtocol {
    type Err = StudyError;

    /// Parses a row label; errors name `[report] protocol`, the config key.
    fn from_str(label: &str) -> Result<Self, StudyError> {
        Self::parse_as(label, "[report] protocol")
    }
}

impl ReportProtocol {
    /// Parses a row label; errors name `setting` (a config key or a flag).
    pub fn parse_as(label: &str, setting: &str) -> Result<Self, StudyError> {
        let (base, parameter) = match label.split_once('(') {
            Some((base, rest)) if rest.ends_with(')') => {
                (base, Some(rest.trim_end_matches(')').to_string()))
            }
            _ => (label, None),
        };
        let soft: Vec<&str> = ProtocolKind::ALL
            .iter()
            .filter(|k| !k.is_hard())
            .map(|k| k.name())
            .collect();
        match ProtocolKind::from_name(base) {
            Some(kind) if Self::has_one_row_per_parameter(kind) && parameter.is_none() => {
                Err(StudyError::Config(format!(
                    "{setting} {label:?} has one row per parameter; name one, e.g. \"{base}({})\"",
                    if kind == ProtocolKind::TopkMean { "2" } else { "0.5" }
                )))
            }
            Some(kind) if !kind.is_hard() && (parameter.is_none() || Self::has_one_row_per_parameter(kind)) => {
                Ok(Self { kind, parameter })
            }
            _ => Err(StudyError::Config(format!(
                "{setting} {label:?} is not a soft protocol; use one of {} (with (K) or (λ) for the last three, e.g. \"blend-all(0.5)\")",
                soft.join(", ")
            ))),
        }
    }
}

impl std::fmt::Display for ReportProtocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.label())
    }
}

/// `[report]`: what the report charts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportSettings {
    /// Soft protocol charted per class beside `hard`.
    #[serde(default, with = "as_string")]
    pub protocol: ReportProtocol,
}

/// The defaults that are not another library type's, each defined once.
pub mod defaults {
    use crate::data::Split;

    /// Images per forward pass of the image encoder.
    pub const IMAGE_BATCH_SIZE: usize = 64;
    /// Texts per forward pass of the text encoder.
    pub const TEXT_BATCH_SIZE: usize = 256;
    /// Classes an auxiliary classifier keeps per image.
    pub const AUX_TOP_K: usize = 5;
    /// Soft texts labelled per UMAP figure.
    pub const TOP_LABELS: usize = 6;
    /// Images per forward pass of the auxiliary classifier when predicting.
    pub const AUX_PREDICT_BATCH_SIZE: usize = 256;
    /// The split that is encoded, evaluated and predicted: the paper evaluates on test.
    pub const SPLIT: Split = Split::Test;

    pub(super) fn image_batch_size() -> usize {
        IMAGE_BATCH_SIZE
    }
    pub(super) fn aux_top_k() -> usize {
        AUX_TOP_K
    }
    pub(super) fn split() -> Split {
        SPLIT
    }
}

impl StudyConfig {
    /// Reads and checks a config file; errors name the file, and the line and column of the
    /// offending key.
    pub fn from_file(path: &Path) -> Result<Self, StudyError> {
        let text = std::fs::read_to_string(path).map_err(|source| StudyError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml(&text).map_err(|e| StudyError::Config(format!("{}: {e}", path.display())))
    }

    /// Parses and checks a config from TOML text.
    pub fn from_toml(text: &str) -> Result<Self, StudyError> {
        let mut config: Self = toml::from_str(text)
            .map_err(|e| StudyError::Config(crate::diagnostics::toml_error_line(text, &e)))?;
        if let Some(label) = config.data.label.take() {
            config.data.spec = config
                .data
                .spec
                .clone()
                .with_cifar100_label(label)
                .map_err(|e| StudyError::Config(format!("[data] label: {e}")))?;
        }
        config.check()?;
        Ok(config)
    }

    /// The settings that depend on each other, checked before any work.
    pub fn check(&self) -> Result<(), StudyError> {
        let aux = &self.auxiliary;
        if !aux.trains()
            && (aux.train.is_some() || aux.train_data.is_some() || aux.test_data.is_some())
        {
            return Err(StudyError::Config(format!(
                "[auxiliary]: train, train_data and test_data are only read with source = \"train\", not {:?}",
                aux.source.to_string()
            )));
        }
        if let Some(params) = &aux.train {
            params
                .check()
                .map_err(|e| StudyError::Config(format!("[auxiliary.train]: {e}")))?;
        }
        let protocol = &self.report.protocol;
        let runs = &self.eval.protocols;
        if !runs.is_empty() && !runs.contains(&protocol.kind) {
            let names: Vec<&str> = runs.iter().map(|k| k.name()).collect();
            return Err(StudyError::Config(format!(
                "[report] protocol {:?} is not among [eval] protocols ({}); add it there or chart one of those",
                protocol.label(),
                names.join(", ")
            )));
        }
        if let Some(params) = &self.finetune {
            params
                .check()
                .map_err(|e| StudyError::Config(format!("[finetune]: {e}")))?;
            if !params.is_hard() && !aux.trains() {
                return Err(StudyError::Config(format!(
                    "[finetune] prompt = {:?}: soft texts need the train images' top-2 classes, which only [auxiliary] source = \"train\" predicts; use prompt = \"hard\" or train the classifier",
                    params.prompt
                )));
            }
        }
        self.eval
            .subject_share
            .clone()
            .check()
            .map_err(|e| match e {
                SubjectShareError::InvalidParam { param, message } => {
                    StudyError::Config(format!("[eval.subject_share] {}: {message}", param.name()))
                }
                other => StudyError::Config(format!("[eval.subject_share]: {other}")),
            })?;
        if self.data.limit == Some(0) {
            return Err(StudyError::Config(
                "[data] limit must be at least 1 (leave it out to use every image)".into(),
            ));
        }
        Ok(())
    }

    /// Where the study writes by default: `out/NAME`.
    pub fn default_out_dir(&self) -> PathBuf {
        PathBuf::from("out").join(&self.name)
    }

    /// Where the auxiliary classifier trains and predicts.
    pub fn aux_device(&self) -> DeviceKind {
        self.auxiliary.device.unwrap_or(self.clip.device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Cifar100Label;

    fn config(data: &str) -> Result<StudyConfig, StudyError> {
        StudyConfig::from_toml(&format!(
            "name = \"t\"\n[clip]\nmodel = \"m\"\n[data]\n{data}\n[auxiliary]\nsource = \"self\"\n"
        ))
    }

    #[test]
    fn data_label_selects_the_cifar100_labelling_and_is_refused_elsewhere() {
        let coarse = config("spec = \"cifar100-bin:c100\"\nlabel = \"coarse\"").unwrap();
        assert_eq!(
            coarse.data.spec,
            DataSpec::Cifar100Bin {
                path: "c100".into(),
                label: Cifar100Label::Coarse
            }
        );
        let fine = config("spec = \"cifar100-bin:c100\"").unwrap();
        assert_eq!(fine.data.spec.to_string(), "cifar100-bin:c100");
        let e = config("spec = \"folder:x\"\nlabel = \"coarse\"").unwrap_err();
        assert!(e.to_string().starts_with("[data] label: "), "{e}");
        let e = config("spec = \"cifar100-bin:c100\"\nlabel = \"medium\"").unwrap_err();
        assert!(e.to_string().contains("line 6"), "{e}");
    }

    #[test]
    fn subject_share_settings_default_from_their_params_and_are_checked() {
        let plain = config("spec = \"folder:x\"").unwrap();
        assert_eq!(plain.eval.subject_share, SubjectShareParams::default());
        let text = "name = \"t\"\n[clip]\nmodel = \"m\"\n[data]\nspec = \"folder:x\"\n[auxiliary]\nsource = \"self\"\n[eval.subject_share]\n";
        let set = StudyConfig::from_toml(&format!("{text}k = 7\n")).unwrap();
        assert_eq!(set.eval.subject_share, SubjectShareParams::default().k(7));
        let e = StudyConfig::from_toml(&format!("{text}k = 0\n")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "[eval.subject_share] k: must be at least 1 (got 0)"
        );
        let e = StudyConfig::from_toml(&format!("{text}kay = 7\n")).unwrap_err();
        assert!(e.to_string().contains("unknown field `kay`"), "{e}");
        // The whole config still round-trips through TOML (the manifest records it).
        let again = StudyConfig::from_toml(&toml::to_string(&set).unwrap()).unwrap();
        assert_eq!(again.eval, set.eval);
    }

    #[test]
    fn report_protocol_rows_parse_and_name_the_setting() {
        assert_eq!("pair".parse::<ReportProtocol>().unwrap().label(), "pair");
        assert_eq!(
            "blend-all(0.5)".parse::<ReportProtocol>().unwrap().label(),
            "blend-all(0.5)"
        );
        let e = ReportProtocol::parse_as("blend-all", "--protocol").unwrap_err();
        assert!(e
            .to_string()
            .starts_with("--protocol \"blend-all\" has one row per parameter"));
        assert!("hard".parse::<ReportProtocol>().is_err());
    }
}
