//! End-to-end checks of the figures and the report: determinism, decodable PNGs,
//! self-contained HTML, escaping, and degenerate input. Small canvases keep them fast.

use std::path::{Path, PathBuf};

use super::*;

fn classes(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("class{i}")).collect()
}

/// Points on a small deterministic spiral, grouped by class.
fn images(n_classes: usize, per_class: usize) -> Vec<ScatterImage> {
    (0..n_classes * per_class)
        .map(|i| {
            let t = i as f32 * 0.37;
            ScatterImage {
                x: (i / per_class) as f32 * 3.0 + t.sin(),
                y: (i % 7) as f32 + t.cos(),
                class: i / per_class,
            }
        })
        .collect()
}

fn texts() -> Vec<ScatterText> {
    vec![
        ScatterText {
            x: 0.5,
            y: 2.0,
            class: 0,
            object_class: None,
            text: "a photo of a <class0> & co.".into(),
            label: true,
        },
        ScatterText {
            x: 3.5,
            y: 3.0,
            class: 1,
            object_class: Some(2),
            text: "class1 look like a class2".into(),
            label: true,
        },
    ]
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap()
}

fn joint<'a>(
    cls: &'a [String],
    imgs: &'a [ScatterImage],
    txts: &'a [ScatterText],
) -> JointFigure<'a> {
    JointFigure {
        title: "joint <test> & title".into(),
        subtitle: Some("subtitle".into()),
        classes: cls,
        images: imgs,
        texts: txts,
        size: (640, 480),
    }
}

fn assert_png(path: &Path, size: (u32, u32)) {
    let img = image::load_from_memory_with_format(&read(path), image::ImageFormat::Png)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!((img.width(), img.height()), size, "{}", path.display());
}

#[test]
fn joint_is_deterministic_and_decodes() {
    let dir = tempfile::tempdir().unwrap();
    let (cls, imgs, txts) = (classes(3), images(3, 40), texts());
    let a = draw_joint(&joint(&cls, &imgs, &txts), &dir.path().join("a/joint")).unwrap();
    let b = draw_joint(&joint(&cls, &imgs, &txts), &dir.path().join("b/joint")).unwrap();
    assert_eq!(a.len(), 2);
    for (pa, pb) in a.iter().zip(&b) {
        assert_eq!(read(pa), read(pb), "{} differs between runs", pa.display());
    }
    assert_png(&a[0], (640, 480));
    let svg = String::from_utf8(read(&a[1])).unwrap();
    assert!(svg.starts_with("<svg"));
    // Texts reach the SVG escaped.
    assert!(
        svg.contains("a photo of a &lt;class0&gt; &amp; co."),
        "label missing or unescaped"
    );
    assert!(svg.contains("joint &lt;test&gt; &amp; title"));
}

#[test]
fn confusion_and_per_class_are_deterministic_and_decode() {
    let dir = tempfile::tempdir().unwrap();
    let cls = classes(4);
    let matrix: Vec<Vec<u64>> = (0..4)
        .map(|i| {
            (0..4)
                .map(|j| if i == j { 90 } else { i as u64 + j as u64 })
                .collect()
        })
        .collect();
    let series = vec![
        ("hard".to_string(), vec![90.0, 80.5, f64::NAN, 100.0]),
        ("soft".to_string(), vec![0.0, 85.0, 70.0, 99.9]),
    ];
    for run in ["a", "b"] {
        let conf = ConfusionFigure {
            title: "confusion".into(),
            classes: &cls,
            matrix: &matrix,
            size: (600, 520),
            ..Default::default()
        };
        draw_confusion(&conf, &dir.path().join(run).join("conf")).unwrap();
        let bars = PerClassFigure {
            title: "per class".into(),
            classes: &cls,
            series: &series,
            size: (700, 400),
            ..Default::default()
        };
        draw_per_class(&bars, &dir.path().join(run).join("bars")).unwrap();
    }
    for name in ["conf.png", "conf.svg", "bars.png", "bars.svg"] {
        assert_eq!(
            read(&dir.path().join("a").join(name)),
            read(&dir.path().join("b").join(name)),
            "{name}"
        );
    }
    assert_png(&dir.path().join("a/conf.png"), (600, 520));
    assert_png(&dir.path().join("a/bars.png"), (700, 400));
}

#[test]
fn nan_coordinates_are_a_clear_error_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cls = classes(2);
    let mut imgs = images(2, 5);
    imgs[3].y = f32::NAN;
    let stem = dir.path().join("joint");
    let err = draw_joint(&joint(&cls, &imgs, &[]), &stem).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("joint.png") && msg.contains("image 3") && msg.contains("non-finite"),
        "{msg}"
    );
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());

    let mut txts = texts();
    txts[1].x = f32::INFINITY;
    let err = draw_joint(&joint(&classes(3), &images(3, 2), &txts), &stem).unwrap_err();
    assert!(err.to_string().contains("text 1"), "{err}");
}

#[test]
fn bad_class_indices_and_shapes_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let stem = dir.path().join("x");
    let cls = classes(2);
    let imgs = images(3, 2);
    assert!(draw_joint(&joint(&cls, &imgs, &[]), &stem)
        .unwrap_err()
        .to_string()
        .contains("class 2"));

    let ragged = vec![vec![1, 2], vec![3]];
    let conf = ConfusionFigure {
        classes: &cls,
        matrix: &ragged,
        ..Default::default()
    };
    assert!(draw_confusion(&conf, &stem)
        .unwrap_err()
        .to_string()
        .contains("row 1"));
    let conf = ConfusionFigure {
        classes: &[],
        matrix: &[],
        ..Default::default()
    };
    assert!(draw_confusion(&conf, &stem).is_err());

    let series = vec![("s".to_string(), vec![50.0])];
    let bars = PerClassFigure {
        classes: &cls,
        series: &series,
        ..Default::default()
    };
    assert!(draw_per_class(&bars, &stem)
        .unwrap_err()
        .to_string()
        .contains("1 values for 2"));
    let series = vec![("s".to_string(), vec![50.0, 101.0])];
    let bars = PerClassFigure {
        classes: &cls,
        series: &series,
        ..Default::default()
    };
    assert!(draw_per_class(&bars, &stem)
        .unwrap_err()
        .to_string()
        .contains("101"));
}

#[test]
fn degenerate_inputs_draw() {
    let dir = tempfile::tempdir().unwrap();
    let one = classes(1);
    // Nothing at all; one class without texts; a single point (zero extent).
    let single = images(1, 1);
    for (i, imgs) in [&[][..], &images(1, 30)[..], &single[..]]
        .into_iter()
        .enumerate()
    {
        let fig = joint(&one, imgs, &[]);
        draw_joint(&fig, &dir.path().join(format!("joint{i}"))).unwrap();
    }
    // A label wider than the whole plot stays on the canvas without panicking.
    let long = vec![ScatterText {
        x: 0.0,
        y: 0.0,
        class: 0,
        object_class: None,
        text: "x".repeat(300),
        label: true,
    }];
    draw_joint(&joint(&one, &single, &long), &dir.path().join("long")).unwrap();

    // All-zero rows and a 1x1 matrix.
    let zeros = vec![vec![0u64; 3], vec![1, 2, 3], vec![0u64; 3]];
    let cls3 = classes(3);
    draw_confusion(
        &ConfusionFigure {
            classes: &cls3,
            matrix: &zeros,
            size: (500, 450),
            ..Default::default()
        },
        &dir.path().join("c3"),
    )
    .unwrap();
    let m1 = vec![vec![5u64]];
    draw_confusion(
        &ConfusionFigure {
            classes: &one,
            matrix: &m1,
            size: (500, 450),
            ..Default::default()
        },
        &dir.path().join("c1"),
    )
    .unwrap();

    // No series; a class with no images (NaN).
    draw_per_class(
        &PerClassFigure {
            classes: &one,
            series: &[],
            size: (500, 300),
            ..Default::default()
        },
        &dir.path().join("p0"),
    )
    .unwrap();
    let nan = vec![("s".to_string(), vec![f64::NAN])];
    draw_per_class(
        &PerClassFigure {
            classes: &one,
            series: &nan,
            size: (500, 300),
            ..Default::default()
        },
        &dir.path().join("p1"),
    )
    .unwrap();

    // Many classes: the legend and the matrix shrink instead of overflowing.
    let many = classes(40);
    let imgs = images(40, 3);
    draw_joint(&joint(&many, &imgs, &[]), &dir.path().join("many")).unwrap();
    let m40: Vec<Vec<u64>> = (0..40)
        .map(|i| (0..40).map(|j| (i * j) as u64).collect())
        .collect();
    draw_confusion(
        &ConfusionFigure {
            classes: &many,
            matrix: &m40,
            ..Default::default()
        },
        &dir.path().join("c40"),
    )
    .unwrap();
}

#[test]
fn absurd_sizes_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let cls = classes(1);
    let mut fig = joint(&cls, &[], &[]);
    fig.size = (10, 10);
    assert!(draw_joint(&fig, &dir.path().join("tiny"))
        .unwrap_err()
        .to_string()
        .contains("10x10"));
}

fn sample_report(out: &Path) -> Report {
    let cls = classes(2);
    let imgs = images(2, 10);
    draw_joint(&joint(&cls, &imgs, &[]), &figure_stem(out, "joint")).unwrap();
    let matrix = vec![vec![9, 1], vec![2, 8]];
    draw_confusion(
        &ConfusionFigure {
            title: "c".into(),
            classes: &cls,
            matrix: &matrix,
            size: (400, 360),
            ..Default::default()
        },
        &figure_stem(out, "conf"),
    )
    .unwrap();

    let mut table = Table::new(["prompt set", "accuracy (%)"]);
    table.push_row(["a | b <i>", "88.30"]);
    table.push_row(["x & y", "90.10"]);
    Report {
        title: "softtext run <1> & co".into(),
        provenance: vec![
            ("model".into(), "tiny-random-clip".into()),
            ("images".into(), "20".into()),
        ],
        warning: Some("random-weight fixture: numbers are meaningless".into()),
        table,
        figures: vec![
            FigureRef {
                path: PathBuf::from("figures/joint.png"),
                caption: "Joint <layout>".into(),
            },
            FigureRef {
                path: PathBuf::from("figures/conf.svg"),
                caption: "Confusion".into(),
            },
        ],
        sections: Vec::new(),
        interactive: Vec::new(),
        config_text: "[run]\nname = \"<x>\"\n".into(),
        config_lang: "toml".into(),
        timings: vec![("encode".into(), 1.5), ("umap".into(), 0.5)],
    }
}

#[test]
fn html_report_is_self_contained_and_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let report = sample_report(dir.path());
    let (md_path, html_path) = write_report(&report, dir.path()).unwrap();
    assert_eq!(md_path, dir.path().join("report.md"));
    let html = std::fs::read_to_string(&html_path).unwrap();

    assert!(!html.contains("src=\"http") && !html.contains("src='http"));
    assert!(!html.contains("href="), "no links of any kind");
    assert!(!html.contains("<script") && !html.contains("<link") && !html.contains("@import"));
    assert!(
        html.contains("src=\"data:image/png;base64,iVBORw0KGgo"),
        "PNG embedded"
    );
    assert!(html.contains("<svg width=\"400\""), "SVG inlined");
    assert!(html.contains("<td>a | b &lt;i&gt;</td>"));
    assert!(html.contains("<td>x &amp; y</td>"));
    assert!(html.contains("<title>softtext run &lt;1&gt; &amp; co</title>"));
    assert!(html.contains("class=\"warning\"") && html.contains("random-weight fixture"));
    assert!(html.contains("name = &quot;&lt;x&gt;&quot;"));
    assert!(html.contains("<td>Total</td><td class=\"num\">2.00</td>"));
    // The embedded PNG decodes back to the figure.
    let start = html.find("base64,").unwrap() + 7;
    let end = start + html[start..].find('"').unwrap();
    let png = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        &html[start..end],
    )
    .unwrap();
    assert_eq!(png, read(&dir.path().join("figures/joint.png")));
}

#[test]
fn markdown_report_links_figures_and_escapes() {
    let dir = tempfile::tempdir().unwrap();
    let report = sample_report(dir.path());
    let (md_path, _) = write_report(&report, dir.path()).unwrap();
    let md = std::fs::read_to_string(md_path).unwrap();
    assert!(md.starts_with("# softtext run \\<1\\> \\& co\n"), "{md}");
    assert!(md.contains("> **\u{26a0} WARNING:** random-weight fixture"));
    assert!(
        md.contains("![Joint \\<layout\\>](figures/joint.png)"),
        "{md}"
    );
    assert!(md.contains("([SVG](figures/joint.svg))"));
    assert!(md.contains("| a \\| b \\<i\\> | 88.30 |"), "{md}");
    assert!(md.contains("```toml\n[run]\nname = \"<x>\"\n```"), "{md}");
    assert!(md.contains("| encode | 1.50 | 75.0% |"), "{md}");
}

#[test]
fn report_is_deterministic_and_minimal_report_works() {
    let dir = tempfile::tempdir().unwrap();
    let report = sample_report(dir.path());
    let (m1, h1) = write_report(&report, dir.path()).unwrap();
    let (a, b) = (read(&m1), read(&h1));
    write_report(&report, dir.path()).unwrap();
    assert_eq!(read(&m1), a);
    assert_eq!(read(&h1), b);

    let empty = tempfile::tempdir().unwrap();
    let (m, h) = write_report(&Report::default(), empty.path()).unwrap();
    assert!(read(&m).starts_with(b"# "));
    assert!(std::fs::read_to_string(h).unwrap().ends_with("</html>\n"));
}

#[test]
fn report_figure_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut report = Report::default();
    report.figures.push(FigureRef {
        path: "figures/missing.png".into(),
        caption: String::new(),
    });
    let err = write_report(&report, dir.path()).unwrap_err().to_string();
    assert!(err.contains("missing.png"), "{err}");

    report.figures[0].path = dir.path().join("abs.png");
    assert!(write_report(&report, dir.path())
        .unwrap_err()
        .to_string()
        .contains("relative"));

    std::fs::write(dir.path().join("fake.png"), b"not a png").unwrap();
    report.figures[0].path = "fake.png".into();
    assert!(write_report(&report, dir.path())
        .unwrap_err()
        .to_string()
        .contains("not a PNG"));
    assert!(
        !dir.path().join("report.html").exists(),
        "nothing written on error"
    );
}

#[test]
fn mark_labels_selects_exact_texts() {
    let mut t = texts();
    mark_labels(&mut t, &["class1 look like a class2".to_string()]);
    assert_eq!(
        t.iter().map(|t| t.label).collect::<Vec<_>>(),
        vec![false, true]
    );
}

/// A synthetic log: the loss decays, accuracy saturates, the test set is evaluated every
/// `every` epochs and on the last.
fn curve(n: usize, every: usize) -> Vec<CurvePoint> {
    (1..=n)
        .map(|e| {
            let t = e as f64 / n as f64;
            CurvePoint {
                epoch: e,
                train_loss: 2.3 * (-4.0 * t).exp() + 0.05,
                train_accuracy: 0.1 + 0.85 * (1.0 - (-5.0 * t).exp()),
                test_accuracy: (e % every == 0 || e == n)
                    .then(|| 0.1 + 0.8 * (1.0 - (-5.0 * t).exp())),
                lr: 0.1 * (1.0 - t),
            }
        })
        .collect()
}

#[test]
fn training_curve_is_deterministic_and_decodes() {
    let dir = tempfile::tempdir().unwrap();
    let (one, long) = (curve(1, 1), curve(200, 10));
    for run in ["a", "b"] {
        for (name, points) in [("one", &one), ("long", &long)] {
            let fig = TrainingCurveFigure {
                title: "training <curve> & co".into(),
                subtitle: Some("subtitle".into()),
                points,
                size: (800, 400),
                ..Default::default()
            };
            let paths = draw_training_curve(&fig, &dir.path().join(run).join(name)).unwrap();
            assert_eq!(paths.len(), 2);
        }
    }
    for name in ["one.png", "one.svg", "long.png", "long.svg"] {
        assert_eq!(
            read(&dir.path().join("a").join(name)),
            read(&dir.path().join("b").join(name)),
            "{name}"
        );
    }
    assert_png(&dir.path().join("a/one.png"), (800, 400));
    assert_png(&dir.path().join("a/long.png"), (800, 400));
    let svg = String::from_utf8(read(&dir.path().join("a/long.svg"))).unwrap();
    assert!(svg.starts_with("<svg"));
    assert!(svg.contains("training &lt;curve&gt; &amp; co"));
    assert!(svg.contains("\nEpoch\n") && svg.contains("\n100%\n"));
    // 20 evaluations (every 10th epoch, the last among them) plus the legend's marker.
    assert_eq!(svg.matches("<circle").count(), 21);
}

#[test]
fn training_curve_rejects_bad_logs_by_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let stem = dir.path().join("curve");
    let err = |points: &[CurvePoint]| {
        let fig = TrainingCurveFigure {
            points,
            ..Default::default()
        };
        draw_training_curve(&fig, &stem).unwrap_err().to_string()
    };

    let msg = err(&[]);
    assert!(
        msg.contains("curve.png") && msg.contains("no points"),
        "{msg}"
    );

    let mut points = curve(5, 2);
    points[3].epoch = 3;
    let msg = err(&points);
    assert!(
        msg.contains("epoch 3 follows epoch 3") && msg.contains("strictly increasing"),
        "{msg}"
    );

    let mut points = curve(5, 2);
    points[0].epoch = 0;
    assert!(err(&points).contains("epoch 0"));

    let mut points = curve(5, 2);
    points[2].train_accuracy = 1.5;
    let msg = err(&points);
    assert!(
        msg.contains("epoch 3") && msg.contains("training accuracy 1.5"),
        "{msg}"
    );

    let mut points = curve(5, 2);
    points[3].test_accuracy = Some(-0.1);
    assert!(err(&points).contains("epoch 4: test accuracy -0.1"));

    let mut points = curve(5, 2);
    points[4].train_loss = f64::NAN;
    let msg = err(&points);
    assert!(
        msg.contains("epoch 5") && msg.contains("training loss NaN"),
        "{msg}"
    );
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "nothing written on error"
    );
}

#[test]
fn training_curve_degenerate_logs_draw() {
    let dir = tempfile::tempdir().unwrap();
    let zero_loss = vec![CurvePoint {
        epoch: 1,
        train_loss: 0.0,
        train_accuracy: 1.0,
        test_accuracy: None,
        lr: 0.0,
    }];
    // No test evaluations; an enormous loss and epoch; a minimum-size canvas.
    let mut extreme = curve(3, 100);
    extreme.iter_mut().for_each(|p| p.test_accuracy = None);
    extreme[2].epoch = usize::MAX;
    extreme[1].train_loss = f64::MAX;
    for (i, (points, size)) in [
        (&zero_loss, (400, 300)),
        (&extreme, (400, 300)),
        (&curve(1000, 1), (200, 200)),
    ]
    .into_iter()
    .enumerate()
    {
        let fig = TrainingCurveFigure {
            points,
            size,
            ..Default::default()
        };
        draw_training_curve(&fig, &dir.path().join(format!("curve{i}"))).unwrap();
    }
}

/// `n` images over `classes` classes with CIFAR-like ids, plus 18 texts per class.
fn big_umap(classes: usize, n: usize) -> InteractiveUmap {
    let mut points: Vec<UmapPoint> = (0..n)
        .map(|i| {
            let t = i as f64 * 0.731;
            UmapPoint {
                kind: PointKind::Image,
                id: format!("test/class{}/{:05}.png", i % classes, i),
                class: i % classes,
                x: (i % classes) as f64 * 0.37 + 3.0 * t.sin() + 1e-7 * i as f64,
                y: (i % 13) as f64 * 0.41 + 2.0 * t.cos(),
            }
        })
        .collect();
    for c in 0..classes {
        for k in 0..18 {
            points.push(UmapPoint {
                kind: PointKind::Text,
                id: format!("a photo of a class{c}, template {k}."),
                class: c,
                x: c as f64 * 0.37,
                y: k as f64 * 0.3,
            });
        }
    }
    InteractiveUmap {
        set: "hard".into(),
        caption: "big".into(),
        classes: (0..classes).map(|c| format!("class{c}")).collect(),
        points,
    }
}

#[test]
fn html_report_with_interactive_umap_is_self_contained_and_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let mut report = sample_report(dir.path());
    report.interactive.push(big_umap(3, 30));
    report.interactive[0].points[0].id = "</script><script>alert(1)</script>".into();
    let (_, html_path) = write_report(&report, dir.path()).unwrap();
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert_eq!(html.matches("<script>").count(), 1, "one inline script");
    assert_eq!(html.matches("</script>").count(), 1);
    assert!(html.contains("&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"));
    assert!(!html.contains("<link") && !html.contains("@import") && !html.contains("fetch("));
    assert!(html.contains("<h2>Interactive UMAP figures</h2>"));
    // Numbered after the two static figures.
    assert!(html.contains("<strong>Figure 3.</strong> big (30 images as circles, 54 texts"));
    assert_eq!(html.matches("<circle ").count(), 30);
    let first = std::fs::read(&html_path).unwrap();
    write_report(&report, dir.path()).unwrap();
    assert_eq!(
        first,
        std::fs::read(&html_path).unwrap(),
        "same bytes twice"
    );
}

/// 10,000 images over 100 classes (and 1,800 texts) stay well under a megabyte of HTML.
#[test]
fn interactive_umap_of_10000_images_stays_compact() {
    let dir = tempfile::tempdir().unwrap();
    let report = Report {
        title: "size".into(),
        interactive: vec![big_umap(100, 10_000)],
        ..Default::default()
    };
    let (_, html_path) = write_report(&report, dir.path()).unwrap();
    let bytes = std::fs::metadata(&html_path).unwrap().len();
    eprintln!("report.html with 10,000 images, 1,800 texts, 100 classes: {bytes} bytes");
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert_eq!(html.matches("<circle ").count(), 10_000);
    assert_eq!(html.matches("<use ").count(), 1_800);
    assert_eq!(html.matches("<button type=\"button\" data-k=").count(), 100);
    assert!(bytes < 1_000_000, "{bytes} bytes");
}

fn share_lanes() -> Vec<ShareLane> {
    vec![
        ShareLane {
            name: "look-like <b>".into(),
            histogram: vec![1, 0, 2, 5, 9, 12, 7, 3, 1, 0],
            undefined: 2,
            quartiles: Some([0.35, 0.5, 0.62]),
            marks: vec![
                ("automobile look like a truck".into(), 0.5),
                ("dog look like a cat".into(), 0.05),
                ("at the right end".into(), 1.0),
            ],
        },
        ShareLane {
            name: "nothing defined".into(),
            histogram: vec![0; 10],
            undefined: 4,
            quartiles: None,
            marks: Vec::new(),
        },
    ]
}

#[test]
fn subject_share_figure_is_deterministic_and_refuses_shares_outside_0_1() {
    let dir = tempfile::tempdir().unwrap();
    let lanes = share_lanes();
    let size = (900, SubjectShareFigure::height_for(lanes.len()));
    let fig = SubjectShareFigure {
        title: "shares".into(),
        subtitle: Some("k = 50".into()),
        lanes: &lanes,
        size,
    };
    let paths = draw_subject_share(&fig, &dir.path().join("a")).unwrap();
    assert_png(&paths[0], size);
    let svg = std::fs::read_to_string(&paths[1]).unwrap();
    assert!(
        svg.contains("look-like &lt;b&gt;"),
        "names are escaped in the SVG"
    );
    assert!(svg.contains("4 undefined"));
    let again = draw_subject_share(&fig, &dir.path().join("b")).unwrap();
    assert_eq!(read(&paths[0]), read(&again[0]));
    assert_eq!(read(&paths[1]), read(&again[1]));
    // No lanes at all still draws.
    draw_subject_share(
        &SubjectShareFigure {
            lanes: &[],
            ..SubjectShareFigure::default()
        },
        &dir.path().join("empty"),
    )
    .unwrap();

    let mut bad = share_lanes();
    bad[0].marks[0].1 = 1.5;
    let e = draw_subject_share(
        &SubjectShareFigure {
            lanes: &bad,
            ..SubjectShareFigure::default()
        },
        &dir.path().join("bad"),
    )
    .unwrap_err();
    assert!(e.to_string().contains("bad.png"), "{e}");
    assert!(e.to_string().contains("1.5 is not a share"), "{e}");
    let mut bad = share_lanes();
    bad[0].quartiles = Some([0.6, 0.5, 0.7]);
    assert!(draw_subject_share(
        &SubjectShareFigure {
            lanes: &bad,
            ..SubjectShareFigure::default()
        },
        &dir.path().join("bad"),
    )
    .is_err());
    assert!(
        !dir.path().join("bad.svg").exists(),
        "nothing written on error"
    );
}

#[test]
fn sections_follow_the_figures_and_number_their_figures_after_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut report = sample_report(dir.path());
    let lanes = share_lanes();
    draw_subject_share(
        &SubjectShareFigure {
            lanes: &lanes,
            ..SubjectShareFigure::default()
        },
        &figure_stem(dir.path(), "share"),
    )
    .unwrap();
    let mut table = Table::new(["relation", "median"]);
    table.push_row(["a <b>", "0.500"]);
    report.sections.push(Section {
        heading: "Subject <share>".into(),
        blocks: vec![
            Block::Text("share(x) / (share(x) + share(y)) & more".into()),
            Block::Table(table),
            Block::Figure(FigureRef {
                path: PathBuf::from("figures/share.png"),
                caption: "Shares <per relation>".into(),
            }),
        ],
    });
    report.interactive = vec![big_umap(3, 30)];
    let (md_path, html_path) = write_report(&report, dir.path()).unwrap();
    let md = std::fs::read_to_string(md_path).unwrap();
    let section = md.find("## Subject \\<share\\>").expect("section heading");
    assert!(md.find("## Figures").unwrap() < section);
    assert!(section < md.find("## Configuration").unwrap());
    assert!(
        md.contains("share(x) / (share(x) + share(y)) \\& more\n"),
        "{md}"
    );
    assert!(md.contains("| a \\<b\\> | 0.500 |"), "{md}");
    assert!(md.contains("*Figure 3.* Shares \\<per relation\\> ([SVG](figures/share.svg))"));
    let html = std::fs::read_to_string(html_path).unwrap();
    assert!(html.contains("<h2>Subject &lt;share&gt;</h2>"));
    assert!(html.contains("<p>share(x) / (share(x) + share(y)) &amp; more</p>"));
    assert!(html.contains("<td>a &lt;b&gt;</td>"));
    assert!(html.contains("<strong>Figure 3.</strong> Shares &lt;per relation&gt;"));
    assert_eq!(
        html.matches("src=\"data:image/png;base64,").count(),
        2,
        "both PNGs embedded"
    );
    // The interactive figure is numbered after the section's.
    assert!(html.contains("<strong>Figure 4.</strong>"), "{html}");
}
