//! The evaluation stage: every protocol on an image embedding file, with the planned texts
//! encoded once (cached in the output folder), written as `table.{md,csv,json}`,
//! `texts.json`, `texts.safetensors` and `run.json`; and the reader of such a folder.
//! `table.json` also holds the subject-share analysis of the soft texts
//! ([`crate::subject_share`]) in its `subject_share` section.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::config::{AuxSpec, EvalSettings};
use super::encode::ClipSpec;
use super::error::StudyError;
use super::finetuned::{check_finetuned, finetuned_rows, probe_row, BaseEvaluation};
use crate::artifact::write_atomic;
use crate::auxiliary::predictions::AuxPredictions;
use crate::clip::{ClipFiles, LazyClip};
use crate::embeddings::encode::cached_text_embeddings;
use crate::embeddings::{Embeddings, Kind};
use crate::error::Result;
use crate::observe::Observer;
use crate::prompts::{ClassSpec, PromptConfig, PromptConfigFile};
use crate::subject_share::{
    subject_share, ImageRows, SoftText, SubjectShareReport, ValidSubjectShareParams,
};
use crate::zeroshot::catalogue::{catalogue, TextCatalogue};
use crate::zeroshot::{
    evaluate as evaluate_protocols, plan_texts, to_csv, to_markdown, AuxSource, EvalReport,
    ImageSet, TextBank,
};

pub use crate::clip::checkpoint::RANDOM_WEIGHTS_MARKER;

/// The fine-tuned text side's embeddings in an evaluation folder (`--finetuned`).
pub const FINETUNED_TEXTS: &str = "texts-finetuned.safetensors";

/// Reads a prompt configuration file (TOML: classes, `[hard]` preset or templates,
/// `[[relations]]`); errors name the file, line and column.
pub fn read_prompt_file(path: &Path) -> Result<PromptConfigFile> {
    let text = std::fs::read_to_string(path).map_err(|source| StudyError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| {
        StudyError::Config(format!(
            "{}: {}",
            path.display(),
            crate::diagnostics::toml_error_line(&text, &e)
        ))
        .into()
    })
}

/// The prompt configuration for a set of images: `file` with the images' classes when it
/// names none; a file that names other classes is an error.
pub fn prompt_config(mut file: PromptConfigFile, classes: &[String]) -> Result<PromptConfig> {
    if file.classes.is_none() {
        file.classes = Some(
            classes
                .iter()
                .map(|c| ClassSpec {
                    name: c.clone(),
                    article: None,
                })
                .collect(),
        );
    }
    let config = PromptConfig::try_from(file)?;
    let names: Vec<&str> = config.classes().names().collect();
    if names != classes.iter().map(String::as_str).collect::<Vec<_>>() {
        return Err(StudyError::Input(format!(
            "the prompt classes [{}] differ from the images' classes [{}]",
            names.join(", "),
            classes.join(", ")
        ))
        .into());
    }
    Ok(config)
}

/// The evaluation engine's auxiliary source for `spec` (`train` has none: its predictions
/// are a file once trained).
pub fn aux_source(spec: &AuxSpec) -> Result<AuxSource> {
    Ok(match spec {
        AuxSpec::SelfRanking => AuxSource::SelfRanking,
        AuxSpec::Oracle => AuxSource::Oracle,
        AuxSpec::File(path) => AuxSource::Predictions(AuxPredictions::read(path)?),
        AuxSpec::Train => {
            return Err(StudyError::Config(
                "the `train` auxiliary source is a study stage; evaluate its predictions file"
                    .into(),
            )
            .into())
        }
    })
}

/// Provenance of an evaluation (`run.json`), for the report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunInfo {
    /// The softtext that evaluated.
    pub softtext_version: String,
    /// The image embedding file evaluated.
    pub images_file: String,
    /// The image embedding file's metadata (model, data, split, dtype, device, ...).
    pub images: BTreeMap<String, String>,
    /// The checkpoint that encoded the texts.
    pub clip: String,
    /// Whether that checkpoint has random weights (a fixture).
    pub random_weights: bool,
    /// The auxiliary source, as the report names it.
    pub aux: String,
    /// The prompt configuration used, as TOML.
    pub prompts_toml: String,
    /// Stage name and seconds.
    pub timings: Vec<(String, f64)>,
    /// The fine-tuned folder's record, with `--finetuned`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finetuned: Option<crate::finetune::FinetunedInfo>,
}

/// What to evaluate.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// The image embedding file (from [`super::encode_images`]).
    pub images: PathBuf,
    /// The text encoder; `None`: the checkpoint named in the image file, with
    /// [`Evaluation::text_device`] and [`Evaluation::text_precision`].
    pub clip: Option<String>,
    /// Where the text encoder runs.
    pub text_device: crate::clip::DeviceKind,
    /// The text encoder's dtype.
    pub text_precision: crate::clip::Precision,
    /// Where each image's top-k classes come from.
    pub aux: AuxSpec,
    /// Text embeddings made elsewhere (`import-embeddings`) holding every planned text; then
    /// no CLIP is loaded. `None`: the texts are encoded (and cached) with [`Evaluation::clip`].
    pub texts: Option<PathBuf>,
    /// Classes, hard templates, relations.
    pub prompts: PromptConfigFile,
    /// Protocols and statistics.
    pub settings: EvalSettings,
    /// A `softtext finetune` folder: every prompt set and protocol is evaluated again with
    /// its text side, in rows labelled `METHOD/SET` (McNemar against the base `hard`).
    pub finetuned: Option<PathBuf>,
}

impl Evaluation {
    /// The paper's prompts and every protocol on `images`, with CLIP's own ranking as the
    /// auxiliary source and the text encoder named in the image file, on the CPU.
    pub fn new(images: impl Into<PathBuf>) -> Self {
        Self {
            images: images.into(),
            clip: None,
            text_device: crate::clip::DeviceKind::Cpu,
            text_precision: crate::clip::Precision::F32,
            aux: AuxSpec::SelfRanking,
            texts: None,
            prompts: PromptConfigFile::default(),
            settings: EvalSettings::default(),
            finetuned: None,
        }
    }
}

/// Everything an evaluation produced.
pub struct EvalOutcome {
    /// Every protocol row, with intervals and tests.
    pub report: EvalReport,
    /// The prompt configuration that ran.
    pub config: PromptConfig,
    /// The text embeddings the protocols used.
    pub texts: Embeddings,
    /// The fine-tuned text side's embeddings of the same texts (with
    /// [`Evaluation::finetuned`]).
    pub finetuned_texts: Option<Embeddings>,
    /// Where each soft text lies among the images (`table.json`'s `subject_share`).
    pub subject_share: SubjectShareReport,
    /// The same for the fine-tuned text side (with [`Evaluation::finetuned`]).
    pub subject_share_finetuned: Option<SubjectShareReport>,
    /// What `run.json` records.
    pub run: RunInfo,
    /// Every file written.
    pub files: Vec<PathBuf>,
}

/// Evaluates every protocol on the image embeddings; encodes the planned texts (cached in
/// `out/texts.safetensors`) and writes `out/table.{md,csv,json}`, `out/texts.json` and
/// `out/run.json`.
pub fn evaluate(params: &Evaluation, out: &Path, observer: &dyn Observer) -> Result<EvalOutcome> {
    super::check_output_folder(out)?;
    let started = Instant::now();
    let images = Embeddings::load(&params.images)?;
    if images.kind != Kind::Image {
        return Err(StudyError::Input(format!(
            "{}: holds text embeddings; --images needs the output of encode-images",
            params.images.display()
        ))
        .into());
    }
    let labels: Vec<usize> = images
        .labels
        .as_ref()
        .expect("image files have labels")
        .iter()
        .map(|&l| l as usize)
        .collect();
    // Read and checked once, before anything is written.
    let finetuned_info = match &params.finetuned {
        Some(dir) => Some(check_finetuned(dir, &images)?),
        None => None,
    };
    let config = prompt_config(params.prompts.clone(), &images.classes)?;
    let eval_params = params.settings.params()?;
    let share_params = params.settings.subject_share.clone().check()?;
    let aux = aux_source(&params.aux)?;
    if let AuxSource::Predictions(predictions) = &aux {
        // Fails on predictions made for other images before any text is encoded.
        predictions.align(config.classes(), &images.ids)?;
    }
    let plan = plan_texts(&eval_params, &config, &aux)?;

    std::fs::create_dir_all(out).map_err(|source| StudyError::Io {
        path: out.to_path_buf(),
        source,
    })?;
    let text_started = Instant::now();
    let (texts, clip_spec, random_weights) = match &params.texts {
        Some(path) => {
            let texts =
                imported_texts(path, &images, plan.texts(), &out.join("texts.safetensors"))?;
            observer.status(&format!(
                "{} unique texts (from {})",
                texts.len(),
                path.display()
            ));
            let model = texts.info.get("model").cloned().unwrap_or_default();
            let random = Path::new(&model).join(RANDOM_WEIGHTS_MARKER).exists();
            (texts, model, random)
        }
        None => {
            let (clip_spec, clip) = text_encoder(params, &images)?;
            let (texts, cached) = cached_text_embeddings(
                &clip,
                plan.texts(),
                params.settings.batch_size,
                &out.join("texts.safetensors"),
                observer,
            )?;
            observer.status(&format!(
                "{} unique texts ({})",
                texts.len(),
                if cached { "cached" } else { "encoded" }
            ));
            let random = files_are_random(clip.files());
            (texts, clip_spec, random)
        }
    };
    let text_seconds = text_started.elapsed().as_secs_f64();
    let eval_started = Instant::now();
    let bank = TextBank::new(texts.ids.clone(), texts.data.clone(), texts.dim)?;
    let image_set = ImageSet::new(&images.data, images.dim, &labels, &images.ids)?;
    let mut report = evaluate_protocols(&eval_params, &config, &image_set, &aux, &bank)?;
    let catalogue = catalogue(&config, &bank, &report);
    let eval_seconds = eval_started.elapsed().as_secs_f64();
    let share_started = Instant::now();
    let shares = soft_text_shares(&share_params, &images, &labels, &bank, &catalogue)?;
    let share_seconds = share_started.elapsed().as_secs_f64();
    let mut files = vec![out.join("texts.safetensors")];
    let mut finetuned_texts = None;
    let mut finetuned_shares = None;
    if let (Some(dir), Some(info)) = (&params.finetuned, &finetuned_info) {
        let base = BaseEvaluation {
            params: &eval_params,
            config: &config,
            images: &images,
            image_set: &image_set,
            aux: &aux,
            plan: &plan,
            report: &report,
            device: params.text_device,
            batch_size: params.settings.batch_size,
        };
        let cache = out.join(FINETUNED_TEXTS);
        let (rows, texts, bank) = finetuned_rows(dir, info, &base, &cache, observer)?;
        let probe = probe_row(dir, info, &base)?;
        report.rows.extend(rows);
        report.rows.push(probe);
        files.push(cache);
        finetuned_shares = Some(soft_text_shares(
            &share_params,
            &images,
            &labels,
            &bank,
            &catalogue,
        )?);
        finetuned_texts = Some(texts);
    }
    let mut write = |name: &str, bytes: &[u8]| -> Result<()> {
        let path = out.join(name);
        write_atomic(&path, bytes)?;
        files.push(path);
        Ok(())
    };
    write(
        "texts.json",
        serde_json::to_string_pretty(&catalogue)
            .expect("catalogue serialises")
            .as_bytes(),
    )?;
    let run = RunInfo {
        softtext_version: crate::VERSION.to_string(),
        images_file: params.images.display().to_string(),
        images: images.info.clone().into_iter().collect(),
        clip: clip_spec.clone(),
        random_weights,
        aux: aux.name(),
        prompts_toml: toml::to_string(&PromptConfigFile::from(&config)).unwrap_or_default(),
        timings: vec![
            ("text encoding".into(), text_seconds),
            ("evaluation".into(), eval_seconds),
            ("subject share".into(), share_seconds),
        ],
        finetuned: finetuned_info,
    };
    write(
        "run.json",
        serde_json::to_string_pretty(&run)
            .expect("run info serialises")
            .as_bytes(),
    )?;
    write("table.md", to_markdown(&report).as_bytes())?;
    write("table.csv", to_csv(&report).as_bytes())?;
    write(
        "table.json",
        table_json(&report, &shares, finetuned_shares.as_ref()).as_bytes(),
    )?;
    observer.status(&format!(
        "evaluated {} protocol rows on {} images in {:.2}s; wrote {}/table.{{md,csv,json}}",
        report.rows.len(),
        images.len(),
        started.elapsed().as_secs_f64(),
        out.display()
    ));
    Ok(EvalOutcome {
        report,
        config,
        texts,
        finetuned_texts,
        subject_share: shares,
        subject_share_finetuned: finetuned_shares,
        run,
        files,
    })
}

/// The subject share of every soft text of `catalogue` in `bank` among `images`: the
/// evaluation's `subject_share` section. A second text bank for the same soft texts (other
/// text embeddings) is analysed by calling this again with that bank.
pub fn soft_text_shares(
    params: &ValidSubjectShareParams,
    images: &Embeddings,
    labels: &[usize],
    bank: &TextBank,
    catalogue: &TextCatalogue,
) -> Result<SubjectShareReport> {
    let soft = SoftText::from_catalogue(catalogue);
    let texts = bank.gather(&soft.iter().map(|t| t.text.as_str()).collect::<Vec<_>>())?;
    let rows = ImageRows {
        embeddings: &images.data,
        dim: images.dim,
        labels,
        classes: &images.classes,
    };
    Ok(subject_share(params, &rows, &texts, &soft)?)
}

/// `table.json`: the zero-shot report as [`crate::zeroshot::to_json`] writes it, with the
/// `subject_share` section added after its fields. Readers of [`EvalReport`] alone ignore
/// the section; [`read_eval`] reads both.
fn table_json(
    report: &EvalReport,
    shares: &SubjectShareReport,
    finetuned: Option<&SubjectShareReport>,
) -> String {
    #[derive(Serialize)]
    struct Table<'a> {
        #[serde(flatten)]
        report: &'a EvalReport,
        subject_share: &'a SubjectShareReport,
        #[serde(skip_serializing_if = "Option::is_none")]
        subject_share_finetuned: Option<&'a SubjectShareReport>,
    }
    let mut text = serde_json::to_string_pretty(&Table {
        report,
        subject_share: shares,
        subject_share_finetuned: finetuned,
    })
    .expect("reports serialise");
    text.push('\n');
    text
}

/// The text encoder for `params`: `--clip`, or the checkpoint named in the image file; it
/// must be the one that encoded the images. Only its fingerprint is read here: the weights
/// load when some text is not in the cache.
fn text_encoder(params: &Evaluation, images: &Embeddings) -> Result<(String, LazyClip)> {
    let clip_spec = match (&params.clip, images.info.get("model")) {
        (Some(spec), _) => spec.clone(),
        (None, Some(model)) => model.clone(),
        (None, None) => {
            return Err(StudyError::Missing(
                "--clip is needed: the image file does not name its model".into(),
            )
            .into())
        }
    };
    let encoder = ClipSpec {
        model: clip_spec.clone(),
        device: params.text_device,
        precision: params.text_precision,
    };
    let clip = encoder.lazy()?;
    if let Some(image_hash) = images.info.get("checkpoint_hash") {
        if image_hash != clip.fingerprint()? {
            return Err(StudyError::Input(format!(
                "{}: the images were encoded by another checkpoint than {clip_spec}; texts and images must come from the same CLIP",
                params.images.display()
            ))
            .into());
        }
    }
    Ok((clip_spec, clip))
}

/// The planned texts from a text embedding file made elsewhere (`import-embeddings`), written
/// to `cache` for the figure stages; every planned text must be in it, in the images' width.
fn imported_texts(
    path: &Path,
    images: &Embeddings,
    planned: &[String],
    cache: &Path,
) -> Result<Embeddings> {
    let file = Embeddings::load(path)?;
    if file.kind != Kind::Text {
        return Err(StudyError::Input(format!(
            "{}: holds image embeddings; --texts needs a text embedding file",
            path.display()
        ))
        .into());
    }
    if file.dim != images.dim {
        return Err(StudyError::Input(format!(
            "{}: texts of {} dims, but the images have {}; both must come from one model",
            path.display(),
            file.dim,
            images.dim
        ))
        .into());
    }
    let row: std::collections::HashMap<&str, usize> = file
        .ids
        .iter()
        .enumerate()
        .map(|(i, t)| (t.as_str(), i))
        .collect();
    let missing: Vec<&String> = planned
        .iter()
        .filter(|t| !row.contains_key(t.as_str()))
        .collect();
    if let Some(first) = missing.first() {
        return Err(StudyError::Input(format!(
            "{}: {} of the {} planned texts are not in it, e.g. {first:?}; import embeddings for every prompt the protocols use",
            path.display(),
            missing.len(),
            planned.len()
        ))
        .into());
    }
    let mut data = Vec::with_capacity(planned.len() * file.dim);
    for text in planned {
        data.extend_from_slice(file.row(row[text.as_str()]));
    }
    let subset = Embeddings {
        kind: Kind::Text,
        dim: file.dim,
        data,
        ids: planned.to_vec(),
        labels: None,
        classes: Vec::new(),
        key: crate::artifact::content_key("softtext-imported-subset-v1", &[file.key.as_str()]),
        info: file.info.clone(),
    };
    subset.save(cache)?;
    Ok(subset)
}

/// Whether a checkpoint folder is one of softtext's random-weight fixtures.
pub fn files_are_random(files: &ClipFiles) -> bool {
    files.dir.join(RANDOM_WEIGHTS_MARKER).exists()
}

/// An evaluation's output folder as the figure stages read it.
pub struct EvalFolder {
    /// `table.json`.
    pub report: EvalReport,
    /// `texts.json`.
    pub catalogue: TextCatalogue,
    /// `run.json`, when present and readable.
    pub run: Option<RunInfo>,
    /// `table.json`'s `subject_share` section; `None` in an evaluation written before
    /// softtext had the analysis.
    pub subject_share: Option<SubjectShareReport>,
    /// The same analysis for the fine-tuned text side (`subject_share_finetuned`), with
    /// `--finetuned`.
    pub subject_share_finetuned: Option<SubjectShareReport>,
    /// A content hash of `table.json` and `texts.json`. The UMAP stage records it beside
    /// each figure, and the report embeds only figures whose hash matches the evaluation it
    /// reports, so a figure left by an earlier run is never shown as current.
    pub fingerprint: String,
}

/// Reads an evaluation's output folder.
pub fn read_eval(dir: &Path) -> Result<EvalFolder> {
    let read = |name: &str| -> Result<String> {
        let p = dir.join(name);
        std::fs::read_to_string(&p).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                StudyError::Missing(format!(
                    "{}: not found; run `softtext eval --out {}` first",
                    p.display(),
                    dir.display()
                ))
                .into()
            } else {
                StudyError::Io { path: p, source: e }.into()
            }
        })
    };
    let (table, texts) = (read("table.json")?, read("texts.json")?);
    let report: EvalReport = serde_json::from_str(&table)
        .map_err(|e| StudyError::Input(format!("{}: {e}", dir.join("table.json").display())))?;
    let catalogue: TextCatalogue = serde_json::from_str(&texts)
        .map_err(|e| StudyError::Input(format!("{}: {e}", dir.join("texts.json").display())))?;
    #[derive(Deserialize)]
    struct Section {
        #[serde(default)]
        subject_share: Option<SubjectShareReport>,
        #[serde(default)]
        subject_share_finetuned: Option<SubjectShareReport>,
    }
    let section: Section = serde_json::from_str(&table)
        .map_err(|e| StudyError::Input(format!("{}: {e}", dir.join("table.json").display())))?;
    let run = std::fs::read_to_string(dir.join("run.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    let mut hasher = blake3::Hasher::new();
    hasher.update(table.as_bytes());
    hasher.update(texts.as_bytes());
    Ok(EvalFolder {
        report,
        catalogue,
        run,
        subject_share: section.subject_share,
        subject_share_finetuned: section.subject_share_finetuned,
        fingerprint: hasher.finalize().to_hex().to_string(),
    })
}
