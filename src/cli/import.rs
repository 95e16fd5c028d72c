//! `softtext import-embeddings`.

use std::path::PathBuf;

use clap::Args;
use softtext::observe::Observer;
use softtext::study::{import_embeddings, EmbeddingImport, ImportRows};
use softtext::Result;

const AFTER_HELP: &str = "\
Images: --ids gives each row's id and label (CSV with `id` and `label` columns, or JSON
[{\"id\": ..., \"label\": ...}] or {\"ids\": [...], \"labels\": [...]}; a label is a class
index or a class name) and --classes the class names in label order (one per line or a JSON
array). Texts: --texts gives each row's text (one per line or a JSON array).

Every row is checked (finite, not zero; one id per row; no repeated id or text; labels that
name a class) before anything is written. Rows that are not unit vectors are L2-normalised,
and the import says how many. The file records its source (path, BLAKE3, array name).

Examples:
  softtext import-embeddings --array feats.npy --ids meta.csv --classes classes.txt \\
      --model open_clip:ViT-L-14/laion2b --out images.safetensors
  softtext import-embeddings --array text_feats.npz --array-name texts --texts texts.txt \\
      --like images.safetensors --model open_clip:ViT-L-14/laion2b --out texts.safetensors
  softtext eval --images images.safetensors --texts texts.safetensors --aux self --out eval";

#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub struct ImportArgs {
    /// The `[N, D]` float array: .npy, .npz or .safetensors.
    #[arg(long, value_name = "FILE")]
    pub array: PathBuf,
    /// The array's name in an .npz or safetensors file holding several.
    #[arg(long, value_name = "NAME")]
    pub array_name: Option<String>,
    /// Image rows: each row's id and label (.csv or .json).
    #[arg(
        long,
        value_name = "FILE",
        requires = "classes",
        conflicts_with = "texts"
    )]
    pub ids: Option<PathBuf>,
    /// Image rows: the class names in label order (one per line, or .json).
    #[arg(long, value_name = "FILE", requires = "ids")]
    pub classes: Option<PathBuf>,
    /// Text rows: each row's text (one per line, or .json).
    #[arg(long, value_name = "FILE", required_unless_present = "ids")]
    pub texts: Option<PathBuf>,
    /// The model that made the features, recorded in the file (e.g. open_clip:ViT-L-14/laion2b).
    #[arg(long, value_name = "NAME")]
    pub model: String,
    /// An embedding file the import must match in width (the images texts are imported for).
    #[arg(long, value_name = "FILE.safetensors")]
    pub like: Option<PathBuf>,
    /// The softtext embedding file to write.
    #[arg(long, value_name = "OUT.safetensors")]
    pub out: PathBuf,
}

pub fn run(args: ImportArgs, observer: &dyn Observer) -> Result<()> {
    let rows = match (args.ids, args.classes, args.texts) {
        (Some(meta), Some(classes), None) => ImportRows::Images { meta, classes },
        (None, None, Some(texts)) => ImportRows::Texts { texts },
        _ => {
            return Err(softtext::study::StudyError::Config(
                "give --ids and --classes (image rows) or --texts (text rows)".into(),
            )
            .into())
        }
    };
    let import = EmbeddingImport {
        array: args.array,
        array_name: args.array_name,
        rows,
        model: args.model,
        like: args.like,
    };
    import_embeddings(&import, &args.out, observer).map(|_| ())
}
