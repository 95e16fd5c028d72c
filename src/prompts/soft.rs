//! Rendering one soft text: a relation filled with a class pair (x, y).

use std::ops::Range;

use crate::prompts::classes::{Class, ClassList};
use crate::prompts::error::PromptError;
use crate::prompts::relation::Relation;
use crate::prompts::template::{Segment, Slot};

/// A rendered soft text plus the byte spans of what went into each slot.
///
/// The spans let callers and tests locate x and y structurally instead of by
/// substring search, which would be wrong for class names that contain one
/// another ("cat" in "wildcat") or a relation's words ("look-alike").
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SoftText {
    /// The full text, e.g. `"automobile look like a truck"`.
    pub text: String,
    /// Where x's name sits in `text`.
    pub x_span: Range<usize>,
    /// Where y's name sits in `text`; always after `x_span`.
    pub y_span: Range<usize>,
    /// Where the article of y (`{a}`) sits, if the template has one.
    pub y_article_span: Option<Range<usize>>,
    /// Where the article of x (`{ax}`) sits, if the template has one.
    pub x_article_span: Option<Range<usize>>,
}

impl SoftText {
    /// x's name as it appears in the text.
    pub fn x_text(&self) -> &str {
        &self.text[self.x_span.clone()]
    }

    /// y's name as it appears in the text.
    pub fn y_text(&self) -> &str {
        &self.text[self.y_span.clone()]
    }

    /// y's article as it appears in the text, if any.
    pub fn y_article_text(&self) -> Option<&str> {
        self.y_article_span.clone().map(|span| &self.text[span])
    }

    /// x's article as it appears in the text, if any.
    pub fn x_article_text(&self) -> Option<&str> {
        self.x_article_span.clone().map(|span| &self.text[span])
    }
}

/// Renders `relation` for the class pair (x, y), given as class labels.
///
/// Fails when either index is out of range and when `x == y`: a soft text
/// says one class looks like *another*, and the auxiliary classifier's top-2
/// classes are always distinct, so a self-pair signals a caller bug.
pub fn render_soft_text(
    classes: &ClassList,
    x: usize,
    y: usize,
    relation: &Relation,
) -> Result<SoftText, PromptError> {
    let (class_x, class_y): (&Class, &Class) = validate_pair(classes, x, y)?;
    Ok(fill_slots(relation, class_x, class_y))
}

/// Looks up both classes of a soft pair, rejecting bad indices and `x == y`.
pub(crate) fn validate_pair(
    classes: &ClassList,
    x: usize,
    y: usize,
) -> Result<(&Class, &Class), PromptError> {
    let class_x: &Class = classes.class(x)?;
    let class_y: &Class = classes.class(y)?;
    if x == y {
        return Err(PromptError::SelfPair {
            index: x,
            name: class_x.name().to_string(),
        });
    }
    Ok((class_x, class_y))
}

fn fill_slots(relation: &Relation, class_x: &Class, class_y: &Class) -> SoftText {
    let mut text: String = String::new();
    let mut x_span: Range<usize> = 0..0;
    let mut y_span: Range<usize> = 0..0;
    let mut y_article_span: Option<Range<usize>> = None;
    let mut x_article_span: Option<Range<usize>> = None;
    for segment in relation.template().segments() {
        let start: usize = text.len();
        match segment {
            Segment::Literal(literal) => text.push_str(literal),
            Segment::Slot(Slot::X) => {
                text.push_str(class_x.name());
                x_span = start..text.len();
            }
            Segment::Slot(Slot::Y) => {
                text.push_str(class_y.name());
                y_span = start..text.len();
            }
            Segment::Slot(Slot::ArticleY) => {
                text.push_str(class_y.article().as_str());
                y_article_span = Some(start..text.len());
            }
            Segment::Slot(Slot::ArticleX) => {
                text.push_str(class_x.article().as_str());
                x_article_span = Some(start..text.len());
            }
            Segment::Slot(Slot::Class) => {
                unreachable!("SoftTemplate::parse rejects the hard-template slot")
            }
        }
    }
    SoftText {
        text,
        x_span,
        y_span,
        y_article_span,
        x_article_span,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prompts::relation::BuiltinRelation;

    fn cifar_text(x: &str, y: &str, relation: BuiltinRelation) -> String {
        let classes: ClassList = ClassList::cifar10();
        let index = |name: &str| classes.names().position(|n| n == name).unwrap();
        render_soft_text(&classes, index(x), index(y), &relation.relation())
            .unwrap()
            .text
    }

    #[test]
    fn paper_examples() {
        assert_eq!(
            cifar_text("automobile", "truck", BuiltinRelation::LookLike),
            "automobile look like a truck"
        );
        assert_eq!(
            cifar_text("dog", "cat", BuiltinRelation::LookLike),
            "dog look like a cat"
        );
        assert_eq!(
            cifar_text("cat", "dog", BuiltinRelation::Like),
            "cat like a dog"
        );
        assert_eq!(
            cifar_text("airplane", "bird", BuiltinRelation::Resemble),
            "airplane resemble a bird"
        );
        assert_eq!(
            cifar_text("truck", "automobile", BuiltinRelation::Resemble),
            "truck resemble an automobile"
        );
    }

    #[test]
    fn variants_and_wrapped_forms() {
        assert_eq!(
            cifar_text("ship", "airplane", BuiltinRelation::LooksLike),
            "ship looks like an airplane"
        );
        assert_eq!(
            cifar_text("deer", "horse", BuiltinRelation::Resembles),
            "deer resembles a horse"
        );
        assert_eq!(
            cifar_text("frog", "bird", BuiltinRelation::SimilarTo),
            "frog similar to a bird"
        );
        assert_eq!(
            cifar_text("airplane", "bird", BuiltinRelation::PhotoLooksLike),
            "a photo of an airplane that looks like a bird."
        );
        assert_eq!(
            cifar_text("cat", "dog", BuiltinRelation::PhotoSimilarTo),
            "a photo of a cat that is similar to a dog."
        );
    }

    #[test]
    fn spans_point_at_the_slots() {
        let classes: ClassList = ClassList::new(["wildcat", "cat"]).unwrap();
        let soft: SoftText =
            render_soft_text(&classes, 1, 0, &BuiltinRelation::PhotoLooksLike.relation()).unwrap();
        assert_eq!(soft.text, "a photo of a cat that looks like a wildcat.");
        assert_eq!(soft.x_text(), "cat");
        assert_eq!(soft.y_text(), "wildcat");
        assert_eq!(soft.x_span, 13..16);
        assert_eq!(soft.y_article_text(), Some("a"));
        assert_eq!(soft.x_article_text(), Some("a"));
    }

    #[test]
    fn self_pairs_and_bad_indices_are_errors() {
        let classes: ClassList = ClassList::cifar10();
        let like: Relation = BuiltinRelation::Like.relation();
        assert_eq!(
            render_soft_text(&classes, 3, 3, &like),
            Err(PromptError::SelfPair {
                index: 3,
                name: "cat".to_string()
            })
        );
        assert_eq!(
            render_soft_text(&classes, 3, 10, &like),
            Err(PromptError::ClassIndexOutOfRange {
                index: 10,
                class_count: 10
            })
        );
    }
}
