//! `softtext tokenize`.

use clap::Args;
use softtext::clip::tokenizer::{ClipTokenizer, Overflow};
use softtext::clip::ClipFiles;
use softtext::Result;

#[derive(Debug, Args)]
pub struct TokenizeArgs {
    /// Keep the first 76 tokens of a long text and end it with <|endoftext|> (default: error).
    #[arg(long)]
    truncate: bool,
    /// Print one JSON array holding one array of 77 ids per text.
    #[arg(long)]
    json: bool,
    /// Use the tokenizer.json of this CLIP checkpoint (a complete checkpoint folder or cached
    /// repo id, as for --clip elsewhere) instead of the built-in OpenAI CLIP vocabulary.
    #[arg(long, value_name = "CLIP")]
    clip: Option<String>,
    /// Texts to tokenize.
    #[arg(required = true, value_name = "TEXT")]
    texts: Vec<String>,
}

pub fn run(args: TokenizeArgs) -> Result<()> {
    let tokenizer = match &args.clip {
        Some(spec) => ClipTokenizer::from_file(&ClipFiles::resolve(spec)?.tokenizer)?,
        None => ClipTokenizer::openai()?,
    };
    let overflow = if args.truncate {
        Overflow::Truncate
    } else {
        Overflow::Error
    };
    let ids = tokenizer.encode_all(&args.texts, overflow)?;
    if args.json {
        println!("{}", serde_json::to_string(&ids).expect("ids serialise"));
    } else {
        for row in ids {
            let line: Vec<String> = row.iter().map(u32::to_string).collect();
            println!("{}", line.join(" "));
        }
    }
    Ok(())
}
