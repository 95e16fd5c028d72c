//! Checking texts against the text encoder's context length without a model.
//!
//! CLIP's tokenizer would truncate an over-long prompt to 77 tokens and the
//! encoder would embed a different text than the one we think we tested. We
//! therefore check every text up front and report each one that does not fit;
//! nothing here ever shortens a text.

use std::fmt;

use crate::prompts::error::PromptError;

/// CLIP's text context length, start-of-text and end-of-text tokens included.
pub const CLIP_CONTEXT_LENGTH: usize = 77;

/// Counts tokens the way the real tokenizer would.
///
/// Contract: return the length of the token sequence the text encoder sees,
/// *including* special tokens (for CLIP: start-of-text and end-of-text), so
/// that a text fits when `count(text) <= CLIP_CONTEXT_LENGTH`.
pub trait TokenCounter {
    /// The number of tokens `text` becomes.
    fn count(&self, text: &str) -> usize;
}

/// Any `Fn(&str) -> usize` is a counter, which keeps tests and adapters short.
impl<F> TokenCounter for F
where
    F: Fn(&str) -> usize,
{
    fn count(&self, text: &str) -> usize {
        self(text)
    }
}

/// A text that does not fit, with its position in the checked sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverLongText {
    /// Position of the text in the sequence given to the check.
    pub index: usize,
    /// The full, untouched text.
    pub text: String,
    /// Its token count under the counter used.
    pub tokens: usize,
}

/// The result of a length check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LengthReport {
    /// The token limit checked against.
    pub limit: usize,
    /// How many texts were checked.
    pub checked: usize,
    /// Every text over the limit, in input order.
    pub over_limit: Vec<OverLongText>,
}

impl LengthReport {
    /// True when every text fits.
    pub fn all_fit(&self) -> bool {
        self.over_limit.is_empty()
    }
}

impl fmt::Display for LengthReport {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{} of {} texts exceed the {}-token context",
            self.over_limit.len(),
            self.checked,
            self.limit
        )?;
        for over_long in &self.over_limit {
            write!(
                formatter,
                "\n  text {} ({} tokens): {:?}",
                over_long.index, over_long.tokens, over_long.text
            )?;
        }
        Ok(())
    }
}

/// Counts every text and lists those with more than `limit` tokens.
pub fn check_token_lengths<'a, I, C>(texts: I, counter: &C, limit: usize) -> LengthReport
where
    I: IntoIterator<Item = &'a str>,
    C: TokenCounter + ?Sized,
{
    let mut checked: usize = 0;
    let mut over_limit: Vec<OverLongText> = Vec::new();
    for (index, text) in texts.into_iter().enumerate() {
        checked += 1;
        let tokens: usize = counter.count(text);
        if tokens > limit {
            over_limit.push(OverLongText {
                index,
                text: text.to_string(),
                tokens,
            });
        }
    }
    LengthReport {
        limit,
        checked,
        over_limit,
    }
}

/// Like [`check_token_lengths`], but an error when any text is too long.
pub fn ensure_token_lengths<'a, I, C>(
    texts: I,
    counter: &C,
    limit: usize,
) -> Result<LengthReport, PromptError>
where
    I: IntoIterator<Item = &'a str>,
    C: TokenCounter + ?Sized,
{
    let report: LengthReport = check_token_lengths(texts, counter, limit);
    if report.all_fit() {
        Ok(report)
    } else {
        Err(PromptError::TextsTooLong(report))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words_plus_special_tokens(text: &str) -> usize {
        text.split_whitespace().count() + 2
    }

    #[test]
    fn reports_each_over_long_text_in_full() {
        let long_text: String = vec!["word"; 80].join(" ");
        let texts: [&str; 3] = [
            "a photo of a cat.",
            long_text.as_str(),
            "dog look like a cat",
        ];
        let report: LengthReport =
            check_token_lengths(texts, &words_plus_special_tokens, CLIP_CONTEXT_LENGTH);
        assert_eq!(report.checked, 3);
        assert_eq!(
            report.over_limit,
            vec![OverLongText {
                index: 1,
                text: long_text.clone(),
                tokens: 82
            }]
        );
        let error: PromptError =
            ensure_token_lengths(texts, &words_plus_special_tokens, CLIP_CONTEXT_LENGTH)
                .unwrap_err();
        assert!(error
            .to_string()
            .starts_with("1 of 3 texts exceed the 77-token context\n  text 1 (82 tokens)"));
    }

    #[test]
    fn limit_is_inclusive() {
        let exactly_at_limit: String = vec!["w"; 75].join(" ");
        assert!(check_token_lengths(
            [exactly_at_limit.as_str()],
            &words_plus_special_tokens,
            CLIP_CONTEXT_LENGTH
        )
        .all_fit());
    }
}
