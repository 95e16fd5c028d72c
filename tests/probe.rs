//! The linear probe against scikit-learn (`fixtures/finetune/probe-reference.json`, written by
//! `tools/probe_reference.py`), its C sweep, and its input validation.

use std::path::Path;
use std::time::Instant;

use serde::Deserialize;
use softtext::embeddings::Embeddings;
use softtext::probe::{fit, Features, LinearProbe, ProbeError, ProbeParams};

#[derive(Deserialize)]
struct Reference {
    train_rows: Vec<usize>,
    val_rows: Vec<usize>,
    dim: usize,
    fits: Vec<ReferenceFit>,
}

#[derive(Deserialize)]
struct ReferenceFit {
    c: f64,
    coef: Vec<Vec<f64>>,
    intercept: Vec<f64>,
    val_proba: Vec<Vec<f64>>,
    val_pred: Vec<usize>,
    val_accuracy: f64,
    objective: f64,
    grad_max: f64,
}

fn reference() -> Reference {
    let text = std::fs::read_to_string("fixtures/finetune/probe-reference.json").unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The fixture's 300 rows and the reference's split of them.
fn split(reference: &Reference) -> (Features, Features) {
    let file =
        Embeddings::load(Path::new("fixtures/finetune/train-embeddings.safetensors")).unwrap();
    let labels = file
        .labels
        .as_ref()
        .unwrap()
        .iter()
        .map(|&l| l as usize)
        .collect();
    let all = Features::new(file.data.clone(), file.dim, labels, file.classes.len());
    assert_eq!(all.dim, reference.dim);
    (
        all.select(&reference.train_rows),
        all.select(&reference.val_rows),
    )
}

/// Tight enough that softtext sits at the optimum, so what is measured is how far
/// scikit-learn's own stopping point is from it.
fn tight() -> ProbeParams {
    ProbeParams::new().tol(1e-10).max_iter(10_000)
}

/// Largest absolute difference, and largest difference relative to the reference value's
/// magnitude (for entries above 1e-3, where a relative figure means something).
fn worst(ours: &[f64], theirs: &[f64]) -> (f64, f64) {
    assert_eq!(ours.len(), theirs.len());
    ours.iter()
        .zip(theirs)
        .fold((0.0f64, 0.0f64), |(abs, rel), (a, b)| {
            let d = (a - b).abs();
            let r = if b.abs() > 1e-3 { d / b.abs() } else { 0.0 };
            (abs.max(d), rel.max(r))
        })
}

/// scikit-learn's objective `C * sum_i logloss_i + |W|^2 / 2` at `probe`'s solution, and the
/// largest entry of its gradient (computed here, independently of the crate's solver).
fn objective(probe: &LinearProbe, train: &Features) -> (f64, f64) {
    let (k, d) = (probe.classes, probe.dim);
    let mut value = 0.5 * probe.weights.iter().map(|w| w * w).sum::<f64>();
    let mut grad_w: Vec<f64> = probe.weights.clone();
    let mut grad_b = vec![0.0; k];
    for (row, &label) in train.values.chunks(d).zip(&train.labels) {
        let h: Vec<f64> = (0..k)
            .map(|j| {
                probe.intercept[j]
                    + (0..d)
                        .map(|t| probe.weights[j * d + t] * f64::from(row[t]))
                        .sum::<f64>()
            })
            .collect();
        let max = h.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let lse = max + h.iter().map(|v| (v - max).exp()).sum::<f64>().ln();
        value += probe.c * (lse - h[label]);
        for j in 0..k {
            let residual = (h[j] - lse).exp() - f64::from(u8::from(j == label));
            grad_b[j] += probe.c * residual;
            for t in 0..d {
                grad_w[j * d + t] += probe.c * residual * f64::from(row[t]);
            }
        }
    }
    let grad_max = grad_w
        .iter()
        .chain(&grad_b)
        .fold(0.0f64, |m, g| m.max(g.abs()));
    (value, grad_max)
}

#[test]
fn matches_scikit_learn_at_each_c() {
    let reference = reference();
    let (train, val) = split(&reference);
    for expected in &reference.fits {
        let params = tight().c(expected.c).check().unwrap();
        let start = Instant::now();
        let probe = fit(&params, &train, None).unwrap();
        let elapsed = start.elapsed();
        assert!(
            probe.converged,
            "C = {}: {} iterations",
            expected.c, probe.iterations
        );
        assert_eq!(probe.c, expected.c);
        assert_eq!(probe.val_accuracy, None);
        assert_eq!(probe.fit_rows, 240);

        let proba = probe.predict_proba(&val.values).unwrap();
        let expected_proba: Vec<f64> = expected.val_proba.concat();
        let (proba_abs, proba_rel) = worst(&proba, &expected_proba);
        let coef: Vec<f64> = expected.coef.concat();
        let (coef_abs, coef_rel) = worst(&probe.weights, &coef);
        let (intercept_abs, _) = worst(&probe.intercept, &expected.intercept);
        eprintln!(
            "C = {}: {} iterations in {:.1} ms; probabilities: worst abs {proba_abs:.1e}, rel \
             {proba_rel:.1e}; coef: worst abs {coef_abs:.1e}, rel {coef_rel:.1e} (largest |coef| \
             {:.2}); intercept: worst abs {intercept_abs:.1e}",
            expected.c,
            probe.iterations,
            elapsed.as_secs_f64() * 1e3,
            coef.iter().fold(0.0f64, |m, v| m.max(v.abs())),
        );
        // scikit-learn stops on its relative cost decrease (scipy's ftol, 64 epsilon) with
        // gradient entries up to 1.5e-5 on its C-scaled objective (`grad_max` in the
        // reference), so its solution, not the objective, bounds the agreement.
        assert!(
            proba_abs < 1e-6,
            "C = {}: probabilities differ by {proba_abs:e}",
            expected.c
        );
        assert!(
            coef_abs < 2e-5,
            "C = {}: coefficients differ by {coef_abs:e}",
            expected.c
        );
        assert!(
            intercept_abs < 3e-5,
            "C = {}: intercepts differ by {intercept_abs:e}",
            expected.c
        );

        // The difference is scikit-learn's: softtext's solution is the better minimiser.
        let (value, grad_max) = objective(&probe, &train);
        eprintln!(
            "  objective: softtext {value:.12}, scikit-learn {:.12}; largest gradient entry: \
             softtext {grad_max:.1e}, scikit-learn {:.1e}",
            expected.objective, expected.grad_max
        );
        assert!(value <= expected.objective + 1e-12 * expected.objective.abs());
        // Both stop once an iteration's decrease of the cost is at rounding level (argmin's
        // threshold is one epsilon, scipy's 64), where gradient entries of ~1e-5 remain on
        // this scale at C = 10. Driving softtext's further (no cost threshold) moved it no
        // closer to scikit-learn: the remaining difference is scikit-learn's stopping point.
        assert!(
            grad_max < 1e-4,
            "C = {}: gradient entry {grad_max:e}",
            expected.c
        );

        assert_eq!(
            probe.predict(&val.values).unwrap(),
            expected.val_pred,
            "C = {}",
            expected.c
        );
        assert_eq!(
            probe.accuracy(&val).unwrap(),
            expected.val_accuracy,
            "C = {}",
            expected.c
        );
    }
}

#[test]
fn sweep_chooses_the_best_validation_accuracy() {
    let reference = reference();
    let (train, val) = split(&reference);
    let grid: Vec<f64> = reference.fits.iter().map(|f| f.c).collect();
    let params = tight().c_grid(grid.clone()).refit(false).check().unwrap();
    let probe = fit(&params, &train, Some(&val)).unwrap();

    // Warm-started along the grid, each C still lands on scikit-learn's validation accuracy.
    let swept: Vec<(f64, f64)> = probe.sweep.iter().map(|p| (p.c, p.val_accuracy)).collect();
    let expected: Vec<(f64, f64)> = reference
        .fits
        .iter()
        .map(|f| (f.c, f.val_accuracy))
        .collect();
    assert_eq!(swept, expected);
    let best = reference.fits.iter().fold(&reference.fits[0], |best, f| {
        if f.val_accuracy > best.val_accuracy {
            f
        } else {
            best
        }
    });
    assert_eq!(probe.c, best.c);
    assert_eq!(probe.val_accuracy, Some(best.val_accuracy));
    assert!(!probe.refit);
    assert_eq!(probe.fit_rows, train.len());
    let (coef_abs, _) = worst(&probe.weights, &best.coef.concat());
    assert!(coef_abs < 2e-5, "{coef_abs:e}");

    // Refit on train + val: the same choice, from all 300 rows.
    let params = tight().c_grid(grid).check().unwrap();
    let refit = fit(&params, &train, Some(&val)).unwrap();
    assert_eq!((refit.c, refit.val_accuracy), (probe.c, probe.val_accuracy));
    assert!(refit.refit);
    assert_eq!(refit.fit_rows, train.len() + val.len());
    assert_ne!(refit.weights, probe.weights);
}

#[test]
fn default_sweep_on_the_fixture() {
    let reference = reference();
    let (train, val) = split(&reference);
    let params = ProbeParams::default().check().unwrap();
    let start = Instant::now();
    let probe = fit(&params, &train, Some(&val)).unwrap();
    let elapsed = start.elapsed();
    let iterations: u64 = probe.sweep.iter().map(|p| p.iterations).sum::<u64>() + probe.iterations;
    eprintln!(
        "default sweep (25 C + refit) on 240 + 60 rows x 24: {:.0} ms, {iterations} L-BFGS \
         iterations; chose C = {:.4} (val accuracy {:.3})",
        elapsed.as_secs_f64() * 1e3,
        probe.c,
        probe.val_accuracy.unwrap()
    );
    assert_eq!(probe.sweep.len(), 25);
    assert!(probe.sweep.iter().all(|p| p.converged));
    let top = probe
        .sweep
        .iter()
        .map(|p| p.val_accuracy)
        .fold(0.0, f64::max);
    let first_top = probe.sweep.iter().find(|p| p.val_accuracy == top).unwrap();
    assert_eq!(probe.c, first_top.c);
}

/// Four well-separated clusters: every C classifies val perfectly, so the tie goes to the
/// smallest C.
#[test]
fn ties_go_to_the_smaller_c() {
    let corners = [[1.0f32, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]];
    let rows = |jitter: f32| {
        let mut values = Vec::new();
        let mut labels = Vec::new();
        for (class, corner) in corners.iter().enumerate() {
            for i in 0..5 {
                let d = jitter * (i as f32 - 2.0);
                values.extend_from_slice(&[corner[0] + d, corner[1] - d]);
                labels.push(class);
            }
        }
        Features::new(values, 2, labels, 4)
    };
    let (train, val) = (rows(0.05), rows(0.03));
    let params = ProbeParams::new()
        .c_grid(vec![10.0, 0.01, 1.0])
        .check()
        .unwrap();
    let probe = fit(&params, &train, Some(&val)).unwrap();
    assert!(
        probe.sweep.iter().all(|p| p.val_accuracy == 1.0),
        "{:?}",
        probe.sweep
    );
    assert_eq!(
        probe.sweep.iter().map(|p| p.c).collect::<Vec<_>>(),
        vec![0.01, 1.0, 10.0]
    );
    assert_eq!(probe.c, 0.01);
    // Stronger regularisation, smaller weights.
    let weakest = fit(&ProbeParams::new().c(10.0).check().unwrap(), &train, None).unwrap();
    let norm = |p: &LinearProbe| p.weights.iter().map(|w| w * w).sum::<f64>();
    assert!(norm(&probe) < norm(&weakest));
    let intercept_sum: f64 = probe.intercept.iter().sum();
    assert!(intercept_sum.abs() < 1e-12, "{intercept_sum}");
}

#[test]
fn saved_probe_predicts_the_same() {
    let reference = reference();
    let (train, val) = split(&reference);
    let probe = fit(&ProbeParams::new().c(1.0).check().unwrap(), &train, None).unwrap();
    let json = serde_json::to_string_pretty(&probe).unwrap();
    let loaded: LinearProbe = serde_json::from_str(&json).unwrap();
    // serde_json without its `float_roundtrip` feature (not enabled in this crate) parses a
    // float to within an ulp of what it wrote, so compare to that precision.
    assert_eq!(
        (loaded.dim, loaded.classes, loaded.c),
        (probe.dim, probe.classes, probe.c)
    );
    let (weights, _) = worst(&loaded.weights, &probe.weights);
    let (intercept, _) = worst(&loaded.intercept, &probe.intercept);
    assert!(
        weights < 1e-15 && intercept < 1e-15,
        "{weights:e} {intercept:e}"
    );
    let proba = probe.predict_proba(&val.values).unwrap();
    let (reloaded, _) = worst(&loaded.predict_proba(&val.values).unwrap(), &proba);
    assert!(reloaded < 1e-14, "{reloaded:e}");
    assert_eq!(
        loaded.predict(&val.values).unwrap(),
        probe.predict(&val.values).unwrap()
    );
    for row in proba.chunks(probe.classes) {
        assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }
    assert!(probe.predict(&[]).unwrap().is_empty());
}

/// The error of `fit` (or of `check`, for parameters), as its one-line message.
fn message(result: Result<LinearProbe, ProbeError>) -> String {
    let error = result.unwrap_err();
    let text = error.to_string();
    assert!(!text.contains('\n'), "{text}");
    // The crate error renders it unchanged.
    assert_eq!(softtext::Error::from(error).to_string(), text);
    text
}

#[test]
fn bad_input_is_a_typed_error_naming_the_field() {
    let reference = reference();
    let (train, val) = split(&reference);
    let one = || ProbeParams::new().c(1.0).check().unwrap();
    let fit_with = |train: &Features, val: Option<&Features>| message(fit(&one(), train, val));

    let check = |params: ProbeParams| message(params.check().map(|_| unreachable!()));
    assert_eq!(
        check(ProbeParams::new().c(0.0)),
        "probe parameter c_grid[0]: must be finite and > 0, got 0"
    );
    assert_eq!(
        check(ProbeParams::new().c_grid(vec![1.0, -1.0])),
        "probe parameter c_grid[1]: must be finite and > 0, got -1"
    );
    assert_eq!(
        check(ProbeParams::new().c_grid(vec![])),
        "probe parameter c_grid: must hold at least one C"
    );
    assert!(matches!(
        ProbeParams::new().c(-1.0).check(),
        Err(ProbeError::InvalidParam {
            param: softtext::probe::ProbeParam::CGrid,
            index: Some(0),
            ..
        })
    ));

    let mut bad = train.clone();
    bad.labels[3] = 10;
    assert_eq!(
        fit_with(&bad, None),
        "train.labels[3]: 10 is not below the class count 10"
    );

    let mut bad = train.clone();
    bad.values[5 * 24 + 7] = f32::NAN;
    assert_eq!(
        fit_with(&bad, None),
        "train.values: non-finite value NaN at row 5, column 7"
    );
    let mut bad = val.clone();
    bad.values[2] = f32::INFINITY;
    assert_eq!(
        fit_with(&train, Some(&bad)),
        "val.values: non-finite value inf at row 0, column 2"
    );

    let empty = Features::new(vec![], 24, vec![], 10);
    assert_eq!(
        fit_with(&empty, None),
        "train.labels: empty; need at least one row"
    );
    assert_eq!(
        fit_with(&train, Some(&empty)),
        "val.labels: empty; need at least one row"
    );

    let narrow = Features::new(
        val.values[..12 * val.len()].to_vec(),
        12,
        val.labels.clone(),
        10,
    );
    assert_eq!(
        fit_with(&train, Some(&narrow)),
        "val.dim is 12, but train.dim is 24"
    );
    let fewer = Features {
        classes: 11,
        ..val.clone()
    };
    assert_eq!(
        fit_with(&train, Some(&fewer)),
        "val.classes is 11, but train.classes is 10"
    );

    let mut short = train.clone();
    short.values.pop();
    assert_eq!(
        fit_with(&short, None),
        "train.values: 5759 values are not 240 rows of dim 24"
    );
    let flat = Features {
        dim: 0,
        ..train.clone()
    };
    assert_eq!(fit_with(&flat, None), "train.dim: must be >= 1, got 0");
    let single = Features {
        classes: 1,
        labels: vec![0; train.len()],
        ..train.clone()
    };
    assert_eq!(
        fit_with(&single, None),
        "train.classes: must be >= 2, got 1"
    );

    let mut missing = train.clone();
    missing
        .labels
        .iter_mut()
        .filter(|l| **l == 9)
        .for_each(|l| *l = 0);
    assert_eq!(
        fit_with(&missing, None),
        "train.labels: class 9 has no rows; every class needs at least one"
    );

    let swept = ProbeParams::default().check().unwrap();
    assert_eq!(
        message(fit(&swept, &train, None)),
        "probe parameter c_grid: 25 values of C need a validation set to choose among them; give \
         val, or a grid of one C"
    );

    let probe = fit(&one(), &train, None).unwrap();
    let ragged = probe.predict_proba(&[0.0; 25]).unwrap_err().to_string();
    assert_eq!(
        ragged,
        "input.values: 25 values are not whole rows of dim 24"
    );
    assert_eq!(
        probe.accuracy(&narrow).unwrap_err().to_string(),
        "input.dim is 12, but probe.dim is 24"
    );
    let mut edited = probe.clone();
    edited.intercept.pop();
    assert_eq!(
        edited.predict(&val.values).unwrap_err().to_string(),
        "linear probe: 240 weights and 9 intercepts do not fit dim 24 and 10 classes"
    );
}

/// SplitMix64 standard normal draws.
fn gaussians(seed: u64) -> impl FnMut() -> f64 {
    let mut state = seed;
    let mut uniform = move || {
        // SplitMix64.
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    };
    move || {
        let (u, v) = (uniform().max(1e-300), uniform());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// A deterministic stand-in for CLIP features at full size: one random direction per class
/// (the same for every `seed`) plus Gaussian noise (drawn from `seed`), L2-normalised.
fn synthetic(rows: usize, dim: usize, classes: usize, seed: u64) -> Features {
    let mut draw = gaussians(0);
    let means: Vec<f64> = (0..classes * dim).map(|_| draw()).collect();
    let mut gaussian = gaussians(seed);
    let mut values = Vec::with_capacity(rows * dim);
    let mut labels = Vec::with_capacity(rows);
    for i in 0..rows {
        let class = i % classes;
        let row: Vec<f64> = (0..dim)
            .map(|t| 0.1 * means[class * dim + t] + gaussian())
            .collect();
        let norm = row.iter().map(|v| v * v).sum::<f64>().sqrt();
        values.extend(row.iter().map(|v| (v / norm) as f32));
        labels.push(class);
    }
    Features::new(values, dim, labels, classes)
}

/// `cargo test --test probe -- --ignored --nocapture full_size_fit_time`: one C on
/// 50,000 x 768 features with 10 classes.
#[test]
#[ignore = "timing: tens of seconds"]
fn full_size_fit_time() {
    let train = synthetic(50_000, 768, 10, 7);
    let val = synthetic(5_000, 768, 10, 8);
    let params = ProbeParams::new().c(1.0).check().unwrap();
    let start = Instant::now();
    let probe = fit(&params, &train, None).unwrap();
    let elapsed = start.elapsed();
    eprintln!(
        "50,000 x 768, 10 classes, C = 1: {:.1} s, {} L-BFGS iterations (converged: {}); val \
         accuracy {:.3}; {} threads",
        elapsed.as_secs_f64(),
        probe.iterations,
        probe.converged,
        probe.accuracy(&val).unwrap(),
        rayon::current_num_threads()
    );
}
