//! Validated class lists: the names that fill template slots.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::prompts::article::{indefinite_article, Article};
use crate::prompts::error::PromptError;

/// CIFAR-10's class names in label order.
pub const CIFAR10_CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// A class as written in a config: its name and, optionally, the article to
/// use before it when the built-in rules get it wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassSpec {
    /// The class name exactly as it should appear in prompts.
    pub name: String,
    /// `"a"` or `"an"`; when absent the rules of
    /// [`crate::prompts::article`] decide.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub article: Option<Article>,
}

impl ClassSpec {
    /// A class whose article the built-in rules decide.
    pub fn new(name: impl Into<String>) -> Self {
        ClassSpec {
            name: name.into(),
            article: None,
        }
    }

    /// A class with an explicit article.
    pub fn with_article(name: impl Into<String>, article: Article) -> Self {
        ClassSpec {
            name: name.into(),
            article: Some(article),
        }
    }
}

/// A validated class: a name and its resolved article.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Class {
    name: String,
    article: Article,
    article_overridden: bool,
}

impl Class {
    /// The class name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The article used before this class in soft texts.
    pub fn article(&self) -> Article {
        self.article
    }

    /// Whether the article came from the config rather than the rules.
    pub fn article_overridden(&self) -> bool {
        self.article_overridden
    }
}

/// An ordered list of classes whose index is the class label.
///
/// Invariants: non-empty; every name is non-empty, has no leading or trailing
/// whitespace and no control characters; names are pairwise distinct
/// (compared exactly, so "Dog" and "dog" are different classes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassList {
    classes: Vec<Class>,
}

impl ClassList {
    /// Classes from plain names, articles decided by the built-in rules.
    pub fn new<I, S>(names: I) -> Result<Self, PromptError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::from_specs(names.into_iter().map(ClassSpec::new))
    }

    /// Classes from specs that may override articles.
    pub fn from_specs<I>(specs: I) -> Result<Self, PromptError>
    where
        I: IntoIterator<Item = ClassSpec>,
    {
        let mut classes: Vec<Class> = Vec::new();
        let mut first_index_by_name: HashMap<String, usize> = HashMap::new();
        for (index, spec) in specs.into_iter().enumerate() {
            validate_class_name(index, &spec.name)?;
            if let Some(&first) = first_index_by_name.get(&spec.name) {
                return Err(PromptError::DuplicateClassName {
                    name: spec.name,
                    first,
                    second: index,
                });
            }
            first_index_by_name.insert(spec.name.clone(), index);
            classes.push(Class {
                article: spec
                    .article
                    .unwrap_or_else(|| indefinite_article(&spec.name)),
                article_overridden: spec.article.is_some(),
                name: spec.name,
            });
        }
        if classes.is_empty() {
            return Err(PromptError::NoClasses);
        }
        Ok(ClassList { classes })
    }

    /// The ten CIFAR-10 classes in label order.
    pub fn cifar10() -> Self {
        Self::new(CIFAR10_CLASSES).expect("the CIFAR-10 class names are valid")
    }

    /// Number of classes.
    pub fn len(&self) -> usize {
        self.classes.len()
    }

    /// Always false (the list is never empty); provided for API symmetry.
    pub fn is_empty(&self) -> bool {
        self.classes.is_empty()
    }

    /// The class with label `index`, if any.
    pub fn get(&self, index: usize) -> Option<&Class> {
        self.classes.get(index)
    }

    /// The classes in label order.
    pub fn iter(&self) -> std::slice::Iter<'_, Class> {
        self.classes.iter()
    }

    /// The class names in label order.
    pub fn names(&self) -> impl Iterator<Item = &str> + '_ {
        self.classes.iter().map(Class::name)
    }

    /// The specs that rebuild this list (overrides kept, rule-decided
    /// articles left implicit), e.g. for writing a config back out.
    pub fn to_specs(&self) -> Vec<ClassSpec> {
        self.classes
            .iter()
            .map(|class| ClassSpec {
                name: class.name.clone(),
                article: class.article_overridden.then_some(class.article),
            })
            .collect()
    }

    /// Like [`ClassList::get`] but with an error naming the bad index.
    pub(crate) fn class(&self, index: usize) -> Result<&Class, PromptError> {
        self.classes
            .get(index)
            .ok_or(PromptError::ClassIndexOutOfRange {
                index,
                class_count: self.classes.len(),
            })
    }
}

impl<'a> IntoIterator for &'a ClassList {
    type Item = &'a Class;
    type IntoIter = std::slice::Iter<'a, Class>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

fn validate_class_name(index: usize, name: &str) -> Result<(), PromptError> {
    if name.is_empty() {
        return Err(PromptError::EmptyClassName { index });
    }
    if name.trim() != name {
        return Err(PromptError::ClassNameUntrimmed {
            index,
            name: name.to_string(),
        });
    }
    if name.chars().any(char::is_control) {
        return Err(PromptError::ClassNameControlCharacter {
            index,
            name: name.to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cifar10_is_in_label_order() {
        let classes: ClassList = ClassList::cifar10();
        assert_eq!(classes.len(), 10);
        assert_eq!(classes.names().collect::<Vec<_>>(), CIFAR10_CLASSES);
        assert_eq!(classes.get(0).unwrap().article(), Article::An);
        assert_eq!(classes.get(9).unwrap().article(), Article::A);
    }

    #[test]
    fn rejects_bad_names_with_their_index() {
        assert_eq!(
            ClassList::new(["cat", ""]),
            Err(PromptError::EmptyClassName { index: 1 })
        );
        assert_eq!(
            ClassList::new([" cat"]),
            Err(PromptError::ClassNameUntrimmed {
                index: 0,
                name: " cat".to_string()
            })
        );
        assert_eq!(
            ClassList::new(["cat", "   "]),
            Err(PromptError::ClassNameUntrimmed {
                index: 1,
                name: "   ".to_string()
            })
        );
        assert_eq!(
            ClassList::new(["sea\nlion"]),
            Err(PromptError::ClassNameControlCharacter {
                index: 0,
                name: "sea\nlion".to_string()
            })
        );
        assert_eq!(
            ClassList::new(["cat", "dog", "cat"]),
            Err(PromptError::DuplicateClassName {
                name: "cat".to_string(),
                first: 0,
                second: 2
            })
        );
        assert_eq!(
            ClassList::new(Vec::<String>::new()),
            Err(PromptError::NoClasses)
        );
    }

    #[test]
    fn explicit_article_overrides_the_rules() {
        let classes: ClassList = ClassList::from_specs([
            ClassSpec::with_article("herb", Article::An),
            ClassSpec::new("hour"),
        ])
        .unwrap();
        assert_eq!(classes.get(0).unwrap().article(), Article::An);
        assert!(classes.get(0).unwrap().article_overridden());
        assert_eq!(classes.get(1).unwrap().article(), Article::An);
        assert!(!classes.get(1).unwrap().article_overridden());
        assert_eq!(
            classes.to_specs(),
            vec![
                ClassSpec::with_article("herb", Article::An),
                ClassSpec::new("hour")
            ]
        );
    }
}
