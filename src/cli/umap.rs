use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;

use super::status;
use crate::artifact::{write_atomic, write_atomic_with};
use crate::embeddings::Embeddings;
use crate::error::{Error, Result};
use crate::report::{draw_joint, figure_stem, JointFigure, ScatterImage, ScatterText};
use crate::umap::UmapParams;
use crate::zeroshot::catalogue::{TextCatalogue, TextEntry};
use crate::zeroshot::EvalReport;

#[derive(Debug, Args)]
pub struct UmapArgs {
    /// Image embedding file (the one `eval` evaluated).
    #[arg(long, value_name = "EMB.safetensors")]
    pub images: PathBuf,
    /// Output folder of `softtext eval` (reads texts.safetensors, texts.json, table.json).
    #[arg(long, value_name = "DIR")]
    pub eval: PathBuf,
    /// Where figures go (OUT/figures/umap-SET.{png,svg}) and coordinates
    /// (OUT/umap/umap-SET.csv); default: the eval folder.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Prompt sets to plot (comma-separated; default: hard and every relation).
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub sets: Vec<String>,
    /// Label this text in the figures (repeatable), e.g. --label "automobile look like a truck".
    #[arg(long, value_name = "TEXT")]
    pub label: Vec<String>,
    /// How many of the most frequent soft texts to label by default in each soft figure.
    #[arg(long, default_value_t = 6)]
    pub top_labels: usize,
    /// UMAP neighbourhood size.
    #[arg(long, default_value_t = 15)]
    pub n_neighbors: usize,
    /// UMAP minimum distance between embedded points.
    #[arg(long, default_value_t = 0.1)]
    pub min_dist: f32,
    /// SGD epochs (default: 500 up to 10,000 points, else 200, as umap-learn).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Seed: the same inputs, parameters and seed give identical coordinates.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

/// An `eval` output folder as the figure commands read it.
pub struct EvalFolder {
    pub report: EvalReport,
    pub catalogue: TextCatalogue,
    /// A content hash of `table.json` and `texts.json`. `umap` records it beside each
    /// figure, and `report` embeds only figures whose hash matches the evaluation it reports,
    /// so a figure left by an earlier run is never shown as current.
    pub fingerprint: String,
}

pub fn read_eval(dir: &Path) -> Result<EvalFolder> {
    let read = |name: &str| -> Result<String> {
        let p = dir.join(name);
        std::fs::read_to_string(&p).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::Missing(format!(
                    "{}: not found; run `softtext eval --out {}` first",
                    p.display(),
                    dir.display()
                ))
            } else {
                Error::io(&p, e)
            }
        })
    };
    let (table, texts) = (read("table.json")?, read("texts.json")?);
    let report: EvalReport = serde_json::from_str(&table)
        .map_err(|e| Error::invalid(format!("{}: {e}", dir.join("table.json").display())))?;
    let catalogue: TextCatalogue = serde_json::from_str(&texts)
        .map_err(|e| Error::invalid(format!("{}: {e}", dir.join("texts.json").display())))?;
    let mut hasher = blake3::Hasher::new();
    hasher.update(table.as_bytes());
    hasher.update(texts.as_bytes());
    Ok(EvalFolder {
        report,
        catalogue,
        fingerprint: hasher.finalize().to_hex().to_string(),
    })
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

fn default_labels(
    catalogue: &TextCatalogue,
    set: &str,
    top: usize,
    plotted: &[&TextEntry],
) -> Vec<String> {
    if set == "hard" {
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

fn accuracy_line(report: &EvalReport, set: &str) -> String {
    let protocols: &[&str] = if set == "hard" {
        &["hard"]
    } else {
        &["pair", "all", "vocab"]
    };
    let parts: Vec<String> = protocols
        .iter()
        .filter_map(|p| {
            report
                .row(set, p)
                .map(|r| format!("{p} {:.2}%", 100.0 * r.accuracy))
        })
        .collect();
    format!("accuracy: {}", parts.join(", "))
}

pub fn run_umap(args: &UmapArgs) -> Result<Vec<PathBuf>> {
    if let Some(out) = &args.out {
        super::check_output_folder(out)?;
    }
    let images = Embeddings::load(&args.images)?;
    let texts = Embeddings::load(&args.eval.join("texts.safetensors"))?;
    let EvalFolder {
        report,
        catalogue,
        fingerprint,
    } = read_eval(&args.eval)?;
    if images.classes != report.classes || images.len() != report.images {
        return Err(Error::invalid(format!(
            "{} is not the image file {} evaluated ({} images, classes differ or count differs)",
            args.images.display(),
            args.eval.display(),
            report.images
        )));
    }
    let out = args.out.clone().unwrap_or_else(|| args.eval.clone());
    let sets = if args.sets.is_empty() {
        catalogue.sets()
    } else {
        args.sets.clone()
    };
    let model = images.info.get("model").cloned().unwrap_or_default();
    let random = Path::new(&model)
        .join(super::eval::RANDOM_WEIGHTS_MARKER)
        .exists();
    let data = images.info.get("data").cloned().unwrap_or_default();
    let labels = images.labels.as_ref().expect("image files have labels");
    let params = UmapParams::new()
        .n_neighbors(args.n_neighbors)
        .min_dist(args.min_dist)
        .n_epochs(args.epochs)
        .seed(args.seed);
    // Every set is checked before the first figure, so a typo in the last one leaves no
    // half-finished output.
    for set in &sets {
        if texts_to_plot(&catalogue, set).is_empty() {
            return Err(Error::invalid(format!(
                "--sets: {set:?} has no texts in {} (sets: {})",
                args.eval.display(),
                catalogue.sets().join(", ")
            )));
        }
    }
    for label in &args.label {
        if !sets.iter().any(|set| {
            texts_to_plot(&catalogue, set)
                .iter()
                .any(|t| &t.text == label)
        }) {
            status(format!(
                "note: --label {label:?} matches no plotted text, so nothing is labelled for it"
            ));
        }
    }
    let mut written = Vec::new();
    for set in &sets {
        let started = Instant::now();
        let plotted = texts_to_plot(&catalogue, set);
        let mut data_rows = images.data.clone();
        for t in &plotted {
            let i = texts.ids.iter().position(|x| *x == t.text).ok_or_else(|| {
                Error::invalid(format!("text {:?} is not in texts.safetensors", t.text))
            })?;
            data_rows.extend_from_slice(texts.row(i));
        }
        let n = images.len() + plotted.len();
        let embedding = params.fit(&data_rows, n, images.dim).map_err(|e| match e {
            crate::umap::UmapError::InvalidParam { param, reason } => {
                let name = param.name();
                let flag = match name {
                    "n_epochs" => "--epochs",
                    "n_neighbors" => "--n-neighbors",
                    "min_dist" => "--min-dist",
                    _ => name,
                };
                let reason =
                    reason.replace("or None for the default", "leave it out for the default");
                Error::invalid(format!("{flag}: {reason}"))
            }
            other => other.into(),
        })?;
        let coords = &embedding.coords;
        let scatter_images: Vec<ScatterImage> = (0..images.len())
            .map(|i| ScatterImage {
                x: coords[i][0],
                y: coords[i][1],
                class: labels[i] as usize,
            })
            .collect();
        let mut wanted = default_labels(&catalogue, set, args.top_labels, &plotted);
        wanted.extend(args.label.iter().cloned());
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
        let figure = JointFigure {
            title: format!("UMAP of image features (circles) and {set} texts (stars)"),
            subtitle: Some(format!(
                "{}{model} · {data} · {} images · {}",
                if random {
                    "RANDOM-WEIGHT MODEL · "
                } else {
                    ""
                },
                images.len(),
                accuracy_line(&report, set)
            )),
            classes: &images.classes,
            images: &scatter_images,
            texts: &scatter_texts,
            ..Default::default()
        };
        written.extend(draw_joint(
            &figure,
            &figure_stem(&out, &format!("umap-{set}")),
        )?);
        let csv = out.join("umap").join(format!("umap-{set}.csv"));
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
        let provenance = provenance_path(&out, set);
        write_atomic(&provenance, format!("{fingerprint}\n").as_bytes())?;
        written.push(provenance);
        status(format!(
            "umap {set}: {} images + {} texts in {:.1}s",
            images.len(),
            plotted.len(),
            started.elapsed().as_secs_f64()
        ));
    }
    Ok(written)
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

pub fn run(args: UmapArgs) -> Result<()> {
    for path in run_umap(&args)? {
        status(format!("wrote {}", path.display()));
    }
    Ok(())
}
