//! Subject-share parameters, validated once before any work (linfa's params / check pattern):
//! [`SubjectShareParams`] is what a caller or a config file sets, [`ValidSubjectShareParams`]
//! what [`super::subject_share`] accepts.

use serde::{Deserialize, Serialize};

use super::error::SubjectShareError;

/// The paper's two Figure 4 texts, listed in every report that encoded them.
pub const PAPER_TEXTS: [&str; 2] = ["automobile look like a truck", "dog look like a cat"];

/// A setting of [`SubjectShareParams`], carried by [`SubjectShareError::InvalidParam`] so a
/// caller can map it to its own option name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubjectShareParam {
    /// [`SubjectShareParams::k`]: at least 1.
    K,
    /// [`SubjectShareParams::lowest`]: any value (0 lists none).
    Lowest,
    /// [`SubjectShareParams::texts`]: no empty or repeated text.
    Texts,
    /// [`SubjectShareParams::list_limit`]: any value (0 lists only [`SubjectShareParams::texts`]).
    ListLimit,
}

impl SubjectShareParam {
    /// The field name, as the config file spells it (`k`, `list_limit`).
    pub fn name(self) -> &'static str {
        match self {
            SubjectShareParam::K => "k",
            SubjectShareParam::Lowest => "lowest",
            SubjectShareParam::Texts => "texts",
            SubjectShareParam::ListLimit => "list_limit",
        }
    }
}

/// Subject-share settings as the caller gives them; [`SubjectShareParams::check`] validates.
///
/// It is also the `[eval.subject_share]` table of a study config: every field may be left
/// out, and an unknown one is an error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SubjectShareParams {
    k: usize,
    lowest: usize,
    texts: Vec<String>,
    list_limit: usize,
}

impl Default for SubjectShareParams {
    /// k = 50 neighbours, the 10 lowest texts per relation, the paper's two Figure 4 texts
    /// always listed, and every text listed up to 1,000 soft texts (CIFAR-10 plans at most
    /// 270; CIFAR-100 up to 29,700, whose list would add megabytes to `table.json`).
    fn default() -> Self {
        SubjectShareParams {
            k: 50,
            lowest: 10,
            texts: PAPER_TEXTS.map(String::from).to_vec(),
            list_limit: 1000,
        }
    }
}

impl SubjectShareParams {
    /// Image neighbours of each text (cosine); capped at the number of images.
    pub fn k(mut self, k: usize) -> Self {
        self.k = k;
        self
    }

    /// Texts with the lowest share listed per relation.
    pub fn lowest(mut self, lowest: usize) -> Self {
        self.lowest = lowest;
        self
    }

    /// Texts whose share is always listed (when they were encoded), however many there are.
    pub fn texts<S: AsRef<str>>(mut self, texts: &[S]) -> Self {
        self.texts = texts.iter().map(|t| t.as_ref().to_string()).collect();
        self
    }

    /// Every text's share is listed when there are at most this many soft texts; above it,
    /// only [`SubjectShareParams::texts`] and each relation's lowest.
    pub fn list_limit(mut self, limit: usize) -> Self {
        self.list_limit = limit;
        self
    }

    /// Validates every setting; errors name the parameter.
    pub fn check(self) -> Result<ValidSubjectShareParams, SubjectShareError> {
        let invalid = |param, message: String| SubjectShareError::InvalidParam { param, message };
        if self.k == 0 {
            return Err(invalid(
                SubjectShareParam::K,
                "must be at least 1 (got 0)".into(),
            ));
        }
        for (index, text) in self.texts.iter().enumerate() {
            if text.trim().is_empty() {
                return Err(invalid(
                    SubjectShareParam::Texts,
                    format!("entry {index} is empty"),
                ));
            }
            if let Some(first) = self.texts[..index].iter().position(|t| t == text) {
                return Err(invalid(
                    SubjectShareParam::Texts,
                    format!("entry {index} repeats entry {first}: {text:?}"),
                ));
            }
        }
        Ok(ValidSubjectShareParams(self))
    }
}

/// Checked settings; only [`SubjectShareParams::check`] makes one.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidSubjectShareParams(SubjectShareParams);

impl Default for ValidSubjectShareParams {
    fn default() -> Self {
        SubjectShareParams::default()
            .check()
            .expect("the default subject-share parameters are valid")
    }
}

impl ValidSubjectShareParams {
    /// Image neighbours per text, as set (the analysis caps it at the image count).
    pub fn k(&self) -> usize {
        self.0.k
    }

    /// Lowest-share texts listed per relation.
    pub fn lowest(&self) -> usize {
        self.0.lowest
    }

    /// Texts always listed.
    pub fn texts(&self) -> &[String] {
        &self.0.texts
    }

    /// Soft-text count up to which every text is listed.
    pub fn list_limit(&self) -> usize {
        self.0.list_limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k_zero_is_a_one_line_error_naming_k() {
        let e = SubjectShareParams::default().k(0).check().unwrap_err();
        assert!(matches!(
            e,
            SubjectShareError::InvalidParam {
                param: SubjectShareParam::K,
                ..
            }
        ));
        let message = e.to_string();
        assert_eq!(
            message,
            "subject share parameter `k`: must be at least 1 (got 0)"
        );
        assert!(!message.contains('\n'));
    }

    #[test]
    fn texts_must_be_non_empty_and_distinct() {
        let e = SubjectShareParams::default()
            .texts(&["a", " "])
            .check()
            .unwrap_err();
        assert!(e.to_string().contains("`texts`: entry 1 is empty"), "{e}");
        let e = SubjectShareParams::default()
            .texts(&["a", "b", "a"])
            .check()
            .unwrap_err();
        assert!(e.to_string().contains("entry 2 repeats entry 0"), "{e}");
    }

    #[test]
    fn defaults_are_valid_and_config_tables_fill_in_the_rest() {
        let valid = ValidSubjectShareParams::default();
        assert_eq!(
            (valid.k(), valid.lowest(), valid.list_limit()),
            (50, 10, 1000)
        );
        assert_eq!(valid.texts(), PAPER_TEXTS);
        let parsed: SubjectShareParams = toml::from_str("k = 7").unwrap();
        assert_eq!(parsed, SubjectShareParams::default().k(7));
        let e = toml::from_str::<SubjectShareParams>("kk = 7").unwrap_err();
        assert!(e.to_string().contains("unknown field `kk`"), "{e}");
    }
}
