//! Fine-tuned rows of an evaluation: every prompt set and protocol again with a fine-tuned
//! text side (`eval --finetuned DIR`), labelled `METHOD/SET` and tested against the base
//! `hard` row.

use std::path::Path;

use super::error::StudyError;
use crate::clip::DeviceKind;
use crate::embeddings::{Embeddings, Kind};
use crate::error::Result;
use crate::finetune::{FinetunedText, TextItem};
use crate::observe::Observer;
use crate::prompts::PromptConfig;
use crate::zeroshot::{
    evaluate as evaluate_protocols, AuxSource, EvalReport, ImageSet, McNemar, ResultRow, TextBank,
    TextPlan, ValidEvalParams,
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

/// The fine-tuned text embeddings of the planned texts (cached in `cache`) and the rows
/// they give, relabelled `METHOD/SET`, with McNemar against the base `hard` row.
pub(crate) fn finetuned_rows(
    dir: &Path,
    base: &BaseEvaluation<'_>,
    cache: &Path,
    observer: &dyn Observer,
) -> Result<(Vec<ResultRow>, Embeddings)> {
    let info = crate::finetune::read_info(dir)?;
    if let Some(hash) = base.images.info.get("checkpoint_hash") {
        if *hash != info.base_fingerprint {
            return Err(StudyError::Input(format!(
                "--finetuned {}: fine-tuned from {}, another checkpoint than the one that encoded the images",
                dir.display(),
                info.base_clip
            ))
            .into());
        }
    }
    let names: Vec<&str> = base.config.classes().names().collect();
    if info
        .classes
        .iter()
        .map(String::as_str)
        .ne(names.iter().copied())
    {
        return Err(StudyError::Input(format!(
            "--finetuned {}: trained on classes [{}], the images have [{}]",
            dir.display(),
            info.classes.join(", "),
            names.join(", ")
        ))
        .into());
    }
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
    Ok((rows, texts))
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
