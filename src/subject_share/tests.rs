use super::*;
use crate::zeroshot::catalogue::TextEntry;
use proptest::prelude::*;
use rand::{Rng, SeedableRng};

fn names(count: usize) -> Vec<String> {
    (0..count).map(|c| format!("c{c}")).collect()
}

fn share_of(
    images: &[f32],
    dim: usize,
    labels: &[usize],
    classes: usize,
    texts: &[f32],
    soft: &[SoftText],
    k: usize,
) -> SubjectShareReport {
    let classes = names(classes);
    let rows = ImageRows {
        embeddings: images,
        dim,
        labels,
        classes: &classes,
    };
    let params = SubjectShareParams::default().k(k).check().unwrap();
    subject_share(&params, &rows, texts, soft).unwrap()
}

/// Three classes of four images each, in three dimensions: class c near axis c, each image
/// nudged along the next axis by a different small amount so no two are equal.
fn three_clusters() -> (Vec<f32>, Vec<usize>) {
    let mut images = Vec::new();
    let mut labels = Vec::new();
    for class in 0..3 {
        for i in 0..4 {
            let mut row = [0.0f32; 3];
            row[class] = 1.0;
            row[(class + 1) % 3] = 0.01 * (i + 1) as f32;
            images.extend(row);
            labels.push(class);
        }
    }
    (images, labels)
}

#[test]
fn a_text_among_x_gives_1_among_y_gives_0_and_between_them_one_half() {
    let (images, labels) = three_clusters();
    let soft = [
        SoftText::new("among x", 0, 1, "r"),
        SoftText::new("among y", 0, 1, "r"),
        SoftText::new("halfway", 0, 1, "r"),
    ];
    // Text rows: on axis 0, on axis 1, and on the diagonal of axes 0 and 1.
    let texts = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0];
    let report = share_of(&images, 3, &labels, 3, &texts, &soft, 4);
    let x = report.text("among x").unwrap();
    assert_eq!((x.share, x.share_x, x.share_y), (Some(1.0), 1.0, 0.0));
    let y = report.text("among y").unwrap();
    assert_eq!((y.share, y.share_x, y.share_y), (Some(0.0), 0.0, 1.0));
    assert_eq!((y.x.as_str(), y.y.as_str()), ("c0", "c1"));
    // On the diagonal, k = 8 takes the four x and the four y images (class 2 is orthogonal).
    let report = share_of(&images, 3, &labels, 3, &texts, &soft, 8);
    let half = report.text("halfway").unwrap();
    assert_eq!(
        (half.share, half.share_x, half.share_y),
        (Some(0.5), 0.5, 0.5)
    );
}

#[test]
fn neither_class_among_the_neighbours_is_undefined_and_counted_apart() {
    let (images, labels) = three_clusters();
    let soft = [
        SoftText::new("among z", 0, 1, "r"),
        SoftText::new("among x", 0, 1, "r"),
        SoftText::new("also among z", 1, 0, "s"),
    ];
    let texts = [0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0];
    let report = share_of(&images, 3, &labels, 3, &texts, &soft, 4);
    let z = report.text("among z").unwrap();
    assert_eq!((z.share, z.share_x, z.share_y), (None, 0.0, 0.0));
    let r = report.relation("r").unwrap();
    assert_eq!((r.count, r.defined, r.undefined), (2, 1, 1));
    assert_eq!(
        (r.mean, r.median, r.q1, r.q3),
        (Some(1.0), Some(1.0), Some(1.0), Some(1.0))
    );
    assert_eq!(r.histogram.iter().sum::<usize>(), 1);
    assert_eq!(
        r.lowest.len(),
        1,
        "undefined texts are not among the lowest"
    );
    let s = report.relation("s").unwrap();
    assert_eq!((s.count, s.defined, s.undefined), (1, 0, 1));
    assert_eq!((s.mean, s.median, s.q1, s.q3), (None, None, None, None));
    assert_eq!(s.histogram, [0; HISTOGRAM_BINS]);
}

#[test]
fn equal_cosines_are_taken_in_image_order() {
    // Six identical images: the first three of class 1, the last three of class 0.
    let images = [1.0f32, 0.0].repeat(6);
    let soft = [SoftText::new("t", 0, 1, "r")];
    let texts = [1.0, 0.0];
    let report = share_of(&images, 2, &[1, 1, 1, 0, 0, 0], 2, &texts, &soft, 3);
    assert_eq!(
        report.texts[0].share,
        Some(0.0),
        "images 0-2 (class y) win the tie"
    );
    let report = share_of(&images, 2, &[0, 0, 0, 1, 1, 1], 2, &texts, &soft, 3);
    assert_eq!(
        report.texts[0].share,
        Some(1.0),
        "images 0-2 (class x) win the tie"
    );
    // Three images orthogonal to the text tie at cosine 0; the fourth points away.
    let images = [0.0f32, 1.0, 0.0, -1.0, 0.0, 1.0, 1.0, 0.0];
    let texts = [-1.0, 0.0];
    let report = share_of(&images, 2, &[1, 0, 0, 1], 2, &texts, &soft, 1);
    assert_eq!(
        report.texts[0].share,
        Some(0.0),
        "image 0 before images 1 and 2"
    );
}

#[test]
fn k_beyond_the_image_count_takes_every_image() {
    let (images, labels) = three_clusters();
    let soft = [SoftText::new("t", 0, 1, "r")];
    let report = share_of(&images, 3, &labels, 3, &[1.0, 0.0, 0.0], &soft, 1000);
    assert_eq!(
        (report.k, report.k_requested, report.images),
        (12, 1000, 12)
    );
    let t = &report.texts[0];
    assert_eq!(
        (t.share, t.share_x, t.share_y),
        (Some(0.5), 4.0 / 12.0, 4.0 / 12.0)
    );
}

#[test]
fn statistics_histogram_and_lowest_follow_their_definitions() {
    let soft: Vec<SoftText> = (0..6)
        .map(|i| SoftText::new(format!("t{i}"), 0, 1, "r"))
        .collect();
    // Shares 1, 0, 0.3, 0.5, undefined, 0.
    let counts = [(1, 0), (0, 1), (3, 7), (1, 1), (0, 0), (0, 4)];
    let classes = names(2);
    let shares: Vec<TextShare> = soft
        .iter()
        .zip(&counts)
        .map(|(t, &(a, b))| text_share(t, &classes, a, b, 10))
        .collect();
    let params = SubjectShareParams::default().lowest(2).check().unwrap();
    let members: Vec<usize> = (0..6).collect();
    let r = relation_share(&params, "r", &members, &counts, &shares);
    assert_eq!((r.count, r.defined, r.undefined), (6, 5, 1));
    assert_eq!(r.histogram, [2, 0, 0, 1, 0, 1, 0, 0, 0, 1]);
    // Sorted: 0, 0, 0.3, 0.5, 1.
    assert_eq!(r.median, Some(0.3));
    assert_eq!((r.q1, r.q3), (Some(0.0), Some(0.5)));
    assert!((r.mean.unwrap() - 1.8 / 5.0).abs() < 1e-12);
    let lowest: Vec<&str> = r.lowest.iter().map(|t| t.text.as_str()).collect();
    assert_eq!(lowest, ["t1", "t5"], "equal shares in text order");
    assert_eq!(r.lowest[1].share_y, 0.4);

    assert_eq!(quantile(&[], 0.5), None);
    assert_eq!(quantile(&[0.0, 0.5], 0.5), Some(0.25));
    let q1 = quantile(&[0.1, 0.2, 0.3, 0.4], 0.25).unwrap();
    assert!((q1 - 0.175).abs() < 1e-12, "{q1}");
}

#[test]
fn relations_keep_their_order_and_every_text_is_listed_up_to_the_limit() {
    let (images, labels) = three_clusters();
    let soft = [
        SoftText::new("b1", 0, 1, "b"),
        SoftText::new("a1", 1, 0, "a"),
        SoftText::new("b2", 1, 2, "b"),
    ];
    let texts = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0];
    let classes = names(3);
    let rows = ImageRows {
        embeddings: &images,
        dim: 3,
        labels: &labels,
        classes: &classes,
    };
    let params = SubjectShareParams::default().k(4);
    let all = subject_share(&params.clone().check().unwrap(), &rows, &texts, &soft).unwrap();
    let order: Vec<&str> = all.relations.iter().map(|r| r.relation.as_str()).collect();
    assert_eq!(order, ["b", "a"]);
    assert!(all.all_texts_listed);
    assert_eq!(all.texts.len(), 3);
    assert!(
        all.named.is_empty(),
        "the paper's texts are not among these"
    );
    let capped = params
        .list_limit(2)
        .texts(&["b2", "missing", "b1"])
        .check()
        .unwrap();
    let some = subject_share(&capped, &rows, &texts, &soft).unwrap();
    assert!(!some.all_texts_listed);
    assert_eq!(some.named, ["b2", "b1"]);
    let listed: Vec<&str> = some.texts.iter().map(|t| t.text.as_str()).collect();
    assert_eq!(listed, ["b1", "b2"], "in input order");
    assert_eq!(some.relations, all.relations, "statistics cover every text");
    assert_eq!(some.count, 3);
}

#[test]
fn inputs_that_do_not_fit_are_refused_with_one_line() {
    let (images, labels) = three_clusters();
    let classes = names(3);
    let params = ValidSubjectShareParams::default();
    let soft = [SoftText::new("t", 0, 1, "r")];
    let rows = ImageRows {
        embeddings: &images,
        dim: 3,
        labels: &labels,
        classes: &classes,
    };
    let error = |rows: &ImageRows<'_>, texts: &[f32], soft: &[SoftText]| {
        let e = subject_share(&params, rows, texts, soft).unwrap_err();
        let message = e.to_string();
        assert!(!message.contains('\n'), "{message}");
        message
    };
    assert!(error(&rows, &[1.0, 0.0], &soft).contains("2 values for 1 texts of dimension 3"));
    assert!(error(&rows, &[0.0; 3], &soft).contains("text row 0: embedding is zero"));
    assert!(error(&rows, &[f32::NAN, 0.0, 0.0], &soft).contains("not finite"));
    let same = [SoftText::new("t", 2, 2, "r")];
    assert!(error(&rows, &[1.0, 0.0, 0.0], &same).contains("relates class 2 to itself"));
    let outside = [SoftText::new("t", 0, 3, "r")];
    assert!(error(&rows, &[1.0, 0.0, 0.0], &outside).contains("out of range for 3 classes"));
    let mut bad_labels = labels.clone();
    bad_labels[5] = 3;
    let bad = ImageRows {
        labels: &bad_labels,
        ..rows
    };
    assert!(error(&bad, &[1.0, 0.0, 0.0], &soft).contains("image 5: label 3 out of range"));
    let mut zero = images.clone();
    zero[3..6].fill(0.0);
    let bad = ImageRows {
        embeddings: &zero,
        ..rows
    };
    assert!(error(&bad, &[1.0, 0.0, 0.0], &soft).contains("image row 1: embedding is zero"));
    let bad = ImageRows {
        embeddings: &images[..6],
        ..rows
    };
    assert!(error(&bad, &[1.0, 0.0, 0.0], &soft).contains("image embeddings"));
    let none = ImageRows {
        embeddings: &[],
        labels: &[],
        ..rows
    };
    assert_eq!(
        error(&none, &[1.0, 0.0, 0.0], &soft),
        "subject share: the image set is empty"
    );
    // No soft texts: an empty report, not an error.
    let empty = subject_share(&params, &rows, &[], &[]).unwrap();
    assert!(empty.relations.is_empty() && empty.texts.is_empty());
}

fn random_rows(rng: &mut impl Rng, rows: usize, dim: usize) -> Vec<f32> {
    (0..rows * dim)
        .map(|_| rng.random::<f32>() * 2.0 - 1.0)
        .collect()
}

/// The k nearest by cosine in f64, by a full sort: the definition, slowly.
fn naive_counts(
    images: &[f32],
    labels: &[usize],
    texts: &[f32],
    soft: &[SoftText],
    dim: usize,
    k: usize,
) -> Vec<(u32, u32)> {
    let norm = |row: &[f32]| {
        row.iter()
            .map(|&v| f64::from(v).powi(2))
            .sum::<f64>()
            .sqrt()
    };
    soft.iter()
        .zip(texts.chunks_exact(dim))
        .map(|(text, t)| {
            let mut ranked: Vec<(f64, usize)> = images
                .chunks_exact(dim)
                .enumerate()
                .map(|(i, image)| {
                    let dot: f64 = image
                        .iter()
                        .zip(t)
                        .map(|(&a, &b)| f64::from(a) * f64::from(b))
                        .sum();
                    (dot / norm(image) / norm(t), i)
                })
                .collect();
            ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            ranked[..k].iter().fold((0, 0), |(a, b), &(_, i)| {
                (
                    a + u32::from(labels[i] == text.x),
                    b + u32::from(labels[i] == text.y),
                )
            })
        })
        .collect()
}

#[test]
fn chunked_selection_matches_the_definition_whatever_the_chunk() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let (count, dim, classes, text_count, k) = (300, 24, 6, 150, 17);
    let images = random_rows(&mut rng, count, dim);
    let labels: Vec<usize> = (0..count).map(|i| i % classes).collect();
    let texts = random_rows(&mut rng, text_count, dim);
    let soft: Vec<SoftText> = (0..text_count)
        .map(|i| {
            SoftText::new(
                format!("t{i}"),
                i % classes,
                (i / classes + i + 1) % classes,
                "r",
            )
        })
        .filter(|t| t.x != t.y)
        .collect();
    let texts: Vec<f32> = soft
        .iter()
        .flat_map(|t| {
            let i: usize = t.text[1..].parse().unwrap();
            texts[i * dim..(i + 1) * dim].to_vec()
        })
        .collect();
    let class_names = names(classes);
    let rows = ImageRows {
        embeddings: &images,
        dim,
        labels: &labels,
        classes: &class_names,
    };
    let scales = check_inputs(&rows, &texts, &soft).unwrap();
    let whole = neighbour_counts(&rows, &scales, &texts, &soft, k, soft.len());
    for chunk in [1, 7, 64] {
        assert_eq!(
            neighbour_counts(&rows, &scales, &texts, &soft, k, chunk),
            whole,
            "chunk {chunk}"
        );
    }
    assert_eq!(whole, naive_counts(&images, &labels, &texts, &soft, dim, k));
}

#[test]
fn soft_texts_come_from_the_catalogue_in_its_order() {
    let entry = |text: &str, set: &str, subject, object| TextEntry {
        text: text.into(),
        set: set.into(),
        subject,
        object,
    };
    let catalogue = TextCatalogue {
        classes: names(2),
        texts: vec![
            entry("a photo of a c0.", "hard", 0, None),
            entry("c0 like a c1", "like", 0, Some(1)),
            entry("c1 like a c0", "like", 1, Some(0)),
        ],
        aux_pairs: Vec::new(),
    };
    assert_eq!(
        SoftText::from_catalogue(&catalogue),
        [
            SoftText::new("c0 like a c1", 0, 1, "like"),
            SoftText::new("c1 like a c0", 1, 0, "like")
        ]
    );
}

/// dim, images `[N, dim]`, labels, texts `[T, dim]`, (x, y) per text, k.
type SmallCase = (
    usize,
    Vec<f32>,
    Vec<usize>,
    Vec<f32>,
    Vec<(usize, usize)>,
    usize,
);

/// Small integer embeddings (many exact ties) with up to four classes.
fn small_case() -> impl Strategy<Value = SmallCase> {
    (1usize..5, 2usize..5, 1usize..25, 1usize..8, 1usize..30).prop_flat_map(
        |(dim, classes, count, texts, k)| {
            let value = (-2i8..=2).prop_map(f32::from);
            (
                Just(dim),
                proptest::collection::vec(value.clone(), count * dim),
                proptest::collection::vec(0..classes, count),
                proptest::collection::vec(value, texts * dim),
                proptest::collection::vec((0..classes, 1..classes), texts).prop_map(move |pairs| {
                    pairs
                        .into_iter()
                        .map(|(x, step)| (x, (x + step) % classes))
                        .collect()
                }),
                Just(k),
            )
        },
    )
}

/// Zero rows have no direction; give them one.
fn no_zero_rows(rows: &mut [f32], dim: usize) {
    for row in rows.chunks_exact_mut(dim) {
        if row.iter().all(|&v| v == 0.0) {
            row[0] = 1.0;
        }
    }
}

proptest! {
    #[test]
    fn shares_lie_in_0_1_and_swapping_x_and_y_mirrors_them(
        (dim, mut images, labels, mut texts, pairs, k) in small_case()
    ) {
        no_zero_rows(&mut images, dim);
        no_zero_rows(&mut texts, dim);
        let classes = labels.iter().chain(pairs.iter().flat_map(|(x, y)| [x, y])).max().unwrap() + 1;
        let soft: Vec<SoftText> = pairs.iter().enumerate()
            .map(|(i, &(x, y))| SoftText::new(format!("t{i}"), x, y, if i % 2 == 0 { "even" } else { "odd" }))
            .collect();
        let swapped: Vec<SoftText> = soft.iter()
            .map(|t| SoftText::new(&t.text, t.y, t.x, &t.relation))
            .collect();
        let report = share_of(&images, dim, &labels, classes, &texts, &soft, k);
        let mirror = share_of(&images, dim, &labels, classes, &texts, &swapped, k);
        prop_assert_eq!(report.k, k.min(labels.len()));
        for (t, m) in report.texts.iter().zip(&mirror.texts) {
            prop_assert!(t.share_x + t.share_y <= 1.0 + 1e-12);
            prop_assert_eq!((t.share_x, t.share_y), (m.share_y, m.share_x));
            match (t.share, m.share) {
                (Some(a), Some(b)) => {
                    prop_assert!((0.0..=1.0).contains(&a));
                    prop_assert!((a + b - 1.0).abs() < 1e-12);
                }
                (None, None) => prop_assert_eq!((t.share_x, t.share_y), (0.0, 0.0)),
                other => prop_assert!(false, "defined on one side only: {:?}", other),
            }
        }
        for r in &report.relations {
            prop_assert_eq!(r.defined + r.undefined, r.count);
            prop_assert_eq!(r.histogram.iter().sum::<usize>(), r.defined);
            if let (Some(q1), Some(median), Some(q3)) = (r.q1, r.median, r.q3) {
                prop_assert!(0.0 <= q1 && q1 <= median && median <= q3 && q3 <= 1.0);
            }
        }
        prop_assert_eq!(report.relations.iter().map(|r| r.count).sum::<usize>(), soft.len());
    }
}

/// The analysis at full size: 10,000 images × 1,800 texts × 512 dimensions, random unit
/// vectors over 100 classes. Build optimised for a meaningful time:
/// `CARGO_PROFILE_DEV_OPT_LEVEL=3 cargo test --lib subject_share::tests::full_size -- --ignored --nocapture`.
#[test]
#[ignore = "a timing: 10,000 images x 1,800 texts x 512 dims"]
fn full_size_timing() {
    let (count, text_count, dim, classes) = (10_000, 1_800, 512, 100);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let unit = |rng: &mut rand_chacha::ChaCha8Rng, rows: usize| {
        let mut values = random_rows(rng, rows, dim);
        for row in values.chunks_exact_mut(dim) {
            let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
            row.iter_mut().for_each(|v| *v /= norm);
        }
        values
    };
    let images = unit(&mut rng, count);
    let texts = unit(&mut rng, text_count);
    let labels: Vec<usize> = (0..count).map(|i| i % classes).collect();
    let soft: Vec<SoftText> = (0..text_count)
        .map(|i| {
            SoftText::new(
                format!("t{i}"),
                i % classes,
                (i + 1 + i / classes) % classes,
                ["like", "look-like", "resemble"][i % 3],
            )
        })
        .map(|t| {
            if t.x == t.y {
                SoftText {
                    y: (t.y + 1) % classes,
                    ..t
                }
            } else {
                t
            }
        })
        .collect();
    let class_names = names(classes);
    let rows = ImageRows {
        embeddings: &images,
        dim,
        labels: &labels,
        classes: &class_names,
    };
    let params = ValidSubjectShareParams::default();
    let started = std::time::Instant::now();
    let report = subject_share(&params, &rows, &texts, &soft).unwrap();
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "subject share: {count} images x {text_count} texts x {dim} dims, k = {}: {seconds:.3} s on {} threads",
        report.k,
        rayon::current_num_threads()
    );
    assert_eq!(report.count, text_count);
}
