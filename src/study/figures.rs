//! The UMAP stage: one joint embedding of the image features and each prompt set's texts,
//! drawn as the paper's Figures 3 and 4 (`figures/umap-SET.{png,svg}`), with the coordinates
//! (`umap/umap-SET.csv`) and a record of which evaluation each figure was drawn from.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::config::UmapSettings;
use super::error::StudyError;
use super::evaluate::{read_eval, EvalFolder, RANDOM_WEIGHTS_MARKER};
use crate::artifact::{write_atomic, write_atomic_with};
use crate::auxiliary::predictions::csv_field;
use crate::embeddings::Embeddings;
use crate::error::Result;
use crate::observe::Observer;
use crate::report::{draw_joint, figure_stem, JointFigure, ScatterImage, ScatterText};
use crate::zeroshot::catalogue::{TextCatalogue, TextEntry};
use crate::zeroshot::EvalReport;

/// What to draw.
#[derive(Debug, Clone, PartialEq)]
pub struct UmapFigures {
    /// The image embedding file the evaluation evaluated.
    pub images: PathBuf,
    /// The evaluation's output folder (texts.safetensors, texts.json, table.json).
    pub eval: PathBuf,
    /// Where figures and coordinates go; `None`: the evaluation folder.
    pub out: Option<PathBuf>,
    /// Prompt sets to plot; empty: hard and every relation.
    pub sets: Vec<String>,
    /// UMAP parameters, labels and how many soft texts to label.
    pub settings: UmapSettings,
}

impl UmapFigures {
    /// Every prompt set of the evaluation in `eval`, drawn into that folder with the default
    /// settings.
    pub fn new(images: impl Into<PathBuf>, eval: impl Into<PathBuf>) -> Self {
        Self {
            images: images.into(),
            eval: eval.into(),
            out: None,
            sets: Vec::new(),
            settings: UmapSettings::default(),
        }
    }
}

/// Where `umap` records which evaluation the figure of `set` was drawn from.
pub fn provenance_path(out: &Path, set: &str) -> PathBuf {
    out.join("umap").join(format!("umap-{set}.source"))
}

/// The texts drawn for a prompt set: every hard prompt; for a relation, the soft texts the
/// auxiliary source produced (its (top-1, top-2) pairs), as in the paper's Figure 4.
fn texts_to_plot<'a>(catalogue: &'a TextCatalogue, set: &'a str) -> Vec<&'a TextEntry> {
    if set == "hard" {
        return catalogue.set("hard").collect();
    }
    catalogue
        .set(set)
        .filter(|t| {
            catalogue
                .aux_pairs
                .iter()
                .any(|p| Some(p.object) == t.object && p.subject == t.subject)
        })
        .collect()
}

/// Up to this many classes the hard figure labels one prompt per class; beyond it (CIFAR-100)
/// the labels cover each other, and report.html's interactive figure names every star on
/// hover instead.
const MAX_CLASSES_LABELLED: usize = 20;

fn default_labels(
    catalogue: &TextCatalogue,
    set: &str,
    top: usize,
    plotted: &[&TextEntry],
) -> Vec<String> {
    if set == "hard" {
        if catalogue.classes.len() > MAX_CLASSES_LABELLED {
            return Vec::new();
        }
        // One label per class: its first template.
        let mut seen = std::collections::HashSet::new();
        return plotted
            .iter()
            .filter(|t| seen.insert(t.subject))
            .map(|t| t.text.clone())
            .collect();
    }
    catalogue
        .aux_pairs
        .iter()
        .filter_map(|p| {
            plotted
                .iter()
                .find(|t| t.subject == p.subject && t.object == Some(p.object))
        })
        .take(top)
        .map(|t| t.text.clone())
        .collect()
}

/// The figure name of prompt set `set` drawn with a fine-tuned text side: `coop+look-like`
/// (a `/` would make a folder).
pub fn finetuned_set(method: &str, set: &str) -> String {
    format!("{method}+{set}")
}

/// The accuracy of `row_set`'s rows (`look-like`, or `coop/look-like`) under the protocols
/// that suit prompt set `set`.
fn accuracy_line(report: &EvalReport, row_set: &str, set: &str) -> String {
    let protocols: &[&str] = if set == "hard" {
        &["hard"]
    } else {
        &["pair", "all", "vocab"]
    };
    let parts: Vec<String> = protocols
        .iter()
        .filter_map(|p| {
            report
                .row(row_set, p)
                .map(|r| format!("{p} {:.2}%", 100.0 * r.accuracy))
        })
        .collect();
    format!("accuracy: {}", parts.join(", "))
}

/// Fits and draws one UMAP per prompt set; returns every file written.
pub fn umap(params: &UmapFigures, observer: &dyn Observer) -> Result<Vec<PathBuf>> {
    if let Some(out) = &params.out {
        super::check_output_folder(out)?;
    }
    let images = Embeddings::load(&params.images)?;
    let texts = Embeddings::load(&params.eval.join("texts.safetensors"))?;
    let EvalFolder {
        report,
        catalogue,
        fingerprint,
        run,
        ..
    } = read_eval(&params.eval)?;
    // With `eval --finetuned`, each set is drawn again with the fine-tuned text embeddings,
    // as `umap-METHOD+SET`.
    let finetuned = match run.as_ref().and_then(|r| r.finetuned.as_ref()) {
        Some(info) => {
            let path = params.eval.join(super::evaluate::FINETUNED_TEXTS);
            Some((info.params.method.as_str(), Embeddings::load(&path)?))
        }
        None => None,
    };
    if images.classes != report.classes || images.len() != report.images {
        return Err(StudyError::Input(format!(
            "{} is not the image file {} evaluated ({} images, classes differ or count differs)",
            params.images.display(),
            params.eval.display(),
            report.images
        ))
        .into());
    }
    let out = params.out.clone().unwrap_or_else(|| params.eval.clone());
    let sets = if params.sets.is_empty() {
        catalogue.sets()
    } else {
        params.sets.clone()
    };
    let model = images.info.get("model").cloned().unwrap_or_default();
    let random = Path::new(&model).join(RANDOM_WEIGHTS_MARKER).exists();
    let data = images.info.get("data").cloned().unwrap_or_default();
    let labels = images.labels.as_ref().expect("image files have labels");
    let umap_params = params.settings.params();
    // Every set is checked before the first figure, so a typo in the last one leaves no
    // half-finished output.
    for set in &sets {
        if texts_to_plot(&catalogue, set).is_empty() {
            return Err(StudyError::Input(format!(
                "--sets: {set:?} has no texts in {} (sets: {})",
                params.eval.display(),
                catalogue.sets().join(", ")
            ))
            .into());
        }
    }
    for label in &params.settings.labels {
        if !sets.iter().any(|set| {
            texts_to_plot(&catalogue, set)
                .iter()
                .any(|t| &t.text == label)
        }) {
            observer.status(&format!(
                "note: --label {label:?} matches no plotted text, so nothing is labelled for it"
            ));
        }
    }
    let mut written = Vec::new();
    let mut drawings: Vec<(String, &String, &Embeddings)> =
        sets.iter().map(|set| (set.clone(), set, &texts)).collect();
    if let Some((method, finetuned_texts)) = &finetuned {
        drawings.extend(
            sets.iter()
                .map(|set| (finetuned_set(method, set), set, finetuned_texts)),
        );
    }
    for (name, set, texts) in drawings {
        let (name, set) = (&name, set);
        let started = Instant::now();
        let plotted = texts_to_plot(&catalogue, set);
        let mut data_rows = images.data.clone();
        for t in &plotted {
            let i = texts.ids.iter().position(|x| *x == t.text).ok_or_else(|| {
                StudyError::Input(format!("text {:?} is not in the text embeddings", t.text))
            })?;
            data_rows.extend_from_slice(texts.row(i));
        }
        let n = images.len() + plotted.len();
        let embedding = umap_params.fit(&data_rows, n, images.dim)?;
        let coords = &embedding.coords;
        let scatter_images: Vec<ScatterImage> = (0..images.len())
            .map(|i| ScatterImage {
                x: coords[i][0],
                y: coords[i][1],
                class: labels[i] as usize,
            })
            .collect();
        let mut wanted = default_labels(&catalogue, set, params.settings.top_labels, &plotted);
        wanted.extend(params.settings.labels.iter().cloned());
        let scatter_texts: Vec<ScatterText> = plotted
            .iter()
            .enumerate()
            .map(|(k, t)| ScatterText {
                x: coords[images.len() + k][0],
                y: coords[images.len() + k][1],
                class: t.subject,
                object_class: t.object,
                text: t.text.clone(),
                label: wanted.contains(&t.text),
            })
            .collect();
        let accuracy_set = if name == set {
            set.clone()
        } else {
            name.replacen('+', "/", 1)
        };
        let figure = JointFigure {
            title: if name == set {
                format!("UMAP of image features (circles) and {set} texts (stars)")
            } else {
                format!(
                    "UMAP of image features (circles) and fine-tuned ({}) {set} texts (stars)",
                    name.split('+').next().unwrap_or_default()
                )
            },
            subtitle: Some(format!(
                "{}{model} · {data} · {} images · {}",
                if random {
                    "RANDOM-WEIGHT MODEL · "
                } else {
                    ""
                },
                images.len(),
                accuracy_line(&report, &accuracy_set, set)
            )),
            classes: &images.classes,
            images: &scatter_images,
            texts: &scatter_texts,
            ..Default::default()
        };
        written.extend(draw_joint(
            &figure,
            &figure_stem(&out, &format!("umap-{name}")),
        )?);
        let csv = out.join("umap").join(format!("umap-{name}.csv"));
        write_atomic_with(&csv, |w| {
            use std::io::Write;
            writeln!(w, "kind,id,class,x,y")?;
            for (i, p) in scatter_images.iter().enumerate() {
                writeln!(
                    w,
                    "image,{},{},{},{}",
                    csv_field(&images.ids[i]),
                    p.class,
                    p.x,
                    p.y
                )?;
            }
            for t in &scatter_texts {
                writeln!(w, "text,{},{},{},{}", csv_field(&t.text), t.class, t.x, t.y)?;
            }
            Ok(())
        })?;
        written.push(csv);
        let provenance = provenance_path(&out, name);
        write_atomic(&provenance, format!("{fingerprint}\n").as_bytes())?;
        written.push(provenance);
        observer.status(&format!(
            "umap {name}: {} images + {} texts in {:.1}s",
            images.len(),
            plotted.len(),
            started.elapsed().as_secs_f64()
        ));
    }
    Ok(written)
}
