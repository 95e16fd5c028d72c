//! `softtext umap`.

use std::path::PathBuf;

use clap::Args;
use softtext::observe::Observer;
use softtext::study::{umap, UmapFigures, UmapSettings};
use softtext::Result;

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
    #[arg(long, default_value_t = UmapSettings::default().top_labels)]
    pub top_labels: usize,
    /// UMAP neighbourhood size.
    #[arg(long, default_value_t = UmapSettings::default().n_neighbors)]
    pub n_neighbors: usize,
    /// UMAP minimum distance between embedded points.
    #[arg(long, default_value_t = UmapSettings::default().min_dist)]
    pub min_dist: f32,
    /// SGD epochs (default: 500 up to 10,000 points, else 200, as umap-learn).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Seed: the same inputs, parameters and seed give identical coordinates.
    #[arg(long, default_value_t = UmapSettings::default().seed)]
    pub seed: u64,
}

pub fn run(args: UmapArgs, observer: &dyn Observer) -> Result<()> {
    let figures = UmapFigures {
        images: args.images,
        eval: args.eval,
        out: args.out,
        sets: args.sets,
        settings: UmapSettings {
            enabled: true,
            n_neighbors: args.n_neighbors,
            min_dist: args.min_dist,
            epochs: args.epochs,
            seed: args.seed,
            labels: args.label,
            top_labels: args.top_labels,
        },
    };
    for path in umap(&figures, observer)? {
        observer.status(&format!("wrote {}", path.display()));
    }
    Ok(())
}
