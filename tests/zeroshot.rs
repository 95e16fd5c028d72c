//! Protocols on hand-built embeddings whose answers are known by construction, metrics
//! against reference values, planning, determinism, and the table writers.
//!
//! Construction: every planned text gets its own one-hot embedding dimension, so an image's
//! similarity to a text is the image's component on that dimension (over the image norm,
//! which is shared by all texts of the image). Setting components therefore sets scores.

use std::collections::HashMap;

use softtext::auxiliary::predictions::{AuxPredictions, AuxRow};
use softtext::prompts::PromptConfig;
use softtext::zeroshot::catalogue::catalogue;
use softtext::zeroshot::{
    evaluate, mcnemar_exact_p, plan_texts, to_csv, to_json, to_markdown, AuxSource, Bootstrap,
    ConfusionMatrix, EvalParam, EvalParams, EvalReport, ImageSet, ProtocolKind, TextBank, TextPlan,
    ValidEvalParams, ZeroShotError,
};

const CONFIG: &str = r#"
[[classes]]
name = "cat"
[[classes]]
name = "dog"
[[classes]]
name = "ship"
[[relations]]
name = "like"
"#;

/// One image: label, auxiliary top-k, and the scores to plant (text → similarity).
struct Image<'a> {
    label: usize,
    topk: &'a [usize],
    scores: &'a [(&'a str, f32)],
}

/// Builds one-hot text embeddings and images with the planted scores, then evaluates.
fn run(config_toml: &str, params: EvalParams, images: &[Image<'_>]) -> EvalReport {
    let config: PromptConfig = PromptConfig::from_toml_str(config_toml).unwrap();
    let params: ValidEvalParams = params.check().unwrap();
    let ids: Vec<String> = (0..images.len()).map(|i| format!("img{i}")).collect();
    let rows: Vec<AuxRow> = images
        .iter()
        .zip(&ids)
        .map(|(image, id)| AuxRow {
            id: id.clone(),
            topk: image.topk.to_vec(),
            scores: (0..image.topk.len())
                .map(|rank| 1.0 / (rank + 1) as f32)
                .collect(),
        })
        .collect();
    let aux: AuxSource = AuxSource::Predictions(AuxPredictions::new(rows, None).unwrap());
    let plan: TextPlan = plan_texts(&params, &config, &aux).unwrap();
    // One dimension per text plus one shared "background" dimension keeps rows non-zero.
    let dim: usize = plan.len() + 1;
    let mut bank_rows: Vec<f32> = vec![0.0; plan.len() * dim];
    for text in 0..plan.len() {
        bank_rows[text * dim + text] = 1.0;
    }
    let bank: TextBank = TextBank::new(plan.texts().to_vec(), bank_rows, dim).unwrap();
    let column: HashMap<&str, usize> = plan
        .texts()
        .iter()
        .enumerate()
        .map(|(index, text)| (text.as_str(), index))
        .collect();
    let mut embeddings: Vec<f32> = vec![0.0; images.len() * dim];
    for (index, image) in images.iter().enumerate() {
        embeddings[index * dim + dim - 1] = 1.0;
        for &(text, score) in image.scores {
            let col: usize = *column
                .get(text)
                .unwrap_or_else(|| panic!("{text:?} not planned"));
            embeddings[index * dim + col] = score;
        }
    }
    let labels: Vec<usize> = images.iter().map(|image| image.label).collect();
    let image_set: ImageSet<'_> = ImageSet::new(&embeddings, dim, &labels, &ids).unwrap();
    evaluate(&params, &config, &image_set, &aux, &bank).unwrap()
}

fn predictions(report: &EvalReport, set: &str, protocol: &str) -> Vec<usize> {
    report
        .row(set, protocol)
        .unwrap_or_else(|| panic!("no row {set} / {protocol}"))
        .predictions
        .clone()
}

fn params() -> EvalParams {
    EvalParams::default()
        .bootstrap_resamples(50)
        .blend_lambdas(&[0.0, 0.5, 1.0])
}

#[test]
fn hard_is_the_argmax_with_ties_to_the_lowest_class() {
    let report = run(
        CONFIG,
        params(),
        &[
            Image {
                label: 1,
                topk: &[0, 2],
                scores: &[("a photo of a dog.", 0.6), ("a photo of a cat.", 0.2)],
            },
            Image {
                label: 0,
                topk: &[1, 2],
                scores: &[("a photo of a dog.", 0.4), ("a photo of a ship.", 0.4)],
            },
        ],
    );
    assert_eq!(predictions(&report, "hard", "hard"), [1, 1]);
    // Ties: dog (1) and ship (2) tie; the lower index wins.
    assert_eq!(report.row("hard", "hard").unwrap().correct, 1);
}

#[test]
fn hard_top2_is_restricted_to_the_auxiliary_pair() {
    let report = run(
        CONFIG,
        params(),
        &[Image {
            label: 2,
            topk: &[2, 1],
            scores: &[
                ("a photo of a cat.", 0.9),
                ("a photo of a dog.", 0.2),
                ("a photo of a ship.", 0.3),
            ],
        }],
    );
    assert_eq!(predictions(&report, "hard", "hard"), [0]);
    assert_eq!(predictions(&report, "hard", "hard-top2"), [2]);
}

#[test]
fn pair_predicts_the_subject_of_the_better_order() {
    let report = run(
        CONFIG,
        params(),
        &[
            Image {
                label: 2,
                topk: &[1, 2],
                scores: &[("dog like a ship", 0.2), ("ship like a dog", 0.7)],
            },
            // A tie between the two orders goes to the lower class index.
            Image {
                label: 0,
                topk: &[2, 0],
                scores: &[("ship like a cat", 0.5), ("cat like a ship", 0.5)],
            },
        ],
    );
    assert_eq!(predictions(&report, "like", "pair"), [2, 0]);
}

#[test]
fn all_scores_every_class_with_its_partner() {
    // Aux (1, 2): p(cat) = dog, p(dog) = ship, p(ship) = dog.
    let report = run(
        CONFIG,
        params(),
        &[Image {
            label: 0,
            topk: &[1, 2],
            scores: &[
                ("cat like a dog", 0.8),
                ("dog like a ship", 0.5),
                ("ship like a dog", 0.6),
            ],
        }],
    );
    // cat is not in the auxiliary top-2 and still wins.
    assert_eq!(predictions(&report, "like", "all"), [0]);
}

#[test]
fn vocab_uses_the_split_vocabulary_in_top1_first_order() {
    let report = run(
        CONFIG,
        params(),
        &[
            Image {
                label: 2,
                topk: &[0, 1],
                scores: &[
                    ("ship like a dog", 0.9),
                    ("cat like a dog", 0.1),
                    ("dog like a cat", 0.95),
                ],
            },
            Image {
                label: 2,
                topk: &[2, 1],
                scores: &[("cat like a dog", 0.3)],
            },
        ],
    );
    // Vocabulary {cat like a dog, ship like a dog}; "dog like a cat" is not in it.
    assert_eq!(predictions(&report, "like", "vocab"), [2, 0]);
}

#[test]
fn topk_mean_averages_over_partners() {
    let report = run(
        CONFIG,
        params(),
        &[Image {
            label: 1,
            topk: &[0, 1, 2],
            scores: &[
                ("cat like a dog", 0.9),
                ("cat like a ship", 0.0),
                ("dog like a cat", 0.5),
                ("dog like a ship", 0.5),
                ("ship like a cat", 0.4),
                ("ship like a dog", 0.4),
            ],
        }],
    );
    // all (one partner): cat 0.9, dog 0.5, ship 0.4. Two partners: cat 0.45, dog 0.5, ship 0.4.
    assert_eq!(predictions(&report, "like", "all"), [0]);
    assert_eq!(predictions(&report, "like", "topk-mean(2)"), [1]);
    assert_eq!(predictions(&report, "like", "topk-mean(3)"), [1]);
}

#[test]
fn blends_interpolate_between_their_end_protocols() {
    let images = [Image {
        label: 1,
        topk: &[0, 1],
        scores: &[
            ("a photo of a cat.", 0.9),
            ("a photo of a dog.", 0.5),
            ("cat like a dog", 0.1),
            ("dog like a cat", 0.6),
            ("ship like a cat", 0.4),
        ],
    }];
    let report = run(CONFIG, params(), &images);
    // λ = 0 is hard (cat); λ = 1 is all/pair (dog); at 0.5: cat 0.5, dog 0.55, ship 0.2.
    assert_eq!(
        predictions(&report, "like", "blend-all(0)"),
        predictions(&report, "hard", "hard")
    );
    assert_eq!(
        predictions(&report, "like", "blend-all(1)"),
        predictions(&report, "like", "all")
    );
    assert_eq!(predictions(&report, "like", "blend-all(0.5)"), [1]);
    assert_eq!(predictions(&report, "like", "blend-pair(0)"), [0]);
    assert_eq!(predictions(&report, "like", "blend-pair(0.5)"), [1]);
    assert_eq!(
        predictions(&report, "like", "blend-pair(1)"),
        predictions(&report, "like", "pair")
    );
}

#[test]
fn relations_mean_averages_the_phrasings() {
    let config = format!("{CONFIG}[[relations]]\nname = \"look-like\"\n");
    let report = run(
        &config,
        params(),
        &[Image {
            label: 1,
            topk: &[0, 1],
            scores: &[
                ("cat like a dog", 0.6),
                ("dog like a cat", 0.5),
                ("cat look like a dog", 0.1),
                ("dog look like a cat", 0.5),
            ],
        }],
    );
    assert_eq!(predictions(&report, "like", "pair"), [0]);
    assert_eq!(predictions(&report, "look-like", "pair"), [1]);
    // Means: cat 0.35, dog 0.5.
    assert_eq!(predictions(&report, "relations-mean", "pair"), [1]);
}

#[test]
fn builtin_sources_follow_the_hard_scores() {
    let config: PromptConfig = PromptConfig::from_toml_str(CONFIG).unwrap();
    let params: ValidEvalParams = EvalParams::default()
        .self_k(3)
        .bootstrap_resamples(0)
        .check()
        .unwrap();
    // Images: class 0 twice (hard says 1 once), class 1 once, class 2 once (never confused).
    let hard = |scores: [f32; 3]| scores;
    let image_scores = [
        hard([0.1, 0.8, 0.3]),
        hard([0.9, 0.1, 0.2]),
        hard([0.1, 0.7, 0.2]),
        hard([0.1, 0.5, 0.9]),
    ];
    let labels: Vec<usize> = vec![0, 0, 1, 2];
    let ids: Vec<String> = (0..4).map(|i| format!("{i}")).collect();
    for source in [AuxSource::SelfRanking, AuxSource::Oracle] {
        let plan: TextPlan = plan_texts(&params, &config, &source).unwrap();
        assert_eq!(plan.len(), 3 + 6, "hard texts plus all ordered pairs");
        let dim: usize = plan.len() + 1;
        let mut bank_rows: Vec<f32> = vec![0.0; plan.len() * dim];
        (0..plan.len()).for_each(|text| bank_rows[text * dim + text] = 1.0);
        let bank = TextBank::new(plan.texts().to_vec(), bank_rows, dim).unwrap();
        let mut embeddings: Vec<f32> = vec![0.0; 4 * dim];
        for (image, scores) in image_scores.iter().enumerate() {
            embeddings[image * dim + dim - 1] = 1.0;
            for (class, &score) in scores.iter().enumerate() {
                embeddings[image * dim + plan.hard_columns(class)[0]] = score;
            }
        }
        let images = ImageSet::new(&embeddings, dim, &labels, &ids).unwrap();
        let report = evaluate(&params, &config, &images, &source, &bank).unwrap();
        match source {
            AuxSource::SelfRanking => {
                assert_eq!(report.aux.k, 3);
                // top-1 is hard's prediction: right for images 1, 2, 3.
                assert_eq!(report.aux.top1_accuracy, 0.75);
                // Image 0 (cat) ranks dog, ship, cat.
                assert_eq!(report.aux.top2_accuracy, 0.75);
                assert_eq!(report.aux_top2, [(1, 2), (0, 2), (1, 2), (2, 1)]);
            }
            _ => {
                assert_eq!(report.aux.source, "oracle");
                assert_eq!(report.aux.top1_accuracy, 1.0);
                assert_eq!(report.aux.top2_accuracy, 1.0);
                // Cat's most-confused class is dog (hard's one error), and hard still prefers
                // dog within the pair, so hard-top2 keeps that error.
                assert_eq!(report.row("hard", "hard-top2").unwrap().accuracy, 0.75);
                // Dog and ship are never confused: their partner is the wrong class with the
                // highest hard score over their images (ship for dog, dog for ship).
                assert_eq!(report.aux_top2, [(0, 1), (0, 1), (1, 2), (2, 1)]);
            }
        }
        // texts.json counts the pairs that were evaluated, not a reconstruction of them.
        let counted: Vec<(usize, usize, usize)> = catalogue(&config, &bank, &report)
            .aux_pairs
            .iter()
            .map(|p| (p.subject, p.object, p.images))
            .collect();
        let mut expected: Vec<(usize, usize, usize)> = Vec::new();
        for &(a, b) in &report.aux_top2 {
            match expected.iter_mut().find(|(x, y, _)| (*x, *y) == (a, b)) {
                Some(entry) => entry.2 += 1,
                None => expected.push((a, b, 1)),
            }
        }
        expected.sort_by_key(|&(a, b, n)| (std::cmp::Reverse(n), a, b));
        assert_eq!(counted, expected, "{source:?}");
    }
}

#[test]
fn mcnemar_matches_scipy() {
    // python -c "from scipy.stats import binomtest; print(binomtest(3, 15, 0.5).pvalue,
    //   binomtest(40, 100, 0.5).pvalue, binomtest(0, 7, 0.5).pvalue, binomtest(500, 1100, 0.5).pvalue)"
    let cases = [
        (3, 12, 0.03515625),
        (40, 60, 0.05688793364098089),
        (0, 7, 0.015625),
        (500, 600, 0.0028195449914364284),
    ];
    for (b, c, expected) in cases {
        let p: f64 = mcnemar_exact_p(b, c);
        assert!(
            (p - expected).abs() < 1e-12 * expected.max(1e-3),
            "({b}, {c}): {p} vs {expected}"
        );
        assert_eq!(mcnemar_exact_p(c, b), p);
    }
    assert_eq!(mcnemar_exact_p(0, 0), 1.0);
    assert_eq!(mcnemar_exact_p(5, 5), 1.0);
}

#[test]
fn bootstrap_is_deterministic_and_thread_count_free() {
    let correct: Vec<bool> = (0..500).map(|i| i % 7 != 0).collect();
    let interval = Bootstrap::new(500, 400, 11).interval(&correct, 0.95);
    assert_eq!(
        Bootstrap::new(500, 400, 11).interval(&correct, 0.95),
        interval
    );
    let single = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    assert_eq!(
        single.install(|| Bootstrap::new(500, 400, 11).interval(&correct, 0.95)),
        interval
    );
    assert_ne!(
        Bootstrap::new(500, 400, 12).interval(&correct, 0.95),
        interval
    );
    let accuracy: f64 = 1.0 - 72.0 / 500.0;
    assert!(
        interval.0 < accuracy && accuracy < interval.1,
        "{interval:?}"
    );
    // Counting the right or the wrong images gives the same resampled accuracies.
    let flipped: Vec<bool> = correct.iter().map(|flag| !flag).collect();
    let bootstrap = Bootstrap::new(500, 64, 3);
    for (a, b) in bootstrap
        .resampled_accuracies(&correct)
        .iter()
        .zip(bootstrap.resampled_accuracies(&flipped))
    {
        assert!((a + b - 1.0).abs() < 1e-12);
    }
}

#[test]
fn confusion_matrix_sums_to_the_image_count() {
    let labels = [0, 1, 2, 2, 1, 0, 0];
    let predictions = [0, 2, 2, 1, 1, 0, 1];
    let confusion = ConfusionMatrix::new(4, &predictions, &labels);
    assert_eq!(confusion.total(), 7);
    assert_eq!(confusion.row(0), &[2, 1, 0, 0]);
    let per_class = confusion.per_class_accuracy();
    assert_eq!(per_class[0], Some(2.0 / 3.0));
    assert_eq!(per_class[3], None);
}

#[test]
fn evaluation_does_not_depend_on_the_thread_count() {
    let images = [
        Image {
            label: 1,
            topk: &[0, 1, 2],
            scores: &[("a photo of a dog.", 0.6), ("dog like a cat", 0.3)],
        },
        Image {
            label: 2,
            topk: &[2, 1, 0],
            scores: &[("ship like a dog", 0.7)],
        },
        Image {
            label: 0,
            topk: &[1, 0, 2],
            scores: &[("cat like a dog", 0.7), ("a photo of a cat.", 0.2)],
        },
    ];
    let parallel = run(CONFIG, params(), &images);
    let single = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let sequential = single.install(|| run(CONFIG, params(), &images));
    assert_eq!(parallel, sequential);
}

#[test]
fn cifar10_paper_values_and_writers() {
    let classes = softtext::prompts::CIFAR10_CLASSES;
    let config: PromptConfig = PromptConfig::paper();
    let params: ValidEvalParams = EvalParams::default()
        .bootstrap_resamples(20)
        .check()
        .unwrap();
    let plan: TextPlan = plan_texts(&params, &config, &AuxSource::SelfRanking).unwrap();
    assert_eq!(plan.len(), 10 + 270);
    let dim: usize = 16;
    let bank_rows: Vec<f32> = (0..plan.len() * dim)
        .map(|i| ((i * 37 % 101) as f32) - 50.0)
        .collect();
    let bank = TextBank::new(plan.texts().to_vec(), bank_rows, dim).unwrap();
    let embeddings: Vec<f32> = (0..40 * dim)
        .map(|i| ((i * 53 % 97) as f32) - 48.0)
        .collect();
    let labels: Vec<usize> = (0..40).map(|i| i % 10).collect();
    let ids: Vec<String> = (0..40)
        .map(|i| format!("test/{},{i}.png", classes[i % 10]))
        .collect();
    let images = ImageSet::new(&embeddings, dim, &labels, &ids).unwrap();
    let report = evaluate(&params, &config, &images, &AuxSource::SelfRanking, &bank).unwrap();
    assert!(report.dataset_is_cifar10);
    assert_eq!(report.row("hard", "hard").unwrap().paper, Some(0.9619));
    assert_eq!(report.row("hard", "hard-top2").unwrap().paper, None);
    for protocol in ["pair", "all", "vocab"] {
        assert_eq!(
            report.row("look-like", protocol).unwrap().paper,
            Some(0.9519)
        );
        assert_eq!(report.row("like", protocol).unwrap().paper, Some(0.8556));
        assert_eq!(
            report.row("resemble", protocol).unwrap().paper,
            Some(0.9148)
        );
        assert_eq!(report.row("relations-mean", protocol).unwrap().paper, None);
    }
    assert_eq!(report.row("like", "blend-all(0.5)").unwrap().paper, None);
    let hard = report.row("hard", "hard").unwrap();
    assert_eq!(
        (hard.mcnemar.b, hard.mcnemar.c, hard.mcnemar.p_value),
        (0, 0, 1.0)
    );

    let markdown: String = to_markdown(&report);
    assert!(
        markdown.contains("| hard | hard |") && markdown.contains("| 96.19 |"),
        "{markdown}"
    );
    let csv: String = to_csv(&report);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 1 + report.rows.len());
    assert!(lines[0].starts_with("prompt_set,protocol,k,lambda,accuracy"));
    assert!(lines
        .iter()
        .any(|line| line.starts_with("look-like,blend-all,,0.5,")));
    let json: String = to_json(&report);
    // serde_json's default float parser may differ from the written value in the last bit.
    let reread: EvalReport = serde_json::from_str(&json).unwrap();
    assert_eq!(reread.rows.len(), report.rows.len());
    for (read, original) in reread.rows.iter().zip(&report.rows) {
        assert_eq!(read.protocol_label(), original.protocol_label());
        assert_eq!(read.confusion, original.confusion);
        assert!((read.accuracy - original.accuracy).abs() < 1e-12);
        assert_eq!(read.per_class_accuracy.len(), 10);
    }
    assert_eq!(reread.rows[0].confusion.iter().flatten().sum::<u64>(), 40);

    // Another class list: no paper column.
    let other = PromptConfig::from_toml_str(CONFIG).unwrap();
    assert!(!softtext::zeroshot::is_cifar10(other.classes()));
}

#[test]
fn plan_holds_only_what_the_protocols_need() {
    let config: PromptConfig = PromptConfig::from_toml_str(CONFIG).unwrap();
    let aux = AuxSource::Predictions(
        AuxPredictions::new(
            vec![AuxRow {
                id: "x".into(),
                topk: vec![0, 1],
                scores: vec![0.6, 0.3],
            }],
            None,
        )
        .unwrap(),
    );
    let pair_only = EvalParams::default()
        .protocols(&[ProtocolKind::Pair])
        .check()
        .unwrap();
    let plan = plan_texts(&pair_only, &config, &aux).unwrap();
    assert_eq!(
        plan.texts(),
        [
            "a photo of a cat.",
            "a photo of a dog.",
            "a photo of a ship.",
            "cat like a dog",
            "dog like a cat"
        ]
    );
    let all = EvalParams::default()
        .protocols(&[ProtocolKind::All])
        .check()
        .unwrap();
    let plan = plan_texts(&all, &config, &aux).unwrap();
    // p(cat) = dog, p(dog) = cat, p(ship) = cat.
    assert_eq!(
        plan.texts()[3..],
        ["cat like a dog", "dog like a cat", "ship like a cat"]
    );
    assert_eq!(plan.soft_column(0, 2, 0), Some(5));
    assert_eq!(plan.soft_column(0, 2, 1), None);
}

#[test]
fn bad_inputs_are_named() {
    let error = EvalParams::default()
        .blend_lambdas(&[0.5, 1.5])
        .check()
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "parameter blend_lambdas[1]: 1.5 is outside [0, 1]"
    );
    // The parameter is typed, so a caller maps it to its own option name without parsing.
    assert!(matches!(
        error,
        ZeroShotError::InvalidParam {
            param: EvalParam::BlendLambdas,
            index: Some(1),
            ..
        }
    ));
    let error = EvalParams::default().confidence(1.0).check().unwrap_err();
    assert_eq!(
        error.to_string(),
        "parameter confidence: 1 is outside (0, 1)"
    );
    let error = EvalParams::default().self_k(1).check().unwrap_err();
    assert!(matches!(
        error,
        ZeroShotError::InvalidParam {
            param: EvalParam::SelfK,
            index: None,
            ..
        }
    ));
    assert_eq!(EvalParam::SelfK.name(), "self_k");
    let ids = vec!["a".to_string(), "a".to_string()];
    let error = ImageSet::new(&[1.0, 1.0], 1, &[0, 0], &ids).unwrap_err();
    assert!(matches!(
        error,
        ZeroShotError::DuplicateImageId {
            first: 0,
            second: 1,
            ..
        }
    ));
    let ids = vec!["a".to_string(), "b".to_string()];
    let error = ImageSet::new(&[1.0, 0.0], 1, &[0, 0], &ids).unwrap_err();
    assert_eq!(error.to_string(), "image 1 (id \"b\"): embedding is zero");
    let bank = TextBank::new(vec!["t".to_string()], vec![1.0], 1).unwrap();
    assert_eq!(
        bank.gather(&["u"]).unwrap_err().to_string(),
        "text bank has no embedding for planned text \"u\""
    );
}
