//! Fine-tuned rows of an evaluation: every prompt set and protocol again with a fine-tuned
//! text side (`eval --finetuned DIR`), labelled `METHOD/SET` and tested against the base
//! `hard` row.

use std::path::Path;

use super::error::StudyError;
use crate::clip::DeviceKind;
use crate::embeddings::{Embeddings, Kind};
use crate::error::Result;
use crate::finetune::{FinetunedInfo, FinetunedText, TextItem};
use crate::observe::Observer;
use crate::probe::{fit, Features, ProbeParams};
use crate::prompts::PromptConfig;
use crate::zeroshot::{
    evaluate as evaluate_protocols, result_row, AuxSource, Bootstrap, EvalReport, ImageSet,
    McNemar, ResultRow, TextBank, TextPlan, ValidEvalParams,
};

/// What the fine-tuned pass needs from the base evaluation.
pub(crate) struct BaseEvaluation<'a> {
    pub params: &'a ValidEvalParams,
    pub config: &'a PromptConfig,
    pub images: &'a Embeddings,
    pub image_set: &'a ImageSet<'a>,
    pub aux: &'a AuxSource,
    pub plan: &'a TextPlan,
    pub report: &'a EvalReport,
    pub device: DeviceKind,
    pub batch_size: usize,
}

/// Refuses a fine-tuned folder that cannot pair with `images` before anything is written:
/// not a fine-tuned folder, trained from another checkpoint, or on other classes.
pub(crate) fn check_finetuned(dir: &Path, images: &Embeddings) -> Result<FinetunedInfo> {
    let info = crate::finetune::read_info(dir)?;
    if let Some(hash) = images.info.get("checkpoint_hash") {
        if *hash != info.base_fingerprint {
            return Err(StudyError::Input(format!(
                "--finetuned {}: fine-tuned from {}, another checkpoint than the one that encoded the images",
                dir.display(),
                info.base_clip
            ))
            .into());
        }
    }
    if info.classes != images.classes {
        return Err(StudyError::Input(format!(
            "--finetuned {}: trained on classes [{}], the images have [{}]",
            dir.display(),
            info.classes.join(", "),
            images.classes.join(", ")
        ))
        .into());
    }
    Ok(info)
}

/// The fine-tuned text embeddings of the planned texts (cached in `cache`) and the rows
/// they give, relabelled `METHOD/SET`, with McNemar against the base `hard` row.
pub(crate) fn finetuned_rows(
    dir: &Path,
    info: &FinetunedInfo,
    base: &BaseEvaluation<'_>,
    cache: &Path,
    observer: &dyn Observer,
) -> Result<(Vec<ResultRow>, Embeddings, TextBank)> {
    let key = crate::artifact::content_key(
        "softtext-finetuned-texts-v1",
        &[
            info.key.clone(),
            serde_json::to_string(base.plan.texts()).expect("texts serialise"),
        ],
    );
    let texts = match Embeddings::load_if_fresh(cache, &key) {
        Some(cached) => cached,
        None => {
            let model = FinetunedText::open(dir, base.device)?;
            let items = plan_items(base.plan, base.config, model.replaces_template());
            observer.status(&format!(
                "encoding {} texts with the fine-tuned {} text side",
                items.len(),
                model.label()
            ));
            let data = model.encode(&items, base.batch_size)?;
            let texts = Embeddings {
                kind: Kind::Text,
                dim: data.len() / items.len().max(1),
                data,
                ids: base.plan.texts().to_vec(),
                labels: None,
                classes: Vec::new(),
                key,
                info: [
                    ("model".to_string(), info.base_clip.clone()),
                    ("finetuned".to_string(), dir.display().to_string()),
                    ("method".to_string(), info.params.method_summary()),
                ]
                .into_iter()
                .collect(),
            };
            texts.save(cache)?;
            texts
        }
    };
    let bank = TextBank::new(texts.ids.clone(), texts.data.clone(), texts.dim)?;
    let report = evaluate_protocols(base.params, base.config, base.image_set, base.aux, &bank)?;
    let labels = base.image_set.labels();
    let correct = |row: &ResultRow| -> Vec<bool> {
        row.predictions
            .iter()
            .zip(labels)
            .map(|(p, l)| p == l)
            .collect()
    };
    let hard = base
        .report
        .row("hard", "hard")
        .map(correct)
        .unwrap_or_default();
    let label = info.params.method.as_str();
    let rows = report
        .rows
        .into_iter()
        .map(|mut row| {
            row.mcnemar = McNemar::new(&hard, &correct(&row));
            row.prompt_set = format!("{label}/{}", row.prompt_set);
            row.paper = None;
            row
        })
        .collect();
    Ok((rows, texts, bank))
}

/// The linear-probe baseline (CoOp's and CLIP_benchmark's) under the fine-tuned run's
/// few-shot settings: L2-regularised logistic regression on the same train images, shots and
/// validation hold-out, C swept on the hold-out (never the test set), scored on the
/// evaluated images as row `linear-probe`.
pub(crate) fn probe_row(
    dir: &Path,
    info: &FinetunedInfo,
    base: &BaseEvaluation<'_>,
) -> Result<ResultRow> {
    let train = Embeddings::load(Path::new(&info.images))?;
    if train.key != info.images_key {
        return Err(StudyError::Input(format!(
            "--finetuned {}: its train images {} have changed since training",
            dir.display(),
            info.images
        ))
        .into());
    }
    let labels: Vec<usize> = train.label_indices();
    let classes = train.classes.len();
    let split = crate::finetune::split::split(
        &labels,
        classes,
        info.params.val_fraction,
        info.params.shots,
        info.params.seed,
    )?;
    let all = Features::new(train.data.clone(), train.dim, labels, classes);
    let fit_rows = all.select(&split.train);
    let probe = if split.validation.is_empty() {
        // Nothing to sweep on: the default C of scikit-learn.
        fit(&ProbeParams::default().c(1.0).check()?, &fit_rows, None)?
    } else {
        let validation = all.select(&split.validation);
        fit(
            &ProbeParams::default().check()?,
            &fit_rows,
            Some(&validation),
        )?
    };
    let predictions = probe.predict(&base.images.data)?;
    let labels = base.image_set.labels();
    let hard: Vec<bool> = base
        .report
        .row("hard", "hard")
        .map(|row| {
            row.predictions
                .iter()
                .zip(labels)
                .map(|(p, l)| p == l)
                .collect()
        })
        .unwrap_or_default();
    let bootstrap = (base.params.bootstrap_resamples() > 0).then(|| {
        Bootstrap::new(
            labels.len(),
            base.params.bootstrap_resamples(),
            base.params.seed(),
        )
    });
    Ok(result_row(
        "linear-probe".to_string(),
        format!("probe(C={})", short(probe.c)),
        predictions,
        labels,
        classes,
        &hard,
        bootstrap.as_ref().map(|b| (b, base.params.confidence())),
    ))
}

/// A C value short enough for a table cell: 0.001, 0.316, 1, 31.6, 1000.
fn short(c: f64) -> String {
    let text = if c >= 10.0 {
        format!("{c:.1}")
    } else {
        format!("{c:.3}")
    };
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Each planned text with its subject class: a hard text of class c (behind CoOp's context
/// just `c.`, as CoOp trained), or a soft text "x REL y" with subject x.
fn plan_items(plan: &TextPlan, config: &PromptConfig, replaces_template: bool) -> Vec<TextItem> {
    let mut items: Vec<Option<TextItem>> = vec![None; plan.len()];
    let classes = config.classes();
    for (class, entry) in classes.iter().enumerate() {
        for &column in plan.hard_columns(class) {
            items[column] = Some(TextItem {
                text: if replaces_template {
                    format!("{}.", entry.name())
                } else {
                    plan.texts()[column].clone()
                },
                subject: class,
            });
        }
    }
    for relation in 0..plan.relation_names().len() {
        for x in 0..classes.len() {
            for y in 0..classes.len() {
                if let Some(column) = plan.soft_column(relation, x, y) {
                    items[column].get_or_insert_with(|| TextItem {
                        text: plan.texts()[column].clone(),
                        subject: x,
                    });
                }
            }
        }
    }
    items
        .into_iter()
        .zip(plan.texts())
        .map(|(item, text)| {
            item.unwrap_or_else(|| panic!("planned text {text:?} is neither hard nor soft"))
        })
        .collect()
}
