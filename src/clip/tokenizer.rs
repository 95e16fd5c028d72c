//! OpenAI CLIP's tokenizer: text clean-up, byte-level BPE with `</w>` word ends, start and end
//! markers, and a fixed context of 77 ids padded with zeros.
//!
//! The BPE itself runs through the `tokenizers` crate on a Hugging Face `tokenizer.json`
//! (the one shipped with every CLIP checkpoint, or `fixtures/tokenizer/tokenizer.json` built
//! from OpenAI's vocabulary by `tools/make_fixtures.py`). What `tokenizer.json` cannot express
//! of OpenAI's `SimpleTokenizer` is done here: HTML entities are unescaped twice and the text
//! is trimmed, and the start/end ids and zero padding are applied by hand so a checkpoint's
//! post-processor or padding settings cannot change the ids. OpenAI's `ftfy.fix_text` (repair
//! of mis-decoded text such as "cafÃ©") is not applied; on well-formed text it only applies
//! NFC, which the normaliser in `tokenizer.json` does.

use std::path::Path;

use super::ClipError;
use crate::artifact::IoContext;

type Result<T, E = ClipError> = std::result::Result<T, E>;

/// CLIP's text context, in ids, start and end markers included.
pub const CONTEXT_LENGTH: usize = 77;
/// The start marker, the first id of every context.
pub const START_OF_TEXT: &str = "<|startoftext|>";
/// The end marker, right after the text's last BPE id; the text tower pools here.
pub const END_OF_TEXT: &str = "<|endoftext|>";

/// CLIP's tokenizer: a `tokenizer.json` plus OpenAI's clean-up, markers and padding, giving
/// exactly the ids of OpenAI's `clip.tokenize`.
#[derive(Clone)]
pub struct ClipTokenizer {
    inner: tokenizers::Tokenizer,
    start_id: u32,
    end_id: u32,
}

/// What to do with a text longer than the context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overflow {
    /// Refuse it with an error naming the text (the default: a silently cut prompt is a
    /// different prompt).
    #[default]
    Error,
    /// Keep the first 76 ids and end with `<|endoftext|>`, as OpenAI's `truncate=True`.
    Truncate,
}

impl ClipTokenizer {
    /// Reads a `tokenizer.json`: [`ClipError::Missing`] when the file is not there,
    /// [`ClipError::Checkpoint`] when it is not a tokenizer with CLIP's markers.
    pub fn from_file(path: &Path) -> Result<Self> {
        if !path.exists() {
            return Err(ClipError::Missing(format!(
                "{}: tokenizer.json not found",
                path.display()
            )));
        }
        let bytes = std::fs::read(path).at(path)?;
        Self::from_bytes(&bytes, path)
    }

    /// OpenAI's CLIP vocabulary (the one every CLIP checkpoint ships), built into the binary
    /// from `fixtures/tokenizer/tokenizer.json` so tokenizing needs no checkpoint.
    pub fn openai() -> Result<Self> {
        Self::from_bytes(
            include_bytes!("../../fixtures/tokenizer/tokenizer.json"),
            Path::new("<built-in tokenizer.json>"),
        )
    }

    /// A tokenizer from `tokenizer.json`'s bytes; `origin` names the source in error
    /// messages.
    pub fn from_bytes(bytes: &[u8], origin: &Path) -> Result<Self> {
        let path = origin;
        let mut inner = tokenizers::Tokenizer::from_bytes(bytes)
            .map_err(|e| ClipError::checkpoint(path, format!("not a tokenizer.json: {e}")))?;
        inner.with_padding(None);
        inner
            .with_truncation(None)
            .map_err(|e| ClipError::checkpoint(path, e.to_string()))?;
        let id = |token: &str| {
            inner.token_to_id(token).ok_or_else(|| {
                ClipError::checkpoint(path, format!("vocabulary has no {token} token"))
            })
        };
        let (start_id, end_id) = (id(START_OF_TEXT)?, id(END_OF_TEXT)?);
        Ok(Self {
            inner,
            start_id,
            end_id,
        })
    }

    /// The id of [`START_OF_TEXT`].
    pub fn start_id(&self) -> u32 {
        self.start_id
    }

    /// The id of [`END_OF_TEXT`].
    pub fn end_id(&self) -> u32 {
        self.end_id
    }

    /// BPE ids of the cleaned text, without start/end markers.
    pub fn bpe_ids(&self, text: &str) -> Result<Vec<u32>> {
        let cleaned = clean_text(text);
        let encoding = self
            .inner
            .encode(cleaned.as_str(), false)
            .map_err(|e| ClipError::invalid(format!("cannot tokenize {text:?}: {e}")))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Number of ids the text takes in the context, markers included.
    pub fn token_count(&self, text: &str) -> Result<usize> {
        Ok(self.bpe_ids(text)?.len() + 2)
    }

    /// The 77 ids CLIP's text encoder takes for `text`: start marker, BPE ids, end marker,
    /// zeros. A text over [`CONTEXT_LENGTH`] ids is a [`ClipError::Invalid`] naming it, or
    /// cut, as `overflow` says.
    pub fn encode(&self, text: &str, overflow: Overflow) -> Result<Vec<u32>> {
        let bpe = self.bpe_ids(text)?;
        let mut ids = Vec::with_capacity(CONTEXT_LENGTH);
        ids.push(self.start_id);
        let room = CONTEXT_LENGTH - 2;
        if bpe.len() > room {
            match overflow {
                Overflow::Error => {
                    return Err(ClipError::invalid(format!(
                        "text {text:?} is {} tokens long; CLIP's context holds {CONTEXT_LENGTH} \
                         (pass --truncate to keep the first {})",
                        bpe.len() + 2,
                        CONTEXT_LENGTH - 1
                    )))
                }
                Overflow::Truncate => ids.extend_from_slice(&bpe[..room]),
            }
        } else {
            ids.extend_from_slice(&bpe);
        }
        ids.push(self.end_id);
        ids.resize(CONTEXT_LENGTH, 0);
        Ok(ids)
    }

    /// [`ClipTokenizer::encode`] for each text, in order; an error names the text's 1-based
    /// position.
    pub fn encode_all<S: AsRef<str>>(
        &self,
        texts: &[S],
        overflow: Overflow,
    ) -> Result<Vec<Vec<u32>>> {
        texts
            .iter()
            .enumerate()
            .map(|(i, t)| {
                self.encode(t.as_ref(), overflow).map_err(|e| match e {
                    ClipError::Invalid(m) => ClipError::Invalid(format!("text {}: {m}", i + 1)),
                    other => other,
                })
            })
            .collect()
    }
}

/// OpenAI's `basic_clean` without ftfy: HTML entities unescaped twice, then trimmed.
/// Whitespace folding and lower-casing happen in the `tokenizer.json` normaliser.
fn clean_text(text: &str) -> String {
    let once = htmlize::unescape(text);
    let twice = htmlize::unescape(once.as_ref());
    twice.trim().to_string()
}
