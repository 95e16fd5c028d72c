//! Hard text: fixed templates such as `a photo of a {}.` filled with each
//! class name.
//!
//! Templates are used verbatim — the paper writes "a photo of a airplane.",
//! so no article fix-up happens here (soft texts are where articles are
//! chosen). Combining a class's template embeddings (mean of L2-normalised
//! embeddings, re-normalised) is the caller's job; this module only says
//! which texts belong to which class.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::prompts::classes::ClassList;
use crate::prompts::error::PromptError;
use crate::prompts::template::{count_slot, parse_segments, Segment, Slot, TemplateError};

/// The paper's single hard-text template.
pub const PAPER_HARD_TEMPLATE: &str = "a photo of a {}.";

/// OpenAI CLIP's 18 CIFAR-10 prompt templates, in their published order.
pub const OPENAI_CIFAR10_TEMPLATES: [&str; 18] = [
    "a photo of a {}.",
    "a blurry photo of a {}.",
    "a black and white photo of a {}.",
    "a low contrast photo of a {}.",
    "a high contrast photo of a {}.",
    "a bad photo of a {}.",
    "a good photo of a {}.",
    "a photo of a small {}.",
    "a photo of a big {}.",
    "a photo of the {}.",
    "a blurry photo of the {}.",
    "a black and white photo of the {}.",
    "a low contrast photo of the {}.",
    "a high contrast photo of the {}.",
    "a bad photo of the {}.",
    "a good photo of the {}.",
    "a photo of the small {}.",
    "a photo of the big {}.",
];

/// OpenAI CLIP's 2 STL-10 prompt templates, in their published order (`data/prompts.md` of
/// the openai/CLIP repository, section STL10).
pub const OPENAI_STL10_TEMPLATES: [&str; 2] = ["a photo of a {}.", "a photo of the {}."];

/// Named sets of hard templates, selectable from config as `preset = "single"`,
/// `"openai-cifar10"`, `"openai-cifar100"` or `"openai-stl10"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HardPreset {
    /// [`PAPER_HARD_TEMPLATE`] alone, as in the paper.
    Single,
    /// [`OPENAI_CIFAR10_TEMPLATES`].
    OpenaiCifar10,
    /// CLIP's CIFAR-100 templates, the same 18 as CIFAR-10's
    /// ([`OPENAI_CIFAR10_TEMPLATES`]; `data/prompts.md` of the openai/CLIP repository lists
    /// them under both datasets).
    OpenaiCifar100,
    /// [`OPENAI_STL10_TEMPLATES`].
    OpenaiStl10,
}

impl HardPreset {
    /// The preset's template strings.
    pub fn template_strings(self) -> &'static [&'static str] {
        match self {
            HardPreset::Single => std::slice::from_ref(&PAPER_HARD_TEMPLATE),
            HardPreset::OpenaiCifar10 | HardPreset::OpenaiCifar100 => &OPENAI_CIFAR10_TEMPLATES,
            HardPreset::OpenaiStl10 => &OPENAI_STL10_TEMPLATES,
        }
    }

    /// The preset's templates, parsed.
    pub fn templates(self) -> Vec<HardTemplate> {
        self.template_strings()
            .iter()
            .map(|source| HardTemplate::parse(source).expect("built-in templates are valid"))
            .collect()
    }
}

/// A validated hard template: literal text around exactly one `{}` slot.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HardTemplate {
    source: String,
    before_class: String,
    after_class: String,
}

impl HardTemplate {
    /// Parses a template that must contain `{}` exactly once and no other
    /// slot.
    pub fn parse(source: &str) -> Result<Self, TemplateError> {
        let segments: Vec<Segment> = parse_segments(source)?;
        for segment in &segments {
            if let Segment::Slot(slot) = segment {
                if *slot != Slot::Class {
                    return Err(TemplateError::SlotNotAllowed {
                        slot: slot.token(),
                        kind: "hard",
                    });
                }
            }
        }
        let class_slots: usize = count_slot(&segments, Slot::Class);
        if class_slots != 1 {
            return Err(TemplateError::SlotCount {
                slot: Slot::Class.token(),
                expected: "exactly once",
                found: class_slots,
            });
        }
        let mut before_class: String = String::new();
        let mut after_class: String = String::new();
        let mut seen_class: bool = false;
        for segment in segments {
            match segment {
                Segment::Slot(_) => seen_class = true,
                Segment::Literal(text) if seen_class => after_class.push_str(&text),
                Segment::Literal(text) => before_class.push_str(&text),
            }
        }
        Ok(HardTemplate {
            source: source.to_string(),
            before_class,
            after_class,
        })
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The template with `class_name` in its slot.
    pub fn render(&self, class_name: &str) -> String {
        [
            self.before_class.as_str(),
            class_name,
            self.after_class.as_str(),
        ]
        .concat()
    }
}

/// Hard prompts for every class under every template.
///
/// `texts_by_class()[c][t]` is class `c` under `templates()[t]`, so each
/// inner list is one class's template ensemble.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HardPrompts {
    templates: Vec<HardTemplate>,
    texts_by_class: Vec<Vec<String>>,
}

/// One hard prompt with the indices it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HardPrompt<'a> {
    /// Class label.
    pub class: usize,
    /// Index into [`HardPrompts::templates`].
    pub template: usize,
    /// The rendered text.
    pub text: &'a str,
}

impl HardPrompts {
    /// Renders every template for every class. Fails on an empty template
    /// list (a class would have no embedding to average) and on a repeated
    /// template (it would silently get double weight in the mean).
    pub fn new(classes: &ClassList, templates: &[HardTemplate]) -> Result<Self, PromptError> {
        check_hard_templates(templates, "hard templates")?;
        let texts_by_class: Vec<Vec<String>> = classes
            .iter()
            .map(|class| {
                templates
                    .iter()
                    .map(|template| template.render(class.name()))
                    .collect()
            })
            .collect();
        Ok(HardPrompts {
            templates: templates.to_vec(),
            texts_by_class,
        })
    }

    /// Hard prompts for a preset.
    pub fn from_preset(classes: &ClassList, preset: HardPreset) -> Self {
        Self::new(classes, &preset.templates()).expect("presets are non-empty and duplicate-free")
    }

    /// The templates, in column order.
    pub fn templates(&self) -> &[HardTemplate] {
        &self.templates
    }

    /// One list of texts per class, in label order; each list follows
    /// [`HardPrompts::templates`].
    pub fn texts_by_class(&self) -> &[Vec<String>] {
        &self.texts_by_class
    }

    /// Number of classes.
    pub fn class_count(&self) -> usize {
        self.texts_by_class.len()
    }

    /// Total number of texts (classes × templates).
    pub fn len(&self) -> usize {
        self.texts_by_class.len() * self.templates.len()
    }

    /// True when there are no texts (never, for a valid class list).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// All texts, class-major: class 0 under every template, then class 1…
    pub fn iter(&self) -> impl Iterator<Item = HardPrompt<'_>> + '_ {
        self.texts_by_class
            .iter()
            .enumerate()
            .flat_map(|(class, texts)| {
                texts
                    .iter()
                    .enumerate()
                    .map(move |(template, text)| HardPrompt {
                        class,
                        template,
                        text,
                    })
            })
    }

    /// All texts in [`HardPrompts::iter`] order, without indices.
    pub fn texts(&self) -> impl Iterator<Item = &str> + '_ {
        self.iter().map(|prompt| prompt.text)
    }
}

/// Rejects an empty or repeating template list; `location` names the list in
/// the error.
pub(crate) fn check_hard_templates(
    templates: &[HardTemplate],
    location: &str,
) -> Result<(), PromptError> {
    if templates.is_empty() {
        return Err(PromptError::EmptyList {
            location: location.to_string(),
        });
    }
    let mut first_index_by_source: HashMap<&str, usize> = HashMap::new();
    for (index, template) in templates.iter().enumerate() {
        if let Some(&first) = first_index_by_source.get(template.as_str()) {
            return Err(PromptError::DuplicateTemplate {
                location: format!("{location}[{index}]"),
                first_location: format!("{location}[{first}]"),
                template: template.as_str().to_string(),
            });
        }
        first_index_by_source.insert(template.as_str(), index);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_template_is_used_verbatim() {
        let prompts: HardPrompts =
            HardPrompts::from_preset(&ClassList::cifar10(), HardPreset::Single);
        assert_eq!(prompts.len(), 10);
        assert_eq!(prompts.texts_by_class()[0], vec!["a photo of a airplane."]);
        assert_eq!(prompts.texts_by_class()[9], vec!["a photo of a truck."]);
    }

    #[test]
    fn openai_ensemble_has_18_templates_per_class() {
        let prompts: HardPrompts =
            HardPrompts::from_preset(&ClassList::cifar10(), HardPreset::OpenaiCifar10);
        assert_eq!(prompts.templates().len(), 18);
        assert_eq!(prompts.len(), 180);
        assert!(prompts
            .texts_by_class()
            .iter()
            .all(|texts| texts.len() == 18));
        assert_eq!(prompts.texts_by_class()[3][1], "a blurry photo of a cat.");
        assert_eq!(
            prompts.texts_by_class()[1][17],
            "a photo of the big automobile."
        );
        let second: HardPrompt<'_> = prompts.iter().nth(19).unwrap();
        assert_eq!(
            second,
            HardPrompt {
                class: 1,
                template: 1,
                text: "a blurry photo of a automobile."
            }
        );
    }

    #[test]
    fn cifar100_and_stl10_presets_are_clips_published_lists() {
        // CLIP's data/prompts.md gives CIFAR-100 the CIFAR-10 list and STL-10 two templates.
        assert_eq!(
            HardPreset::OpenaiCifar100.template_strings(),
            &OPENAI_CIFAR10_TEMPLATES[..]
        );
        assert_eq!(
            HardPreset::OpenaiStl10.template_strings(),
            ["a photo of a {}.", "a photo of the {}."]
        );
        let stl10 = ClassList::new(["airplane", "monkey"]).unwrap();
        let prompts = HardPrompts::from_preset(&stl10, HardPreset::OpenaiStl10);
        assert_eq!(
            prompts.texts_by_class()[1],
            ["a photo of a monkey.", "a photo of the monkey."]
        );
        for (name, preset) in [
            ("openai-cifar100", HardPreset::OpenaiCifar100),
            ("openai-stl10", HardPreset::OpenaiStl10),
        ] {
            let config =
                crate::prompts::PromptConfig::from_toml_str(&format!("[hard]\npreset = {name:?}"))
                    .unwrap();
            assert_eq!(config.hard_templates(), preset.templates().as_slice());
        }
    }

    #[test]
    fn template_needs_exactly_one_class_slot() {
        assert_eq!(
            HardTemplate::parse("a photo"),
            Err(TemplateError::SlotCount {
                slot: "{}",
                expected: "exactly once",
                found: 0
            })
        );
        assert_eq!(
            HardTemplate::parse("{} and {}"),
            Err(TemplateError::SlotCount {
                slot: "{}",
                expected: "exactly once",
                found: 2
            })
        );
        assert_eq!(
            HardTemplate::parse("a photo of {x}"),
            Err(TemplateError::SlotNotAllowed {
                slot: "{x}",
                kind: "hard"
            })
        );
        assert_eq!(
            HardTemplate::parse("{{{}}}").unwrap().render("cat"),
            "{cat}"
        );
    }

    #[test]
    fn rejects_empty_and_repeated_template_lists() {
        let classes: ClassList = ClassList::cifar10();
        assert_eq!(
            HardPrompts::new(&classes, &[]),
            Err(PromptError::EmptyList {
                location: "hard templates".to_string()
            })
        );
        let template: HardTemplate = HardTemplate::parse(PAPER_HARD_TEMPLATE).unwrap();
        assert_eq!(
            HardPrompts::new(&classes, &[template.clone(), template]),
            Err(PromptError::DuplicateTemplate {
                location: "hard templates[1]".to_string(),
                first_location: "hard templates[0]".to_string(),
                template: PAPER_HARD_TEMPLATE.to_string()
            })
        );
    }
}
