//! Example and dev tool: fit UMAP to the `embeddings` tensor of a softtext safetensors
//! file and write the 2-D coordinates (and the fit's wall time) for
//! `tools/umap_compare.py`.
//!
//! usage: dev_umap_features IN.safetensors OUT.safetensors [--seed N] [--metric cosine|euclidean]
//!        [--n-neighbors K] [--n-epochs E] [--init spectral|pca|random]

use std::collections::HashMap;
use std::time::Instant;

use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use softtext::umap::{Init, Metric, UmapParams};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        return Err("usage: dev_umap_features IN.safetensors OUT.safetensors [--seed N] [--metric M] [--n-neighbors K] [--n-epochs E] [--init I]".into());
    }
    let mut params = UmapParams::new();
    let mut it = args[3..].iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        params = match flag.as_str() {
            "--seed" => params.seed(value.parse()?),
            "--n-neighbors" => params.n_neighbors(value.parse()?),
            "--n-epochs" => params.n_epochs(Some(value.parse()?)),
            "--metric" => params.metric(match value.as_str() {
                "cosine" => Metric::Cosine,
                "euclidean" => Metric::Euclidean,
                m => return Err(format!("unknown metric {m}").into()),
            }),
            "--init" => params.init(match value.as_str() {
                "spectral" => Init::Spectral,
                "pca" => Init::Pca,
                "random" => Init::Random,
                m => return Err(format!("unknown init {m}").into()),
            }),
            f => return Err(format!("unknown flag {f}").into()),
        };
    }
    let bytes = std::fs::read(&args[1])?;
    let st = SafeTensors::deserialize(&bytes)?;
    let emb = st.tensor("embeddings")?;
    if emb.dtype() != Dtype::F32 || emb.shape().len() != 2 {
        return Err(format!(
            "`embeddings` must be 2-D f32, got {:?} {:?}",
            emb.dtype(),
            emb.shape()
        )
        .into());
    }
    let (n, dim) = (emb.shape()[0], emb.shape()[1]);
    let data: Vec<f32> = emb
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();

    let start = Instant::now();
    let fitted = params.fit(&data, n, dim)?;
    let wall = start.elapsed().as_secs_f64();

    let coords: Vec<u8> = fitted
        .flat_coords()
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    let view = TensorView::new(Dtype::F32, vec![n, 2], &coords)?;
    let mut meta = HashMap::new();
    meta.insert("wall_s".to_string(), format!("{wall:.4}"));
    meta.insert("init_used".to_string(), format!("{:?}", fitted.init.used));
    meta.insert(
        "init_fallback".to_string(),
        format!("{:?}", fitted.init.fallback),
    );
    meta.insert("n_epochs".to_string(), fitted.n_epochs_used.to_string());
    meta.insert(
        "threads".to_string(),
        rayon::current_num_threads().to_string(),
    );
    safetensors::serialize_to_file(
        [("coords", view)],
        Some(meta),
        std::path::Path::new(&args[2]),
    )?;
    eprintln!(
        "dev_umap_features: {n} x {dim} -> 2-D in {wall:.3} s (init {:?}, fallback {:?}, residual {:?}, {} edges, a={:.4} b={:.4})",
        fitted.init.used, fitted.init.fallback, fitted.init.spectral_residual, fitted.n_edges, fitted.a, fitted.b
    );
    Ok(())
}
