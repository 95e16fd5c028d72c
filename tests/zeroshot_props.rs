//! Properties of the protocols on random problems: accuracy does not depend on the image
//! order, and the top-2-restricted protocols never beat the auxiliary top-2 accuracy.

use proptest::prelude::*;
use softtext::auxiliary::predictions::{AuxPredictions, AuxRow};
use softtext::prompts::PromptConfig;
use softtext::zeroshot::{
    evaluate, plan_texts, AuxSource, EvalParams, EvalReport, ImageSet, TextBank, ValidEvalParams,
};

const CONFIG: &str = r#"
[[classes]]
name = "cat"
[[classes]]
name = "dog"
[[classes]]
name = "ship"
[[classes]]
name = "frog"
[hard]
templates = ["a photo of a {}.", "a blurry photo of a {}."]
[[relations]]
name = "like"
[[relations]]
name = "resemble"
"#;
const CLASSES: usize = 4;
const DIM: usize = 6;

#[derive(Debug, Clone)]
struct Problem {
    embeddings: Vec<f32>,
    labels: Vec<usize>,
    topk: Vec<Vec<usize>>,
    text_seed: Vec<f32>,
    permutation: Vec<usize>,
}

fn problem() -> impl Strategy<Value = Problem> {
    (1usize..24).prop_flat_map(|count| {
        (
            prop::collection::vec(-1.0f32..1.0, count * DIM),
            prop::collection::vec(0..CLASSES, count),
            prop::collection::vec(
                Just((0..CLASSES).collect::<Vec<usize>>()).prop_shuffle(),
                count,
            ),
            prop::collection::vec(-1.0f32..1.0, 64 * DIM),
            Just((0..count).collect::<Vec<usize>>()).prop_shuffle(),
        )
            .prop_map(
                |(embeddings, labels, topk, text_seed, permutation)| Problem {
                    embeddings: embeddings
                        .chunks_exact(DIM)
                        // Keep rows away from zero.
                        .flat_map(|row| {
                            row.iter()
                                .enumerate()
                                .map(|(d, v)| if d == 0 { v + 3.0 } else { *v })
                                .collect::<Vec<_>>()
                        })
                        .collect(),
                    labels,
                    topk: topk.into_iter().map(|list| list[..3].to_vec()).collect(),
                    text_seed,
                    permutation,
                },
            )
    })
}

fn evaluate_in_order(problem: &Problem, order: &[usize]) -> EvalReport {
    let config: PromptConfig = PromptConfig::from_toml_str(CONFIG).unwrap();
    let params: ValidEvalParams = EvalParams::default()
        .bootstrap_resamples(0)
        .blend_lambdas(&[0.0, 0.5, 1.0])
        .check()
        .unwrap();
    let ids: Vec<String> = order.iter().map(|&i| format!("img{i}")).collect();
    let rows: Vec<AuxRow> = order
        .iter()
        .map(|&i| AuxRow {
            id: format!("img{i}"),
            topk: problem.topk[i].clone(),
            scores: vec![0.5, 0.3, 0.2],
        })
        .collect();
    let aux = AuxSource::Predictions(AuxPredictions::new(rows, None).unwrap());
    let plan = plan_texts(&params, &config, &aux).unwrap();
    let texts: Vec<f32> = (0..plan.len())
        .flat_map(|t| {
            let row = &problem.text_seed[(t % 64) * DIM..(t % 64 + 1) * DIM];
            // Distinct texts must not share embeddings by accident of the modulus.
            row.iter().enumerate().map(move |(d, v)| {
                v + if d == t % DIM {
                    1.0 + (t / 64) as f32
                } else {
                    0.0
                }
            })
        })
        .collect();
    let bank = TextBank::new(plan.texts().to_vec(), texts, DIM).unwrap();
    let embeddings: Vec<f32> = order
        .iter()
        .flat_map(|&i| problem.embeddings[i * DIM..(i + 1) * DIM].iter().copied())
        .collect();
    let labels: Vec<usize> = order.iter().map(|&i| problem.labels[i]).collect();
    let images = ImageSet::new(&embeddings, DIM, &labels, &ids).unwrap();
    evaluate(&params, &config, &images, &aux, &bank).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn accuracy_is_invariant_to_image_order(problem in problem()) {
        let identity: Vec<usize> = (0..problem.labels.len()).collect();
        let original = evaluate_in_order(&problem, &identity);
        let permuted = evaluate_in_order(&problem, &problem.permutation);
        prop_assert_eq!(original.rows.len(), permuted.rows.len());
        for (a, b) in original.rows.iter().zip(&permuted.rows) {
            prop_assert_eq!(a.protocol_label(), b.protocol_label());
            prop_assert_eq!(a.correct, b.correct, "{} / {}", a.prompt_set, a.protocol_label());
            prop_assert_eq!(&a.confusion, &b.confusion);
            prop_assert_eq!((a.mcnemar.b, a.mcnemar.c), (b.mcnemar.b, b.mcnemar.c));
        }
        prop_assert_eq!(original.aux.top2_accuracy, permuted.aux.top2_accuracy);
    }

    #[test]
    fn top2_protocols_never_beat_the_auxiliary_top2(problem in problem()) {
        let identity: Vec<usize> = (0..problem.labels.len()).collect();
        let report = evaluate_in_order(&problem, &identity);
        let ceiling: f64 = report.aux.top2_accuracy;
        for row in &report.rows {
            if ["hard-top2", "pair", "blend-pair"].contains(&row.protocol.as_str()) {
                prop_assert!(row.accuracy <= ceiling, "{} / {}: {} > {}", row.prompt_set, row.protocol_label(), row.accuracy, ceiling);
            }
        }
    }
}
