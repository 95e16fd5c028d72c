//! The entry point: plan → look up text embeddings → one similarity matrix → every protocol
//! → metrics → report.

use rayon::prelude::*;

use crate::auxiliary::predictions::AlignedAux;
use crate::prompts::PromptConfig;
use crate::zeroshot::bank::TextBank;
use crate::zeroshot::error::ZeroShotError;
use crate::zeroshot::images::ImageSet;
use crate::zeroshot::metrics::{accuracy, Bootstrap, ConfusionMatrix, McNemar};
use crate::zeroshot::params::{ProtocolKind, ValidEvalParams};
use crate::zeroshot::plan::{plan_texts, TextPlan};
use crate::zeroshot::protocols::{predict_hard, predict_rows, Protocol, ProtocolInputs};
use crate::zeroshot::report::{
    is_cifar10, paper_value, AuxSummary, BootstrapSummary, EvalReport, ResultRow,
};
use crate::zeroshot::scores::{PromptSet, Scores};
use crate::zeroshot::similarity::{similarity_matrix, SimilarityMatrix};
use crate::zeroshot::sources::{oracle, self_ranking, AuxSource};

/// Evaluates every enabled protocol on every prompt set.
///
/// `bank` must hold every text of `plan_texts(params, config, aux)` (it may hold more);
/// the plan is recomputed here so it cannot drift from the auxiliary predictions.
pub fn evaluate(
    params: &ValidEvalParams,
    config: &PromptConfig,
    images: &ImageSet<'_>,
    aux: &AuxSource,
    bank: &TextBank,
) -> Result<EvalReport, ZeroShotError> {
    let classes = config.classes();
    let class_count: usize = classes.len();
    // Even `hard-top2` and the built-in sources need a top-2.
    if class_count < 2 {
        return Err(ZeroShotError::TooFewClasses(class_count));
    }
    for (index, &label) in images.labels().iter().enumerate() {
        if label >= class_count {
            return Err(ZeroShotError::LabelOutOfRange {
                index,
                id: images.ids()[index].clone(),
                label,
                class_count,
            });
        }
    }
    if bank.dim() != images.dim() {
        return Err(ZeroShotError::Shape {
            what: "text bank",
            message: format!("dimension {} but images have {}", bank.dim(), images.dim()),
        });
    }
    let plan: TextPlan = plan_texts(params, config, aux)?;
    let text_matrix: Vec<f32> = bank.gather(plan.texts())?;
    let similarities: SimilarityMatrix = similarity_matrix(
        images.embeddings(),
        images.inverse_norms(),
        &text_matrix,
        images.dim(),
    );
    let hard_scales: Vec<f32> = ensemble_scales(&plan, &text_matrix, images.dim());
    let scores: Scores<'_> = Scores::new(&similarities, &plan, &hard_scales);
    let labels: &[usize] = images.labels();

    let hard_predictions: Vec<usize> = predict_hard(&scores);
    let aligned: AlignedAux = match aux {
        AuxSource::Predictions(predictions) => predictions.align(classes, images.ids())?,
        AuxSource::SelfRanking => self_ranking(scores.hard_matrix(), class_count, params.self_k()),
        AuxSource::Oracle => oracle(
            scores.hard_matrix(),
            &ConfusionMatrix::new(class_count, &hard_predictions, labels),
            labels,
        ),
    };
    let mut vocabulary: Vec<(usize, usize)> = (0..aligned.len())
        .map(|image| aligned.top2(image))
        .collect();
    vocabulary.sort_unstable();
    vocabulary.dedup();
    let inputs: ProtocolInputs<'_> = ProtocolInputs {
        scores: &scores,
        aux: &aligned,
        vocabulary: &vocabulary,
    };

    let row_specs: Vec<(PromptSet, String, Protocol)> = row_specs(params, config, aligned.k());
    let protocol_rows: Vec<(PromptSet, Protocol)> = row_specs
        .iter()
        .map(|&(set, _, protocol)| (set, protocol))
        .collect();
    let predictions: Vec<Vec<usize>> = predict_rows(&protocol_rows, inputs);

    let bootstrap: Option<Bootstrap> = (params.bootstrap_resamples() > 0)
        .then(|| Bootstrap::new(images.len(), params.bootstrap_resamples(), params.seed()));
    let hard_correct: Vec<bool> = correctness(&hard_predictions, labels);
    let rows: Vec<ResultRow> = row_specs
        .into_par_iter()
        .zip(predictions)
        .map(|((_, set_name, protocol), predictions)| {
            let mut row = result_row(
                set_name,
                protocol.kind.name().to_string(),
                predictions,
                labels,
                class_count,
                &hard_correct,
                bootstrap.as_ref().map(|b| (b, params.confidence())),
            );
            row.paper = paper_value(config, &row.prompt_set, protocol.kind);
            row.k = protocol.k;
            row.lambda = protocol.lambda;
            row.reads_aux_order = protocol.kind.reads_aux_order();
            row
        })
        .collect();

    let top1: usize = labels
        .iter()
        .enumerate()
        .filter(|&(image, &label)| aligned.row(image)[0] == label)
        .count();
    let top2: usize = labels
        .iter()
        .enumerate()
        .filter(|&(image, &label)| aligned.row(image)[..2].contains(&label))
        .count();
    Ok(EvalReport {
        dataset_is_cifar10: is_cifar10(classes),
        classes: classes.names().map(str::to_string).collect(),
        images: images.len(),
        hard_templates: config
            .hard_templates()
            .iter()
            .map(|t| t.as_str().to_string())
            .collect(),
        relations: plan.relation_names().to_vec(),
        texts_planned: plan.len(),
        aux: AuxSummary {
            source: aux.name(),
            k: aligned.k(),
            top1_accuracy: top1 as f64 / labels.len() as f64,
            top2_accuracy: top2 as f64 / labels.len() as f64,
        },
        bootstrap: BootstrapSummary {
            resamples: params.bootstrap_resamples(),
            confidence: params.confidence(),
            seed: params.seed(),
        },
        rows,
        aux_top2: (0..aligned.len())
            .map(|image| aligned.top2(image))
            .collect(),
    })
}

/// A table row for any classifier's `predictions` of images with `labels`: accuracy, its
/// bootstrap interval (with `bootstrap` and its confidence), McNemar against the
/// `reference_correct` flags (the `hard` row's), per-class accuracy and confusion. Used for
/// the protocols here and for rows of other classifiers (the linear probe) in the same table.
pub fn result_row(
    prompt_set: String,
    protocol: String,
    predictions: Vec<usize>,
    labels: &[usize],
    class_count: usize,
    reference_correct: &[bool],
    bootstrap: Option<(&Bootstrap, f64)>,
) -> ResultRow {
    let correct: Vec<bool> = correctness(&predictions, labels);
    let interval =
        bootstrap.map(|(bootstrap, confidence)| bootstrap.interval(&correct, confidence));
    let confusion: ConfusionMatrix = ConfusionMatrix::new(class_count, &predictions, labels);
    ResultRow {
        paper: None,
        prompt_set,
        protocol,
        k: None,
        lambda: None,
        accuracy: accuracy(&predictions, labels),
        correct: correct.iter().filter(|&&flag| flag).count(),
        n: labels.len(),
        ci_low: interval.map(|(low, _)| low),
        ci_high: interval.map(|(_, high)| high),
        mcnemar: McNemar::new(reference_correct, &correct),
        reads_aux_order: false,
        per_class_accuracy: confusion.per_class_accuracy(),
        confusion: confusion.to_rows(),
        predictions,
    }
}

/// The rows to evaluate, in report order: the hard set, each relation, `relations-mean`
/// (only with two or more relations, since with one it repeats that relation).
fn row_specs(
    params: &ValidEvalParams,
    config: &PromptConfig,
    aux_k: usize,
) -> Vec<(PromptSet, String, Protocol)> {
    let mut specs: Vec<(PromptSet, String, Protocol)> = Vec::new();
    for &kind in params.protocols().iter().filter(|kind| kind.is_hard()) {
        specs.push((PromptSet::Hard, "hard".to_string(), Protocol::plain(kind)));
    }
    let relations = config.relations();
    let mut soft_sets: Vec<(PromptSet, String)> = relations
        .iter()
        .enumerate()
        .map(|(index, relation)| (PromptSet::Relation(index), relation.name().to_string()))
        .collect();
    if params.relations_mean() && relations.len() > 1 {
        soft_sets.push((PromptSet::RelationsMean, "relations-mean".to_string()));
    }
    for (set, name) in soft_sets {
        for &kind in params.protocols().iter().filter(|kind| !kind.is_hard()) {
            let variants: Vec<Protocol> = match kind {
                ProtocolKind::TopkMean => (2..=aux_k)
                    .map(|k| Protocol {
                        kind,
                        k: Some(k),
                        lambda: None,
                    })
                    .collect(),
                ProtocolKind::BlendAll | ProtocolKind::BlendPair => params
                    .blend_lambdas()
                    .iter()
                    .map(|&lambda| Protocol {
                        kind,
                        k: None,
                        lambda: Some(lambda),
                    })
                    .collect(),
                _ => vec![Protocol::plain(kind)],
            };
            specs.extend(
                variants
                    .into_iter()
                    .map(|protocol| (set, name.clone(), protocol)),
            );
        }
    }
    specs
}

/// `1 / ‖Σ_t e_t‖` over each class's hard template embeddings.
fn ensemble_scales(plan: &TextPlan, text_matrix: &[f32], dim: usize) -> Vec<f32> {
    (0..plan.class_count())
        .map(|class| {
            let mut sum: Vec<f64> = vec![0.0; dim];
            for &col in plan.hard_columns(class) {
                for (total, &value) in sum.iter_mut().zip(&text_matrix[col * dim..(col + 1) * dim])
                {
                    *total += f64::from(value);
                }
            }
            let norm: f64 = sum.iter().map(|v| v * v).sum::<f64>().sqrt();
            if norm > 0.0 {
                (1.0 / norm) as f32
            } else {
                0.0
            }
        })
        .collect()
}

fn correctness(predictions: &[usize], labels: &[usize]) -> Vec<bool> {
    predictions
        .iter()
        .zip(labels)
        .map(|(p, l)| p == l)
        .collect()
}
