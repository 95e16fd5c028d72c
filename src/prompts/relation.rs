//! Relations: named soft templates such as `{x} look like {a} {y}`.

use std::fmt;
use std::ops::RangeInclusive;

use crate::prompts::error::PromptError;
use crate::prompts::template::{count_slot, parse_segments, Segment, Slot, TemplateError};

/// A validated soft template: `{x}` and `{y}` exactly once each with `{x}`
/// first, `{a}` (article of y) and `{ax}` (article of x) at most once each,
/// and no `{}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SoftTemplate {
    source: String,
    segments: Vec<Segment>,
}

impl SoftTemplate {
    /// Parses and validates a soft template.
    pub fn parse(source: &str) -> Result<Self, TemplateError> {
        let segments: Vec<Segment> = parse_segments(source)?;
        if count_slot(&segments, Slot::Class) > 0 {
            return Err(TemplateError::SlotNotAllowed {
                slot: Slot::Class.token(),
                kind: "soft",
            });
        }
        // (slot, allowed counts, how the error describes them)
        let slot_rules: [(Slot, RangeInclusive<usize>, &'static str); 4] = [
            (Slot::X, 1..=1, "exactly once"),
            (Slot::Y, 1..=1, "exactly once"),
            (Slot::ArticleY, 0..=1, "at most once"),
            (Slot::ArticleX, 0..=1, "at most once"),
        ];
        for (slot, allowed, expected) in slot_rules {
            let found: usize = count_slot(&segments, slot);
            if !allowed.contains(&found) {
                return Err(TemplateError::SlotCount {
                    slot: slot.token(),
                    expected,
                    found,
                });
            }
        }
        let position = |slot: Slot| segments.iter().position(|s| *s == Segment::Slot(slot));
        if position(Slot::Y) < position(Slot::X) {
            return Err(TemplateError::YBeforeX);
        }
        Ok(SoftTemplate {
            source: source.to_string(),
            segments,
        })
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    pub(crate) fn segments(&self) -> &[Segment] {
        &self.segments
    }
}

/// The relations this crate knows by name. The first three are the paper's
/// exact phrasings (bare verb, as printed: "automobile look like a truck");
/// the rest are grammatical variants and template-wrapped forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BuiltinRelation {
    /// `{x} like {a} {y}` (paper).
    Like,
    /// `{x} look like {a} {y}` (paper).
    LookLike,
    /// `{x} resemble {a} {y}` (paper).
    Resemble,
    /// `{x} looks like {a} {y}`.
    LooksLike,
    /// `{x} resembles {a} {y}`.
    Resembles,
    /// `{x} similar to {a} {y}`.
    SimilarTo,
    /// `a photo of {ax} {x} that looks like {a} {y}.`
    PhotoLooksLike,
    /// `a photo of {ax} {x} that resembles {a} {y}.`
    PhotoResembles,
    /// `a photo of {ax} {x} that is similar to {a} {y}.`
    PhotoSimilarTo,
}

impl BuiltinRelation {
    /// Every built-in relation, paper's first.
    pub const ALL: [BuiltinRelation; 9] = [
        BuiltinRelation::Like,
        BuiltinRelation::LookLike,
        BuiltinRelation::Resemble,
        BuiltinRelation::LooksLike,
        BuiltinRelation::Resembles,
        BuiltinRelation::SimilarTo,
        BuiltinRelation::PhotoLooksLike,
        BuiltinRelation::PhotoResembles,
        BuiltinRelation::PhotoSimilarTo,
    ];

    /// The three phrasings used in the paper.
    pub const PAPER: [BuiltinRelation; 3] = [
        BuiltinRelation::Like,
        BuiltinRelation::LookLike,
        BuiltinRelation::Resemble,
    ];

    /// The config name, e.g. `"look-like"`.
    pub fn name(self) -> &'static str {
        match self {
            BuiltinRelation::Like => "like",
            BuiltinRelation::LookLike => "look-like",
            BuiltinRelation::Resemble => "resemble",
            BuiltinRelation::LooksLike => "looks-like",
            BuiltinRelation::Resembles => "resembles",
            BuiltinRelation::SimilarTo => "similar-to",
            BuiltinRelation::PhotoLooksLike => "photo-looks-like",
            BuiltinRelation::PhotoResembles => "photo-resembles",
            BuiltinRelation::PhotoSimilarTo => "photo-similar-to",
        }
    }

    /// The soft template string.
    pub fn template(self) -> &'static str {
        match self {
            BuiltinRelation::Like => "{x} like {a} {y}",
            BuiltinRelation::LookLike => "{x} look like {a} {y}",
            BuiltinRelation::Resemble => "{x} resemble {a} {y}",
            BuiltinRelation::LooksLike => "{x} looks like {a} {y}",
            BuiltinRelation::Resembles => "{x} resembles {a} {y}",
            BuiltinRelation::SimilarTo => "{x} similar to {a} {y}",
            BuiltinRelation::PhotoLooksLike => "a photo of {ax} {x} that looks like {a} {y}.",
            BuiltinRelation::PhotoResembles => "a photo of {ax} {x} that resembles {a} {y}.",
            BuiltinRelation::PhotoSimilarTo => "a photo of {ax} {x} that is similar to {a} {y}.",
        }
    }

    /// Looks a built-in relation up by its config name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|relation| relation.name() == name)
    }

    /// The relation as a [`Relation`] value.
    pub fn relation(self) -> Relation {
        Relation {
            name: self.name().to_string(),
            template: SoftTemplate::parse(self.template()).expect("built-in templates are valid"),
        }
    }
}

/// A named soft template.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Relation {
    name: String,
    template: SoftTemplate,
}

impl Relation {
    /// A built-in relation by config name, e.g. `"look-like"`.
    pub fn named(name: &str) -> Result<Self, PromptError> {
        BuiltinRelation::from_name(name)
            .map(BuiltinRelation::relation)
            .ok_or_else(|| PromptError::UnknownRelation {
                name: name.to_string(),
                known: builtin_names(),
            })
    }

    /// A user-defined relation. Its name must be non-empty and must not be a
    /// built-in name, so a config can never quietly change what "like" means.
    pub fn custom(name: &str, template: &str) -> Result<Self, PromptError> {
        if name.is_empty() {
            return Err(PromptError::EmptyRelationName {
                location: "custom relation".to_string(),
            });
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(PromptError::UnsafeRelationName {
                name: name.to_string(),
            });
        }
        if BuiltinRelation::from_name(name).is_some() {
            return Err(PromptError::RelationShadowsBuiltin {
                name: name.to_string(),
            });
        }
        let template: SoftTemplate =
            SoftTemplate::parse(template).map_err(|source| PromptError::InvalidTemplate {
                location: format!("relation {name:?}"),
                template: template.to_string(),
                source,
            })?;
        Ok(Relation {
            name: name.to_string(),
            template,
        })
    }

    /// The paper's three relations: like, look-like, resemble.
    pub fn paper() -> Vec<Relation> {
        BuiltinRelation::PAPER
            .into_iter()
            .map(BuiltinRelation::relation)
            .collect()
    }

    /// The relation's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The relation's template.
    pub fn template(&self) -> &SoftTemplate {
        &self.template
    }
}

impl fmt::Display for Relation {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{} ({:?})", self.name, self.template.as_str())
    }
}

fn builtin_names() -> String {
    BuiltinRelation::ALL
        .iter()
        .map(|relation| relation.name())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_parse_and_round_trip_by_name() {
        for builtin in BuiltinRelation::ALL {
            let relation: Relation = Relation::named(builtin.name()).unwrap();
            assert_eq!(relation.template().as_str(), builtin.template());
        }
        assert_eq!(
            Relation::paper()
                .iter()
                .map(Relation::name)
                .collect::<Vec<_>>(),
            ["like", "look-like", "resemble"]
        );
    }

    #[test]
    fn unknown_relation_lists_the_known_ones() {
        let error: PromptError = Relation::named("looks").unwrap_err();
        assert!(matches!(&error, PromptError::UnknownRelation { name, .. } if name == "looks"));
        assert!(error.to_string().contains("look-like"));
    }

    #[test]
    fn soft_template_slot_rules() {
        let count_error = |slot: &'static str, expected: &'static str, found: usize| {
            Err(TemplateError::SlotCount {
                slot,
                expected,
                found,
            })
        };
        assert_eq!(
            SoftTemplate::parse("{x} like"),
            count_error("{y}", "exactly once", 0)
        );
        assert_eq!(
            SoftTemplate::parse("{x} {x} {y}"),
            count_error("{x}", "exactly once", 2)
        );
        assert_eq!(
            SoftTemplate::parse("{x} {a} {a} {y}"),
            count_error("{a}", "at most once", 2)
        );
        assert_eq!(SoftTemplate::parse("{y} {x}"), Err(TemplateError::YBeforeX));
        assert_eq!(
            SoftTemplate::parse("{} {x} {y}"),
            Err(TemplateError::SlotNotAllowed {
                slot: "{}",
                kind: "soft"
            })
        );
        assert!(SoftTemplate::parse("{x} vs {y}").is_ok());
    }

    #[test]
    fn custom_relations_cannot_shadow_builtins() {
        assert_eq!(
            Relation::custom("like", "{x} like {y}"),
            Err(PromptError::RelationShadowsBuiltin {
                name: "like".to_string()
            })
        );
        for unsafe_name in ["a/../../escape", "two words", "dot.dot", "tab\t"] {
            let error = Relation::custom(unsafe_name, "{x} near {y}").unwrap_err();
            assert!(
                matches!(error, PromptError::UnsafeRelationName { .. }),
                "{unsafe_name:?}: {error}"
            );
        }
        assert!(Relation::custom("near_by-2", "{x} near {y}").is_ok());
        let error: PromptError = Relation::custom("odd", "{y} then {x}").unwrap_err();
        assert_eq!(
            error.to_string(),
            "relation \"odd\": template \"{y} then {x}\" is invalid: slot {x} must come before slot {y}"
        );
    }
}
