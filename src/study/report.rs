//! The report stage: the per-class and confusion figures, and `report.md` plus a
//! self-contained `report.html` around the headline table and the UMAP figures drawn from
//! the same evaluation, with a section on the soft texts' subject shares.

use std::path::{Path, PathBuf};

use super::config::ReportProtocol;
use super::error::StudyError;
use super::evaluate::{read_eval, EvalFolder};
use super::figures::provenance_path;
use crate::error::Result;
use crate::finetune::FinetunedInfo;
use crate::observe::Observer;
use crate::report::{
    draw_confusion, draw_per_class, draw_subject_share, figure_stem, read_umap_csv, write_report,
    Block, ConfusionFigure, FigureRef, InteractiveUmap, PerClassFigure, Report, Section, ShareLane,
    SubjectShareFigure, Table, FIGURES_DIR,
};
use crate::subject_share::{SubjectShareReport, TextShare};
use crate::zeroshot::{EvalReport, ResultRow};

/// What to report.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportParams {
    /// The evaluation's output folder (table.json, texts.json, run.json).
    pub eval: PathBuf,
    /// Where report.md, report.html and figures/ go; `None`: the evaluation folder.
    pub out: Option<PathBuf>,
    /// The soft protocol whose per-class accuracies are charted beside `hard`.
    pub protocol: ReportProtocol,
    /// Extra stage timings to show (name, seconds), e.g. a study's own.
    pub timings: Vec<(String, f64)>,
    /// One line about the run, shown first in the provenance table.
    pub description: Option<String>,
}

impl ReportParams {
    /// The report of the evaluation in `eval`, written there, charting `pair`.
    pub fn new(eval: impl Into<PathBuf>) -> Self {
        Self {
            eval: eval.into(),
            out: None,
            protocol: ReportProtocol::default(),
            timings: Vec::new(),
            description: None,
        }
    }
}

/// The rows a reader looks at first: Table 1's protocols and the controls.
fn headline_rows(report: &EvalReport) -> Vec<&ResultRow> {
    report
        .rows
        .iter()
        .filter(|r| r.lambda.is_none() && r.k.is_none())
        .collect()
}

fn pct(x: f64) -> String {
    format!("{:.2}", 100.0 * x)
}

/// The headline table of a report: prompt set, protocol, accuracy, interval, McNemar p and
/// the paper's value.
pub fn headline_table(report: &EvalReport) -> Table {
    let mut table = Table::new(
        [
            "prompt set",
            "protocol",
            "accuracy %",
            "95% CI",
            "p vs hard",
            "paper %",
        ]
        .map(String::from)
        .to_vec(),
    );
    for r in headline_rows(report) {
        table.push_row(vec![
            r.prompt_set.clone(),
            r.protocol_label(),
            pct(r.accuracy),
            match (r.ci_low, r.ci_high) {
                (Some(lo), Some(hi)) => format!("{} – {}", pct(lo), pct(hi)),
                _ => "–".into(),
            },
            if r.prompt_set == "hard" && r.protocol == "hard" {
                "–".into()
            } else {
                crate::zeroshot::table::p_value(r.mcnemar.p_value)
            },
            r.paper.map(pct).unwrap_or_else(|| "–".into()),
        ]);
    }
    table
}

/// The coordinates `softtext umap` writes beside the figure of `set`.
fn umap_csv_path(out: &Path, set: &str) -> PathBuf {
    out.join("umap").join(format!("umap-{set}.csv"))
}

fn relative(out: &Path, path: &Path) -> PathBuf {
    path.strip_prefix(out).unwrap_or(path).to_path_buf()
}

/// Draws the figures and writes report.md and report.html; returns every file the report
/// consists of (its figures, including UMAP figures drawn earlier, and the two documents).
pub fn report(params: &ReportParams, observer: &dyn Observer) -> Result<Vec<PathBuf>> {
    if let Some(out) = &params.out {
        super::check_output_folder(out)?;
    }
    let EvalFolder {
        report,
        fingerprint,
        run,
        subject_share,
        subject_share_finetuned,
        ..
    } = read_eval(&params.eval)?;
    let out = params.out.clone().unwrap_or_else(|| params.eval.clone());
    let protocol = params.protocol.label();
    let model = run.as_ref().map(|r| r.clip.clone()).unwrap_or_default();
    let dataset = run
        .as_ref()
        .and_then(|r| r.images.get("data").cloned())
        .unwrap_or_default();
    let mut figures = Vec::new();
    let mut interactive = Vec::new();
    let mut files: Vec<PathBuf> = Vec::new();

    // UMAP figures drawn earlier by `softtext umap`, hard first.
    let mut sets = vec!["hard".to_string()];
    sets.extend(report.relations.iter().cloned());
    if let Some(info) = run.as_ref().and_then(|r| r.finetuned.as_ref()) {
        let method = info.params.method.as_str();
        let finetuned: Vec<String> = sets
            .iter()
            .map(|set| super::figures::finetuned_set(method, set))
            .collect();
        sets.extend(finetuned);
    }
    for set in &sets {
        let png = figure_stem(&out, &format!("umap-{set}")).with_extension("png");
        let drawn_from = std::fs::read_to_string(provenance_path(&out, set)).unwrap_or_default();
        if png.exists() && drawn_from.trim() != fingerprint {
            observer.status(&format!(
                "leaving out {}: it was drawn from another evaluation (rerun `softtext umap`)",
                png.display()
            ));
        } else if png.exists() {
            files.push(png.clone());
            let svg = png.with_extension("svg");
            if svg.exists() {
                files.push(svg);
            }
            figures.push(FigureRef {
                path: relative(&out, &png),
                caption: format!(
                    "UMAP of the image features (circles, coloured by true class) with the {} texts (stars){}",
                    set.replace('+', " fine-tuned "),
                    match set.as_str() {
                        "hard" => " — the paper's Figure 3",
                        s if s.contains('+') => "",
                        _ => " — the paper's Figure 4",
                    }
                ),
            });
            // The same embedding, interactive: the coordinates `umap` wrote with the figure.
            let csv = umap_csv_path(&out, set);
            if csv.exists() {
                interactive.push(InteractiveUmap {
                    set: set.clone(),
                    caption: format!("UMAP of the image features with the {set} texts"),
                    classes: report.classes.clone(),
                    points: read_umap_csv(&csv, report.classes.len())?,
                });
            } else {
                observer.status(&format!(
                    "no interactive UMAP for {set}: {} is missing (rerun `softtext umap`)",
                    csv.display()
                ));
            }
        }
    }

    let series_rows: Vec<&ResultRow> = std::iter::once(report.row("hard", "hard"))
        .chain(
            report
                .relations
                .iter()
                .map(|rel| report.row(rel, &protocol)),
        )
        .flatten()
        .collect();
    // An evaluation of hard protocols only charts `hard` alone; otherwise the requested soft
    // protocol must be there.
    let has_soft_rows = report.rows.iter().any(|r| r.prompt_set != "hard");
    if series_rows.len() <= 1 && has_soft_rows {
        let mut soft: Vec<String> = Vec::new();
        for label in report
            .rows
            .iter()
            .filter(|r| r.prompt_set != "hard")
            .map(|r| r.protocol_label())
        {
            if !soft.contains(&label) {
                soft.push(label);
            }
        }
        return Err(StudyError::Input(format!(
            "{}: no soft rows for protocol {:?} (--protocol, or [report] protocol in a reproduce config); this evaluation has: {}",
            params.eval.display(),
            protocol,
            soft.join(", ")
        )).into());
    }
    let series: Vec<(String, Vec<f64>)> = series_rows
        .iter()
        .map(|r| {
            let name = if r.prompt_set == "hard" {
                "hard".to_string()
            } else {
                format!("{} ({})", r.prompt_set, r.protocol_label())
            };
            let values = r
                .per_class_accuracy
                .iter()
                .map(|a| a.map_or(f64::NAN, |a| 100.0 * a))
                .collect();
            (name, values)
        })
        .collect();
    let paths = draw_per_class(
        &PerClassFigure {
            title: "Per-class zero-shot accuracy".into(),
            subtitle: Some(format!("{model} · {dataset} · {} images", report.images)),
            classes: &report.classes,
            series: &series,
            ..Default::default()
        },
        &figure_stem(&out, "per-class"),
    )?;
    files.extend(paths.iter().cloned());
    figures.push(FigureRef {
        path: relative(&out, &paths[0]),
        caption: format!(
            "Per-class accuracy of `hard` and each relation under `{}`",
            params.protocol
        ),
    });

    for r in headline_rows(&report) {
        // A fine-tuned row's set is `METHOD/SET`; a slash would make a folder.
        let name = format!(
            "confusion-{}-{}",
            r.prompt_set.replace('/', "+"),
            r.protocol_label()
        );
        let paths = draw_confusion(
            &ConfusionFigure {
                title: format!(
                    "Confusion matrix: {} / {}",
                    r.prompt_set,
                    r.protocol_label()
                ),
                subtitle: Some(format!(
                    "accuracy {:.2}% · {model} · {} images",
                    100.0 * r.accuracy,
                    report.images
                )),
                classes: &report.classes,
                matrix: &r.confusion,
                ..Default::default()
            },
            &figure_stem(&out, &name),
        )?;
        files.extend(paths.iter().cloned());
        figures.push(FigureRef {
            path: relative(&out, &paths[0]),
            caption: format!(
                "Confusion matrix of {} under `{}` (rows: true class)",
                r.prompt_set,
                r.protocol_label()
            ),
        });
    }

    let mut sections = Vec::new();
    if let Some(shares) = subject_share.as_ref().filter(|s| s.count > 0) {
        let (section, paths) = subject_share_section(shares, &out, &model, None)?;
        files.extend(paths);
        sections.push(section);
    }
    if let Some(info) = run.as_ref().and_then(|r| r.finetuned.as_ref()) {
        sections.push(finetuned_section(&report, info));
        if let Some(shares) = subject_share_finetuned.as_ref().filter(|s| s.count > 0) {
            let (section, paths) = subject_share_section(shares, &out, &model, Some(info))?;
            files.extend(paths);
            sections.push(section);
        }
    }

    let mut provenance: Vec<(String, String)> = params
        .description
        .iter()
        .map(|d| ("description".to_string(), d.clone()))
        .collect();
    provenance.extend([
        ("softtext".to_string(), crate::VERSION.to_string()),
        ("model".to_string(), model.clone()),
        ("data".to_string(), dataset.clone()),
        ("images".to_string(), report.images.to_string()),
        (
            "auxiliary source".to_string(),
            format!(
                "{} (top-1 {:.2}%, top-2 {:.2}%)",
                report.aux.source,
                100.0 * report.aux.top1_accuracy,
                100.0 * report.aux.top2_accuracy
            ),
        ),
        (
            "full table".to_string(),
            "table.md, table.csv, table.json".to_string(),
        ),
    ]);
    let mut timings = Vec::new();
    let mut config_text = String::new();
    let mut warning = None;
    if let Some(run) = &run {
        for key in ["split", "dtype", "device", "checkpoint_hash"] {
            if let Some(v) = run.images.get(key) {
                provenance.push((key.replace('_', " "), v.clone()));
            }
        }
        timings.extend(run.timings.iter().cloned());
        config_text = run.prompts_toml.clone();
        if run.random_weights {
            warning = Some(format!(
                "{model} has RANDOM weights (a softtext test fixture). Its accuracies and figures exercise the pipeline and mean nothing about CLIP."
            ));
        }
    }
    timings.extend(params.timings.iter().cloned());
    let document = Report {
        title: format!("softtext: hard vs soft text prompts — {model} on {dataset}"),
        provenance,
        warning,
        table: headline_table(&report),
        figures,
        sections,
        interactive,
        config_text,
        config_lang: "toml".into(),
        timings,
    };
    let written = write_report(&document, &out)?;
    observer.status(&format!(
        "wrote {} and {} ({} figures in {}/)",
        written.0.display(),
        written.1.display(),
        document.all_figures().count(),
        out.join(FIGURES_DIR).display()
    ));
    files.extend([written.0, written.1]);
    Ok(files)
}

/// A share as the report prints it: three decimals, `–` where undefined.
fn share_cell(share: Option<f64>) -> String {
    share.map_or_else(|| "–".to_string(), |v| format!("{v:.3}"))
}

/// Text, relation, subject share, and the fractions of the neighbours of each class.
fn share_row(t: &TextShare) -> Vec<String> {
    vec![
        t.text.clone(),
        t.relation.clone(),
        t.share
            .map_or_else(|| "undefined".to_string(), |v| format!("{v:.3}")),
        format!("{} {:.0}%", t.x, 100.0 * t.share_x),
        format!("{} {:.0}%", t.y, 100.0 * t.share_y),
    ]
}

const SHARE_COLUMNS: [&str; 5] = [
    "text",
    "relation",
    "subject share",
    "x among the neighbours",
    "y among the neighbours",
];

/// The subject-share section (the paper's Figure 4 as a number): the per-relation table, the
/// figure, the listed texts, and each relation's lowest shares; returns the figure's files.
fn subject_share_section(
    shares: &SubjectShareReport,
    out: &Path,
    model: &str,
    finetuned: Option<&FinetunedInfo>,
) -> Result<(Section, Vec<PathBuf>)> {
    let mut blocks = Vec::new();
    if let Some(info) = finetuned {
        blocks.push(Block::Text(format!(
            "The same soft texts encoded by the fine-tuned text side ({} on {}), against the \
             same images: how far training moved each text towards its subject's images.",
            info.params.method_summary(),
            info.prompt
        )));
    }
    blocks.push(Block::Text(format!(
        "Where each soft text \"x REL y\" lies among the images: the class make-up of its \
         k = {} nearest image embeddings (cosine), and its subject share, share(x) / (share(x) \
         + share(y)). 1: the text lies among x's images; 0: it is pulled among y's; undefined \
         (counted apart) when neither class is among its neighbours. The paper's Figure 4 \
         shows \"automobile look like a truck\" between the two classes' images and \
         \"dog look like a cat\" among the cat images.",
        shares.k
    )));
    let mut table = Table::new([
        "relation",
        "texts",
        "defined",
        "undefined",
        "mean",
        "median",
        "Q1",
        "Q3",
    ]);
    for r in &shares.relations {
        table.push_row([
            r.relation.clone(),
            r.count.to_string(),
            r.defined.to_string(),
            r.undefined.to_string(),
            share_cell(r.mean),
            share_cell(r.median),
            share_cell(r.q1),
            share_cell(r.q3),
        ]);
    }
    blocks.push(Block::Table(table));

    let named: Vec<&TextShare> = shares.named.iter().filter_map(|t| shares.text(t)).collect();
    let lanes: Vec<ShareLane> = shares
        .relations
        .iter()
        .map(|r| ShareLane {
            name: r.relation.clone(),
            histogram: r.histogram.to_vec(),
            undefined: r.undefined,
            quartiles: match (r.q1, r.median, r.q3) {
                (Some(q1), Some(median), Some(q3)) => Some([q1, median, q3]),
                _ => None,
            },
            marks: named
                .iter()
                .filter(|t| t.relation == r.relation)
                .filter_map(|t| t.share.map(|share| (t.text.clone(), share)))
                .collect(),
        })
        .collect();
    let (title, stem) = match finetuned {
        Some(info) => (
            format!(
                "Subject share of the soft texts, fine-tuned ({})",
                info.params.method.as_str()
            ),
            "subject-share-finetuned",
        ),
        None => (
            "Subject share of the soft texts".to_string(),
            "subject-share",
        ),
    };
    let paths = draw_subject_share(
        &SubjectShareFigure {
            title,
            subtitle: Some(format!(
                "{model} · k = {} nearest of {} images · {} soft texts",
                shares.k, shares.images, shares.count
            )),
            lanes: &lanes,
            size: (1200, SubjectShareFigure::height_for(lanes.len())),
        },
        &figure_stem(out, stem),
    )?;
    blocks.push(Block::Figure(FigureRef {
        path: relative(out, &paths[0]),
        caption: "Subject share per relation: histogram of the texts' shares (0: among the \
                  object's images, 1: among the subject's), with the quartile range and median \
                  under it; listed texts marked with a triangle"
            .into(),
    }));

    if !named.is_empty() {
        blocks.push(Block::Text(
            "The listed texts ([eval.subject_share] texts; by default the paper's Figure 4 pair):"
                .into(),
        ));
        let mut table = Table::new(SHARE_COLUMNS);
        for t in &named {
            table.push_row(share_row(t));
        }
        blocks.push(Block::Table(table));
    }
    let lowest: Vec<&TextShare> = shares.relations.iter().flat_map(|r| &r.lowest).collect();
    if !lowest.is_empty() {
        blocks.push(Block::Text(
            "Each relation's texts with the lowest shares, pulled furthest among their object's \
             images:"
                .into(),
        ));
        let mut table = Table::new(SHARE_COLUMNS);
        for t in lowest {
            table.push_row(share_row(t));
        }
        blocks.push(Block::Table(table));
    }
    if !shares.all_texts_listed {
        blocks.push(Block::Text(format!(
            "table.json lists the shares of the listed texts only: the evaluation has {} soft \
             texts, more than [eval.subject_share] list_limit.",
            shares.count
        )));
    }
    Ok((
        Section {
            heading: match finetuned {
                Some(_) => "Subject share, fine-tuned text side".into(),
                None => "Subject share".into(),
            },
            blocks,
        },
        paths,
    ))
}

/// Base against fine-tuned: every fine-tuned row `METHOD/SET` beside the base row of the same
/// set and protocol, and the linear-probe baseline, all tested against the base `hard`.
fn finetuned_section(report: &EvalReport, info: &FinetunedInfo) -> Section {
    let method = info.params.method.as_str();
    let prefix = format!("{method}/");
    let mut blocks = vec![Block::Text(format!(
        "The text side fine-tuned with {} on the `{}` prompt ({} train and {} validation \
         images of the train split{}; {} steps, best epoch {} of {}{}), evaluated on the same \
         images with the same auxiliary predictions. McNemar compares each fine-tuned row with \
         the base `hard` row. The linear probe is logistic regression on the same train \
         images, its C chosen on the same hold-out.",
        info.params.method_summary(),
        info.prompt,
        info.train_images,
        info.val_images,
        info.params
            .shots
            .map_or(String::new(), |k| format!(", {k} per class")),
        info.steps,
        info.best_epoch,
        info.epochs,
        info.val_accuracy
            .map_or(String::new(), |a| format!(", validation {:.2}%", 100.0 * a)),
    ))];
    let mut table = Table::new([
        "prompt set",
        "protocol",
        "base %",
        "fine-tuned %",
        "change (points)",
        "McNemar b / c",
        "p vs base hard",
    ]);
    // Blend rows (one per lambda) would bury the rest; they are in table.md.
    for row in report.rows.iter().filter(|row| row.lambda.is_none()) {
        let base = if let Some(set) = row.prompt_set.strip_prefix(&prefix) {
            report.row(set, &row.protocol_label())
        } else if row.prompt_set == "linear-probe" {
            report.row("hard", "hard")
        } else {
            continue;
        };
        table.push_row([
            row.prompt_set.clone(),
            row.protocol_label(),
            base.map_or("–".into(), |b| format!("{:.2}", 100.0 * b.accuracy)),
            format!("{:.2}", 100.0 * row.accuracy),
            base.map_or("–".into(), |b| {
                format!("{:+.2}", 100.0 * (row.accuracy - b.accuracy))
            }),
            format!("{} / {}", row.mcnemar.b, row.mcnemar.c),
            format!("{:.3}", row.mcnemar.p_value),
        ]);
    }
    blocks.push(Block::Table(table));
    Section {
        heading: format!("Fine-tuned text side ({method})"),
        blocks,
    }
}
