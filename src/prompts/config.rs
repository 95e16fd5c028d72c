//! Prompt configuration from TOML.
//!
//! ```toml
//! # Optional; defaults to the CIFAR-10 classes.
//! [[classes]]
//! name = "airplane"
//! [[classes]]
//! name = "herb"
//! article = "an"          # optional override of the article rules
//!
//! # Optional; defaults to preset = "single" (the paper's hard text).
//! [hard]
//! preset = "openai-cifar10"   # or "openai-cifar100", "openai-stl10", "single";
//!                             # or: templates = ["a photo of a {}.", ...]
//!
//! # Optional; defaults to the paper's like, look-like, resemble.
//! [[relations]]
//! name = "look-like"          # built-in, referenced by name
//! [[relations]]
//! name = "mistaken-for"       # custom, needs a template
//! template = "{x} mistaken for {a} {y}"
//! ```
//!
//! Every table rejects unknown keys so that a misspelt option fails loudly
//! instead of silently falling back to a default.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::prompts::classes::{ClassList, ClassSpec};
use crate::prompts::error::PromptError;
use crate::prompts::hard::{check_hard_templates, HardPreset, HardPrompts, HardTemplate};
use crate::prompts::relation::{BuiltinRelation, Relation};
use crate::prompts::vocabulary::SoftVocabulary;

/// The config as written, before validation. Public so a larger config can
/// embed it (e.g. under a `[prompts]` table) and validate it with
/// [`PromptConfig::try_from`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptConfigFile {
    /// Classes in label order; CIFAR-10 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<Vec<ClassSpec>>,
    /// Hard templates; the paper's single template when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hard: Option<HardConfig>,
    /// Soft relations; the paper's three when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relations: Option<Vec<RelationSpec>>,
}

/// The `[hard]` table: a preset or an explicit list, not both.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HardConfig {
    /// `"single"`, `"openai-cifar10"`, `"openai-cifar100"` or `"openai-stl10"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<HardPreset>,
    /// Explicit templates, each with exactly one `{}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub templates: Option<Vec<String>>,
}

/// One `[[relations]]` entry: a built-in name, or a new name with a template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelationSpec {
    /// Built-in name (`like`, `look-like`, …) or a new name.
    pub name: String,
    /// Required for a new name, forbidden for a built-in one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
}

/// A validated prompt configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptConfig {
    classes: ClassList,
    hard_templates: Vec<HardTemplate>,
    relations: Vec<Relation>,
}

impl PromptConfig {
    /// The paper's setup: CIFAR-10, `a photo of a {}.`, like / look-like /
    /// resemble.
    pub fn paper() -> Self {
        PromptConfig {
            classes: ClassList::cifar10(),
            hard_templates: HardPreset::Single.templates(),
            relations: Relation::paper(),
        }
    }

    /// Parses and validates a TOML document.
    pub fn from_toml_str(toml_text: &str) -> Result<Self, PromptError> {
        let file: PromptConfigFile =
            toml::from_str(toml_text).map_err(|error| PromptError::ConfigSyntax {
                message: crate::diagnostics::toml_error_line(toml_text, &error),
            })?;
        Self::try_from(file)
    }

    /// The classes, in label order.
    pub fn classes(&self) -> &ClassList {
        &self.classes
    }

    /// The hard templates (non-empty, no repeats).
    pub fn hard_templates(&self) -> &[HardTemplate] {
        &self.hard_templates
    }

    /// The soft relations (non-empty, distinct names and templates).
    pub fn relations(&self) -> &[Relation] {
        &self.relations
    }

    /// Hard prompts for every class under every hard template.
    pub fn hard_prompts(&self) -> HardPrompts {
        HardPrompts::new(&self.classes, &self.hard_templates)
            .expect("hard templates were validated when the config was built")
    }

    /// Every ordered pair of distinct classes under every relation.
    pub fn all_pairs_vocabulary(&self) -> Result<SoftVocabulary, PromptError> {
        SoftVocabulary::all_pairs(&self.classes, &self.relations)
    }

    /// The given pairs (e.g. per-image auxiliary top-2) under every relation.
    pub fn vocabulary_from_pairs<I>(&self, pairs: I) -> Result<SoftVocabulary, PromptError>
    where
        I: IntoIterator<Item = (usize, usize)>,
    {
        SoftVocabulary::from_pairs(&self.classes, &self.relations, pairs)
    }
}

impl TryFrom<PromptConfigFile> for PromptConfig {
    type Error = PromptError;

    fn try_from(file: PromptConfigFile) -> Result<Self, PromptError> {
        let classes: ClassList = match file.classes {
            Some(specs) => ClassList::from_specs(specs)?,
            None => ClassList::cifar10(),
        };
        let hard_templates: Vec<HardTemplate> =
            build_hard_templates(file.hard.unwrap_or_default())?;
        let relations: Vec<Relation> = match file.relations {
            Some(specs) => build_relations(specs)?,
            None => Relation::paper(),
        };
        Ok(PromptConfig {
            classes,
            hard_templates,
            relations,
        })
    }
}

impl From<&PromptConfig> for PromptConfigFile {
    fn from(config: &PromptConfig) -> Self {
        PromptConfigFile {
            classes: Some(config.classes.to_specs()),
            hard: Some(HardConfig {
                preset: None,
                templates: Some(
                    config
                        .hard_templates
                        .iter()
                        .map(|template| template.as_str().to_string())
                        .collect(),
                ),
            }),
            relations: Some(
                config
                    .relations
                    .iter()
                    .map(|relation| RelationSpec {
                        name: relation.name().to_string(),
                        template: BuiltinRelation::from_name(relation.name())
                            .is_none()
                            .then(|| relation.template().as_str().to_string()),
                    })
                    .collect(),
            ),
        }
    }
}

fn build_hard_templates(hard: HardConfig) -> Result<Vec<HardTemplate>, PromptError> {
    let templates: Vec<HardTemplate> = match (hard.preset, hard.templates) {
        (Some(_), Some(_)) => return Err(PromptError::ConflictingHardTemplates),
        (Some(preset), None) => preset.templates(),
        (None, None) => HardPreset::Single.templates(),
        (None, Some(sources)) => sources
            .iter()
            .enumerate()
            .map(|(index, source)| {
                HardTemplate::parse(source).map_err(|error| PromptError::InvalidTemplate {
                    location: format!("hard.templates[{index}]"),
                    template: source.clone(),
                    source: error,
                })
            })
            .collect::<Result<Vec<HardTemplate>, PromptError>>()?,
    };
    check_hard_templates(&templates, "hard.templates")?;
    Ok(templates)
}

fn build_relations(specs: Vec<RelationSpec>) -> Result<Vec<Relation>, PromptError> {
    if specs.is_empty() {
        return Err(PromptError::EmptyList {
            location: "relations".to_string(),
        });
    }
    let mut relations: Vec<Relation> = Vec::with_capacity(specs.len());
    let mut first_index_by_template: HashMap<String, usize> = HashMap::new();
    for (index, spec) in specs.into_iter().enumerate() {
        let location: String = format!("relations[{index}]");
        let relation: Relation = build_relation(&location, spec)?;
        if relations
            .iter()
            .any(|known| known.name() == relation.name())
        {
            return Err(PromptError::DuplicateRelationName {
                name: relation.name().to_string(),
            });
        }
        // Two names for one template would yield identical texts.
        let template: String = relation.template().as_str().to_string();
        if let Some(&first) = first_index_by_template.get(&template) {
            return Err(PromptError::DuplicateTemplate {
                location,
                first_location: format!("relations[{first}]"),
                template,
            });
        }
        first_index_by_template.insert(template, index);
        relations.push(relation);
    }
    Ok(relations)
}

fn build_relation(location: &str, spec: RelationSpec) -> Result<Relation, PromptError> {
    if spec.name.is_empty() {
        return Err(PromptError::EmptyRelationName {
            location: location.to_string(),
        });
    }
    match spec.template {
        None => Relation::named(&spec.name),
        Some(template) => Relation::custom(&spec.name, &template).map_err(|error| match error {
            PromptError::InvalidTemplate {
                template, source, ..
            } => PromptError::InvalidTemplate {
                location: format!("{location} ({:?})", spec.name),
                template,
                source,
            },
            other => other,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prompts::article::Article;
    use crate::prompts::template::TemplateError;

    #[test]
    fn empty_document_is_the_paper_setup() {
        assert_eq!(
            PromptConfig::from_toml_str("").unwrap(),
            PromptConfig::paper()
        );
    }

    #[test]
    fn full_document_parses() {
        let config: PromptConfig = PromptConfig::from_toml_str(
            r#"
            [[classes]]
            name = "herb"
            article = "an"
            [[classes]]
            name = "sea lion"

            [hard]
            preset = "openai-cifar10"

            [[relations]]
            name = "look-like"
            [[relations]]
            name = "mistaken-for"
            template = "{x} mistaken for {a} {y}"
            "#,
        )
        .unwrap();
        assert_eq!(config.classes().get(0).unwrap().article(), Article::An);
        assert_eq!(config.hard_templates().len(), 18);
        let vocabulary: SoftVocabulary = config.all_pairs_vocabulary().unwrap();
        assert_eq!(
            vocabulary.texts().collect::<Vec<_>>(),
            [
                "herb look like a sea lion",
                "herb mistaken for a sea lion",
                "sea lion look like an herb",
                "sea lion mistaken for an herb",
            ]
        );
        let written: PromptConfigFile = PromptConfigFile::from(&config);
        let reread: PromptConfig =
            PromptConfig::from_toml_str(&toml::to_string(&written).unwrap()).unwrap();
        assert_eq!(reread, config);
    }

    #[test]
    fn unknown_keys_are_rejected() {
        for document in [
            "colour = 1",
            "[hard]\npreset = \"single\"\ntemplate = []",
            "[[classes]]\nname = \"cat\"\narticel = \"a\"",
            "[[relations]]\nname = \"like\"\ntemplates = \"{x} {y}\"",
        ] {
            let error: PromptError = PromptConfig::from_toml_str(document).unwrap_err();
            assert!(
                matches!(&error, PromptError::ConfigSyntax { message } if message.contains("unknown field")),
                "{document}: {error}"
            );
        }
        assert!(matches!(
            PromptConfig::from_toml_str("[hard]\npreset = \"openai\""),
            Err(PromptError::ConfigSyntax { .. })
        ));
        assert!(matches!(
            PromptConfig::from_toml_str("[[classes]]\nname = \"cat\"\narticle = \"the\""),
            Err(PromptError::ConfigSyntax { .. })
        ));
    }

    #[test]
    fn errors_name_the_offending_entry() {
        assert_eq!(
            PromptConfig::from_toml_str("[hard]\ntemplates = [\"a photo of a {}.\", \"a {} {}\"]"),
            Err(PromptError::InvalidTemplate {
                location: "hard.templates[1]".to_string(),
                template: "a {} {}".to_string(),
                source: TemplateError::SlotCount {
                    slot: "{}",
                    expected: "exactly once",
                    found: 2
                },
            })
        );
        assert_eq!(
            PromptConfig::from_toml_str("[hard]\npreset = \"single\"\ntemplates = [\"{}\"]"),
            Err(PromptError::ConflictingHardTemplates)
        );
        assert_eq!(
            PromptConfig::from_toml_str("[hard]\ntemplates = []"),
            Err(PromptError::EmptyList {
                location: "hard.templates".to_string()
            })
        );
        assert_eq!(
            PromptConfig::from_toml_str(
                "[[relations]]\nname = \"odd\"\ntemplate = \"{x} like {z}\""
            ),
            Err(PromptError::InvalidTemplate {
                location: "relations[0] (\"odd\")".to_string(),
                template: "{x} like {z}".to_string(),
                source: TemplateError::UnknownSlot {
                    slot: "{z}".to_string(),
                    byte: 9
                },
            })
        );
        assert_eq!(
            PromptConfig::from_toml_str(
                "[[relations]]\nname = \"like\"\n[[relations]]\nname = \"like\""
            ),
            Err(PromptError::DuplicateRelationName {
                name: "like".to_string()
            })
        );
        assert_eq!(
            PromptConfig::from_toml_str(
                "[[relations]]\nname = \"like\"\n[[relations]]\nname = \"also-like\"\ntemplate = \"{x} like {a} {y}\""
            ),
            Err(PromptError::DuplicateTemplate {
                location: "relations[1]".to_string(),
                first_location: "relations[0]".to_string(),
                template: "{x} like {a} {y}".to_string()
            })
        );
        assert!(matches!(
            PromptConfig::from_toml_str("[[relations]]\nname = \"looks\""),
            Err(PromptError::UnknownRelation { .. })
        ));
        assert_eq!(
            PromptConfig::from_toml_str("[[relations]]\nname = \"\""),
            Err(PromptError::EmptyRelationName {
                location: "relations[0]".to_string()
            })
        );
        assert_eq!(
            PromptConfig::from_toml_str("[[classes]]\nname = \"cat\"\n[[classes]]\nname = \"\""),
            Err(PromptError::EmptyClassName { index: 1 })
        );
        assert_eq!(
            PromptConfig::from_toml_str("relations = []"),
            Err(PromptError::EmptyList {
                location: "relations".to_string()
            })
        );
    }
}
