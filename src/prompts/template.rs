//! Parsing prompt templates into literal text and named slots.
//!
//! Both hard and soft templates share one small syntax so that users learn it
//! once: `{}` is the class of a hard template; `{x}`, `{y}` are the two classes
//! of a soft text, `{a}` is the article for `{y}` and `{ax}` the article for
//! `{x}`. `{{` and `}}` stand for literal braces. Any other use of a brace is
//! an error rather than literal text, because a typo such as `{X}` would
//! otherwise silently produce prompts that never mention the class.

use thiserror::Error;

/// A placeholder in a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Slot {
    /// `{}`: the class of a hard template.
    Class,
    /// `{x}`: the first class of a soft text (the one the image is said to be).
    X,
    /// `{y}`: the second class of a soft text (the one it looks like).
    Y,
    /// `{ax}`: the indefinite article for `{x}`.
    ArticleX,
    /// `{a}`: the indefinite article for `{y}`.
    ArticleY,
}

impl Slot {
    /// The slot as written in a template, e.g. `"{x}"`.
    pub fn token(self) -> &'static str {
        match self {
            Slot::Class => "{}",
            Slot::X => "{x}",
            Slot::Y => "{y}",
            Slot::ArticleX => "{ax}",
            Slot::ArticleY => "{a}",
        }
    }

    fn from_name(name: &str) -> Option<Slot> {
        match name {
            "" => Some(Slot::Class),
            "x" => Some(Slot::X),
            "y" => Some(Slot::Y),
            "ax" => Some(Slot::ArticleX),
            "a" => Some(Slot::ArticleY),
            _ => None,
        }
    }
}

/// Why a template string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TemplateError {
    /// A `{...}` whose name is not one of the known slots.
    #[error("unknown slot {slot:?} at byte {byte}; known slots are {{}}, {{x}}, {{y}}, {{a}}, {{ax}} (write {{{{ or }}}} for a literal brace)")]
    UnknownSlot {
        /// The slot as written, braces included.
        slot: String,
        /// Byte offset of its opening brace.
        byte: usize,
    },
    /// A `{` without a closing `}`, or a lone `}`.
    #[error("unmatched brace at byte {byte} (write {{{{ or }}}} for a literal brace)")]
    UnmatchedBrace {
        /// Byte offset of the brace.
        byte: usize,
    },
    /// A known slot that this kind of template does not accept.
    #[error("slot {slot} is not allowed in a {kind} template")]
    SlotNotAllowed {
        /// The slot as written.
        slot: &'static str,
        /// `"hard"` or `"soft"`.
        kind: &'static str,
    },
    /// A slot that appears the wrong number of times.
    #[error("slot {slot} must appear {expected}, found {found}")]
    SlotCount {
        /// The slot as written.
        slot: &'static str,
        /// `"exactly once"` or `"at most once"`.
        expected: &'static str,
        /// How often it appeared.
        found: usize,
    },
    /// `{y}` placed before `{x}`; soft texts always name the image's own
    /// class first.
    #[error("slot {{x}} must come before slot {{y}}")]
    YBeforeX,
}

/// A parsed piece of a template.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Segment {
    Literal(String),
    Slot(Slot),
}

/// Splits `template` into literal text (escapes resolved) and slots.
pub(crate) fn parse_segments(template: &str) -> Result<Vec<Segment>, TemplateError> {
    let mut segments: Vec<Segment> = Vec::new();
    let mut literal: String = String::new();
    let mut characters = template.char_indices().peekable();
    while let Some((byte, character)) = characters.next() {
        match character {
            '{' if characters.peek().map(|&(_, next)| next) == Some('{') => {
                characters.next();
                literal.push('{');
            }
            '}' if characters.peek().map(|&(_, next)| next) == Some('}') => {
                characters.next();
                literal.push('}');
            }
            '}' => return Err(TemplateError::UnmatchedBrace { byte }),
            '{' => {
                let after_brace: &str = &template[byte + 1..];
                let name_length: usize = after_brace
                    .find('}')
                    .ok_or(TemplateError::UnmatchedBrace { byte })?;
                let name: &str = &after_brace[..name_length];
                let slot: Slot =
                    Slot::from_name(name).ok_or_else(|| TemplateError::UnknownSlot {
                        slot: format!("{{{name}}}"),
                        byte,
                    })?;
                if !literal.is_empty() {
                    segments.push(Segment::Literal(std::mem::take(&mut literal)));
                }
                segments.push(Segment::Slot(slot));
                // Skip the slot's name and its closing brace.
                for _ in 0..name.chars().count() + 1 {
                    characters.next();
                }
            }
            other => literal.push(other),
        }
    }
    if !literal.is_empty() {
        segments.push(Segment::Literal(literal));
    }
    Ok(segments)
}

/// How often `slot` occurs in `segments`.
pub(crate) fn count_slot(segments: &[Segment], slot: Slot) -> usize {
    segments
        .iter()
        .filter(|segment| **segment == Segment::Slot(slot))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn literal(text: &str) -> Segment {
        Segment::Literal(text.to_string())
    }

    #[test]
    fn splits_literals_and_slots() {
        let segments: Vec<Segment> = parse_segments("a photo of {ax} {x} like {a} {y}.").unwrap();
        assert_eq!(
            segments,
            vec![
                literal("a photo of "),
                Segment::Slot(Slot::ArticleX),
                literal(" "),
                Segment::Slot(Slot::X),
                literal(" like "),
                Segment::Slot(Slot::ArticleY),
                literal(" "),
                Segment::Slot(Slot::Y),
                literal("."),
            ]
        );
    }

    #[test]
    fn double_braces_are_literal() {
        let segments: Vec<Segment> = parse_segments("{{{}}}").unwrap();
        assert_eq!(
            segments,
            vec![literal("{"), Segment::Slot(Slot::Class), literal("}")]
        );
    }

    #[test]
    fn rejects_unknown_slots_and_stray_braces() {
        assert_eq!(
            parse_segments("a {X} b"),
            Err(TemplateError::UnknownSlot {
                slot: "{X}".to_string(),
                byte: 2
            })
        );
        assert_eq!(
            parse_segments("a {x"),
            Err(TemplateError::UnmatchedBrace { byte: 2 })
        );
        assert_eq!(
            parse_segments("a } b"),
            Err(TemplateError::UnmatchedBrace { byte: 2 })
        );
    }

    #[test]
    fn unicode_literals_survive() {
        let segments: Vec<Segment> = parse_segments("ein Foto von {} – schön").unwrap();
        assert_eq!(
            segments,
            vec![
                literal("ein Foto von "),
                Segment::Slot(Slot::Class),
                literal(" – schön")
            ]
        );
    }
}
