//! The one error type of the prompt module.
//!
//! Every variant names what is wrong *and where* (class index and name,
//! template location, relation name), because these errors mostly surface
//! from hand-written TOML configs and must be fixable without a debugger.

use thiserror::Error;

use crate::prompts::length::LengthReport;
use crate::prompts::template::TemplateError;
use crate::prompts::vocabulary::SoftKey;

/// Everything that can go wrong while building prompts.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PromptError {
    /// A class list with no classes.
    #[error("the class list is empty")]
    NoClasses,
    /// A class whose name is the empty string.
    #[error("class {index}: name is empty")]
    EmptyClassName {
        /// Position of the class in its list.
        index: usize,
    },
    /// A class name with leading or trailing whitespace (including a name
    /// that is only whitespace); rejected rather than trimmed so the text a
    /// prompt contains is exactly what the config says.
    #[error("class {index} ({name:?}): name has leading or trailing whitespace")]
    ClassNameUntrimmed {
        /// Position of the class in its list.
        index: usize,
        /// The name as given.
        name: String,
    },
    /// A class name containing a control character such as a newline.
    #[error("class {index} ({name:?}): name contains a control character")]
    ClassNameControlCharacter {
        /// Position of the class in its list.
        index: usize,
        /// The name as given.
        name: String,
    },
    /// Two classes with exactly the same name.
    #[error("class {second} duplicates the name of class {first}: {name:?}")]
    DuplicateClassName {
        /// The repeated name.
        name: String,
        /// Position of its first occurrence.
        first: usize,
        /// Position of the repeat.
        second: usize,
    },
    /// A class index that does not exist.
    #[error("class index {index} is out of range for {class_count} classes")]
    ClassIndexOutOfRange {
        /// The index asked for.
        index: usize,
        /// How many classes there are.
        class_count: usize,
    },
    /// A soft text asked for the pair (c, c); soft texts relate two
    /// different classes.
    #[error("a soft text needs two different classes, got class {index} ({name:?}) twice")]
    SelfPair {
        /// The class index given as both x and y.
        index: usize,
        /// Its name.
        name: String,
    },
    /// A template string that does not fit its kind.
    #[error("{location}: template {template:?} is invalid: {source}")]
    InvalidTemplate {
        /// Where the template came from, e.g. `hard.templates[3]` or `relation "like"`.
        location: String,
        /// The template as written.
        template: String,
        /// What is wrong with it.
        #[source]
        source: TemplateError,
    },
    /// The same template given twice, which would silently double its weight
    /// in a template ensemble or duplicate soft texts.
    #[error("{location}: template {template:?} repeats {first_location}")]
    DuplicateTemplate {
        /// Where the repeat is.
        location: String,
        /// Where the first occurrence is.
        first_location: String,
        /// The repeated template.
        template: String,
    },
    /// A list that must not be empty, e.g. the hard templates.
    #[error("{location}: the list is empty")]
    EmptyList {
        /// Which list.
        location: String,
    },
    /// A relation name that is empty.
    #[error("{location}: relation name is empty")]
    EmptyRelationName {
        /// Where the relation was defined, e.g. `relations[2]`.
        location: String,
    },
    /// A relation name with characters that cannot go into a file name.
    #[error("relation name {name:?}: use only ASCII letters, digits, '-' and '_' (the name becomes part of output file names)")]
    UnsafeRelationName {
        /// The name as given.
        name: String,
    },
    /// A relation referenced by name that is not built in.
    #[error("unknown relation {name:?} (built-in relations: {known}); give it a `template` to define it")]
    UnknownRelation {
        /// The name asked for.
        name: String,
        /// The built-in names, comma separated.
        known: String,
    },
    /// A custom relation reusing a built-in relation's name.
    #[error("relation {name:?} is built in and cannot be redefined; give the custom relation another name")]
    RelationShadowsBuiltin {
        /// The clashing name.
        name: String,
    },
    /// Two relations with the same name.
    #[error("relation name {name:?} is used twice")]
    DuplicateRelationName {
        /// The repeated name.
        name: String,
    },
    /// Two different (x, y, relation) keys render to the same text, so the
    /// text could not be mapped back to one class pair. Only possible with
    /// class names that contain a relation's wording, e.g. "p like a q".
    #[error("soft texts {first} and {second} both render to {text:?}")]
    AmbiguousSoftText {
        /// The shared text.
        text: String,
        /// The key that produced it first.
        first: SoftKey,
        /// The later key that produced it again.
        second: SoftKey,
    },
    /// Hard templates configured both by preset and by list.
    #[error("hard: set either `preset` or `templates`, not both")]
    ConflictingHardTemplates,
    /// A TOML config that does not parse or does not match the schema.
    #[error("invalid prompt config: {message}")]
    ConfigSyntax {
        /// The TOML parser's message, with line and column.
        message: String,
    },
    /// Texts that exceed the text encoder's context.
    #[error("{0}")]
    TextsTooLong(LengthReport),
}
