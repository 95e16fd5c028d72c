//! Property tests for the prompt module, through its public API only.
//!
//! Class names are generated to be hostile: multi-word, Unicode, containing
//! one another, containing relation words and even slot-like braces. Slot
//! positions are therefore checked through the byte spans the renderer
//! records, never by searching the text for a name.

use std::collections::HashSet;
use std::ops::Range;

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use softtext::prompts::{
    check_token_lengths, decide_article, ensure_token_lengths, indefinite_article,
    render_soft_text, Article, ArticleRule, BuiltinRelation, ClassList, ClassSpec, HardPrompts,
    HardTemplate, PromptConfig, PromptConfigFile, PromptError, Relation, RelationSpec, SoftKey,
    SoftText, SoftVocabulary, StemMatch, ARTICLE_EXCEPTIONS, CLIP_CONTEXT_LENGTH,
    OPENAI_CIFAR10_TEMPLATES,
};

// ---------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------

/// Words chosen to trip substring-based reasoning: relation words, articles,
/// names containing other names, exceptions, initialisms, numbers, Unicode,
/// and brace sequences that look like slots.
const TRICKY_WORDS: &[&str] = &[
    "like",
    "look",
    "looks",
    "resemble",
    "similar",
    "to",
    "a",
    "an",
    "photo",
    "of",
    "that",
    "is",
    "cat",
    "wildcat",
    "cats",
    "dog",
    "hour",
    "unicorn",
    "umbrella",
    "university",
    "one-way",
    "X-ray",
    "UFO",
    "8-bit",
    "11",
    "éclair",
    "Ödland",
    "猫",
    "собака",
    "{x}",
    "{y}",
    "{a}",
    "{}",
    "{{",
    "}",
    "a-like",
    "look-alike",
];

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(TRICKY_WORDS).prop_map(str::to_string),
        "[a-zA-Zéüß猫0-9]{1,8}",
    ]
}

/// A valid class name: one to four words joined by spaces or hyphens.
fn class_name() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(word(), 1..=4),
        prop::sample::select(vec![" ", "-"]),
    )
        .prop_map(|(words, separator)| words.join(separator))
}

/// Distinct class names, order as generated.
fn distinct_names(
    name: impl Strategy<Value = String>,
    max: usize,
) -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(name, 2..=max)
        .prop_map(|names| {
            let mut seen: HashSet<String> = HashSet::new();
            names
                .into_iter()
                .filter(|name| seen.insert(name.clone()))
                .collect::<Vec<String>>()
        })
        .prop_filter("need two distinct classes", |names| names.len() >= 2)
}

/// Names without whitespace: with these, built-in relations can never make
/// two different pairs render to the same text, so counts must be exact.
fn spaceless_name() -> impl Strategy<Value = String> {
    "[a-zA-Zéü猫0-9-]{1,10}"
}

/// Names built from a relation's own words, so that two different pairs
/// often render to the same text ("p like a q" like a "r" versus "p" like a
/// "q like a r").
fn collision_prone_name() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec!["p", "q", "like", "a", "look"]),
        1..=4,
    )
    .prop_map(|words| words.join(" "))
}

/// A template piece, kept structured so the test knows the exact expected
/// text without re-implementing the parser.
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Literal(String),
    X,
    Y,
    ArticleX,
    ArticleY,
}

/// A relation under test: its template string and its pieces.
#[derive(Debug, Clone)]
struct RelationCase {
    relation: Relation,
    pieces: Vec<Piece>,
}

fn escape_braces(literal: &str) -> String {
    literal.replace('{', "{{").replace('}', "}}")
}

fn template_from_pieces(pieces: &[Piece]) -> String {
    pieces
        .iter()
        .map(|piece| match piece {
            Piece::Literal(text) => escape_braces(text),
            Piece::X => "{x}".to_string(),
            Piece::Y => "{y}".to_string(),
            Piece::ArticleX => "{ax}".to_string(),
            Piece::ArticleY => "{a}".to_string(),
        })
        .collect()
}

/// Built-in templates contain no escaped braces, so splitting at the slot
/// tokens recovers their pieces.
fn builtin_pieces(template: &str) -> Vec<Piece> {
    let mut pieces: Vec<Piece> = Vec::new();
    let mut rest: &str = template;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            pieces.push(Piece::Literal(rest[..open].to_string()));
        }
        let close: usize = rest[open..].find('}').expect("closed slot") + open;
        pieces.push(match &rest[open..=close] {
            "{x}" => Piece::X,
            "{y}" => Piece::Y,
            "{a}" => Piece::ArticleY,
            "{ax}" => Piece::ArticleX,
            other => panic!("unexpected slot {other} in a built-in template"),
        });
        rest = &rest[close + 1..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Literal(rest.to_string()));
    }
    pieces
}

fn builtin_case(builtin: BuiltinRelation) -> RelationCase {
    RelationCase {
        relation: builtin.relation(),
        pieces: builtin_pieces(builtin.template()),
    }
}

fn literal() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(" ".to_string()),
        Just(" like ".to_string()),
        Just(" look like ".to_string()),
        "[ a-z{}é,.]{0,8}",
    ]
}

/// A custom relation: `P0 [{ax} P1] {x} P2 [{a} P3] {y} P4`, literals may
/// contain (escaped) braces and relation words.
fn custom_case() -> impl Strategy<Value = RelationCase> {
    (
        prop::collection::vec(literal(), 5),
        any::<bool>(),
        any::<bool>(),
        "[a-z]{1,6}",
    )
        .prop_map(|(literals, with_article_x, with_article_y, name_stem)| {
            let mut pieces: Vec<Piece> = vec![Piece::Literal(literals[0].clone())];
            if with_article_x {
                pieces.push(Piece::ArticleX);
                pieces.push(Piece::Literal(literals[1].clone()));
            }
            pieces.push(Piece::X);
            pieces.push(Piece::Literal(literals[2].clone()));
            if with_article_y {
                pieces.push(Piece::ArticleY);
                pieces.push(Piece::Literal(literals[3].clone()));
            }
            pieces.push(Piece::Y);
            pieces.push(Piece::Literal(literals[4].clone()));
            pieces.retain(|piece| *piece != Piece::Literal(String::new()));
            let name: String = format!("custom-{name_stem}");
            let relation: Relation = Relation::custom(&name, &template_from_pieces(&pieces))
                .expect("generated templates are valid");
            RelationCase { relation, pieces }
        })
}

fn builtin() -> impl Strategy<Value = BuiltinRelation> {
    prop::sample::select(BuiltinRelation::ALL.to_vec())
}

fn relation_case() -> impl Strategy<Value = RelationCase> {
    prop_oneof![builtin().prop_map(builtin_case), custom_case()]
}

/// One to four relations with distinct names and templates.
fn relation_list() -> impl Strategy<Value = Vec<Relation>> {
    prop::collection::vec(relation_case(), 1..=4).prop_map(|cases| {
        let mut names: HashSet<String> = HashSet::new();
        let mut templates: HashSet<String> = HashSet::new();
        cases
            .into_iter()
            .map(|case| case.relation)
            .filter(|relation| {
                names.insert(relation.name().to_string())
                    && templates.insert(relation.template().as_str().to_string())
            })
            .collect()
    })
}

fn builtin_list() -> impl Strategy<Value = Vec<Relation>> {
    prop::sample::subsequence(
        BuiltinRelation::ALL.to_vec(),
        1..=BuiltinRelation::ALL.len(),
    )
    .prop_map(|builtins| {
        builtins
            .into_iter()
            .map(BuiltinRelation::relation)
            .collect()
    })
}

/// Two distinct indices below `count`, from two arbitrary numbers.
fn distinct_pair(count: usize, first: usize, offset: usize) -> (usize, usize) {
    let x: usize = first % count;
    let y: usize = (x + 1 + offset % (count - 1)) % count;
    (x, y)
}

// ---------------------------------------------------------------------------
// Expected values
// ---------------------------------------------------------------------------

/// The text a template must render to, with the spans of x, y and y's
/// article, computed from the pieces.
struct ExpectedText {
    text: String,
    x_span: Range<usize>,
    y_span: Range<usize>,
    y_article_span: Option<Range<usize>>,
    x_article_span: Option<Range<usize>>,
}

fn expected_text(
    pieces: &[Piece],
    x_name: &str,
    x_article: Article,
    y_name: &str,
    y_article: Article,
) -> ExpectedText {
    let mut expected: ExpectedText = ExpectedText {
        text: String::new(),
        x_span: 0..0,
        y_span: 0..0,
        y_article_span: None,
        x_article_span: None,
    };
    for piece in pieces {
        let start: usize = expected.text.len();
        match piece {
            Piece::Literal(text) => expected.text.push_str(text),
            Piece::X => {
                expected.text.push_str(x_name);
                expected.x_span = start..expected.text.len();
            }
            Piece::Y => {
                expected.text.push_str(y_name);
                expected.y_span = start..expected.text.len();
            }
            Piece::ArticleX => {
                expected.text.push_str(x_article.as_str());
                expected.x_article_span = Some(start..expected.text.len());
            }
            Piece::ArticleY => {
                expected.text.push_str(y_article.as_str());
                expected.y_article_span = Some(start..expected.text.len());
            }
        }
    }
    expected
}

/// A stand-in for CLIP's tokenizer: one token per whitespace-separated word
/// plus start- and end-of-text.
fn words_plus_special_tokens(text: &str) -> usize {
    text.split_whitespace().count() + 2
}

// ---------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------

proptest! {
    // Regressions are stored next to this file (tests/*.proptest-regressions)
    // because the default location assumes a src/ tree beside the test.
    #![proptest_config(ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    /// Every soft text is its template with x, y and the articles in their
    /// slots: x before y, each exactly once in its slot (the rest of the text
    /// is exactly the template's literal text), articles by the rules.
    #[test]
    fn soft_text_fills_each_slot_exactly_once(
        names in distinct_names(class_name(), 6),
        case in relation_case(),
        first in any::<usize>(),
        offset in any::<usize>(),
    ) {
        let classes: ClassList = ClassList::new(names.clone()).unwrap();
        let (x, y) = distinct_pair(names.len(), first, offset);
        let soft: SoftText = render_soft_text(&classes, x, y, &case.relation).unwrap();
        let expected: ExpectedText = expected_text(
            &case.pieces,
            &names[x],
            indefinite_article(&names[x]),
            &names[y],
            indefinite_article(&names[y]),
        );
        prop_assert_eq!(&soft.text, &expected.text);
        prop_assert_eq!(&soft.x_span, &expected.x_span);
        prop_assert_eq!(&soft.y_span, &expected.y_span);
        prop_assert_eq!(&soft.y_article_span, &expected.y_article_span);
        prop_assert_eq!(&soft.x_article_span, &expected.x_article_span);
        prop_assert_eq!(soft.x_text(), names[x].as_str());
        prop_assert_eq!(soft.y_text(), names[y].as_str());
        prop_assert!(soft.x_span.end <= soft.y_span.start, "x must come before y");
    }

    /// A configured article wins; otherwise the rules decide.
    #[test]
    fn article_override_or_rule_is_used(
        names in distinct_names(class_name(), 5),
        overrides in prop::collection::vec(
            prop::option::of(prop::sample::select(vec![Article::A, Article::An])), 5),
        builtin_relation in builtin(),
        first in any::<usize>(),
        offset in any::<usize>(),
    ) {
        let specs: Vec<ClassSpec> = names
            .iter()
            .zip(&overrides)
            .map(|(name, article)| ClassSpec { name: name.clone(), article: *article })
            .collect();
        let classes: ClassList = ClassList::from_specs(specs).unwrap();
        let (x, y) = distinct_pair(names.len(), first, offset);
        let soft: SoftText =
            render_soft_text(&classes, x, y, &builtin_relation.relation()).unwrap();
        let expected_y: Article = overrides[y].unwrap_or_else(|| indefinite_article(&names[y]));
        prop_assert_eq!(soft.y_article_text(), Some(expected_y.as_str()));
        if let Some(x_article) = soft.x_article_text() {
            let expected_x: Article =
                overrides[x].unwrap_or_else(|| indefinite_article(&names[x]));
            prop_assert_eq!(x_article, expected_x.as_str());
        }
    }

    /// For plain lower-case words the rule is: an exception if one matches,
    /// otherwise "an" exactly before a vowel letter.
    #[test]
    fn article_rule_for_lowercase_words(word in "[a-z]{1,12}") {
        let decision = decide_article(&word);
        match decision.rule {
            ArticleRule::Exception { stem } => {
                let exception = ARTICLE_EXCEPTIONS
                    .iter()
                    .find(|exception| exception.stem == stem)
                    .unwrap();
                prop_assert!(word.starts_with(stem));
                prop_assert_eq!(decision.article, exception.article);
            }
            ArticleRule::FirstLetter => {
                let vowel: bool = word.starts_with(['a', 'e', 'i', 'o', 'u']);
                prop_assert_eq!(decision.article == Article::An, vowel);
            }
            other => prop_assert!(false, "unexpected rule {:?} for {}", other, word),
        }
    }

    /// Every prefix exception covers the words it starts.
    #[test]
    fn prefix_exceptions_cover_their_family(
        index in 0..ARTICLE_EXCEPTIONS.len(),
        suffix in "[a-z]{0,6}",
    ) {
        let exception = ARTICLE_EXCEPTIONS[index];
        let word: String = match exception.matching {
            StemMatch::Prefix => format!("{}{suffix}", exception.stem),
            StemMatch::WholeWord => exception.stem.to_string(),
        };
        prop_assert_eq!(indefinite_article(&word), exception.article);
    }

    /// Only the first word matters: appending more words never changes the
    /// article ("one-way street" is judged by "one").
    #[test]
    fn article_depends_only_on_the_first_word(first in word(), rest in class_name()) {
        // A word without letters or digits has no first word of its own.
        prop_assume!(first.chars().any(char::is_alphanumeric));
        let name: String = format!("{first} {rest}");
        prop_assert_eq!(indefinite_article(&name), indefinite_article(&first));
    }

    /// The full vocabulary is deterministic, duplicate-free, and has exactly
    /// pairs × relations texts in x-major order — unless two different keys
    /// render to the same text, which is reported (with both keys), never
    /// merged. Class names here may contain relation wording, so the
    /// collision really can happen.
    #[test]
    fn full_vocabulary_is_complete_or_reports_a_collision(
        names in prop_oneof![
            distinct_names(class_name(), 5),
            distinct_names(collision_prone_name(), 6),
        ],
        relations in relation_list(),
    ) {
        let classes: ClassList = ClassList::new(names.clone()).unwrap();
        let built = SoftVocabulary::all_pairs(&classes, &relations);
        prop_assert_eq!(&built, &SoftVocabulary::all_pairs(&classes, &relations));
        match built {
            Ok(vocabulary) => check_full_vocabulary(&classes, &relations, &vocabulary)?,
            Err(PromptError::AmbiguousSoftText { text, first, second }) => {
                prop_assert_ne!(first, second);
                for key in [first, second] {
                    let rendered: SoftText = render_soft_text(
                        &classes, key.x, key.y, &relations[key.relation]).unwrap();
                    prop_assert_eq!(&rendered.text, &text);
                }
            }
            Err(other) => prop_assert!(false, "unexpected error {}", other),
        }
    }

    /// With whitespace-free names and built-in relations no collision is
    /// possible, so the count is exact.
    #[test]
    fn full_vocabulary_count_is_exact_for_spaceless_names(
        names in distinct_names(spaceless_name(), 7),
        relations in builtin_list(),
    ) {
        let classes: ClassList = ClassList::new(names).unwrap();
        let vocabulary: SoftVocabulary = SoftVocabulary::all_pairs(&classes, &relations).unwrap();
        check_full_vocabulary(&classes, &relations, &vocabulary)?;
    }

    /// Per-image pairs with repeats: one text per distinct pair and relation,
    /// in first-seen order, each mapping back to its pair.
    #[test]
    fn vocabulary_from_pairs_is_first_seen_and_unique(
        names in distinct_names(spaceless_name(), 6),
        relations in builtin_list(),
        raw_pairs in prop::collection::vec((any::<usize>(), any::<usize>()), 0..40),
    ) {
        let classes: ClassList = ClassList::new(names.clone()).unwrap();
        let pairs: Vec<(usize, usize)> = raw_pairs
            .iter()
            .map(|&(first, offset)| distinct_pair(names.len(), first, offset))
            .collect();
        let vocabulary: SoftVocabulary =
            SoftVocabulary::from_pairs(&classes, &relations, pairs.iter().copied()).unwrap();
        prop_assert_eq!(
            &vocabulary,
            &SoftVocabulary::from_pairs(&classes, &relations, pairs.iter().copied()).unwrap()
        );

        let mut first_seen: Vec<(usize, usize)> = Vec::new();
        for pair in &pairs {
            if !first_seen.contains(pair) {
                first_seen.push(*pair);
            }
        }
        let expected_keys: Vec<SoftKey> = first_seen
            .iter()
            .flat_map(|&(x, y)| (0..relations.len()).map(move |relation| SoftKey { x, y, relation }))
            .collect();
        let keys: Vec<SoftKey> = vocabulary.entries().iter().map(|entry| entry.key).collect();
        prop_assert_eq!(keys, expected_keys);
        let unique_texts: HashSet<&str> = vocabulary.texts().collect();
        prop_assert_eq!(unique_texts.len(), vocabulary.len());
        for (text_index, entry) in vocabulary.entries().iter().enumerate() {
            prop_assert_eq!(vocabulary.pair_of(text_index), Some(entry.pair()));
            prop_assert_eq!(
                vocabulary.index_of(entry.key.x, entry.key.y, entry.key.relation),
                Some(text_index)
            );
        }
    }

    /// Asking for the pair (c, c) is an error, from the renderer and from
    /// the vocabulary builder, wherever it appears in the input.
    #[test]
    fn self_pairs_are_rejected(
        names in distinct_names(class_name(), 5),
        case in relation_case(),
        class in any::<usize>(),
        position in 0usize..3,
    ) {
        let classes: ClassList = ClassList::new(names.clone()).unwrap();
        let class: usize = class % names.len();
        let self_pair_error = PromptError::SelfPair { index: class, name: names[class].clone() };
        prop_assert_eq!(
            render_soft_text(&classes, class, class, &case.relation),
            Err(self_pair_error.clone())
        );
        let mut pairs: Vec<(usize, usize)> = vec![(0, 1), (1, 0)];
        pairs.insert(position, (class, class));
        prop_assert_eq!(
            SoftVocabulary::from_pairs(&classes, std::slice::from_ref(&case.relation), pairs),
            Err(self_pair_error)
        );
    }

    /// Every text over 77 tokens is reported with its full text and count;
    /// nothing is shortened, and nothing that fits is reported.
    #[test]
    fn over_long_texts_are_reported_never_cut(
        names in distinct_names(
            prop::collection::vec(word(), 1..60).prop_map(|words| words.join(" ")), 4),
        relations in relation_list(),
    ) {
        let classes: ClassList = ClassList::new(names).unwrap();
        let Ok(vocabulary) = SoftVocabulary::all_pairs(&classes, &relations) else {
            return Ok(()); // collisions are covered above
        };
        let texts: Vec<&str> = vocabulary.texts().collect();
        let report = check_token_lengths(
            texts.iter().copied(), &words_plus_special_tokens, CLIP_CONTEXT_LENGTH);
        prop_assert_eq!(report.checked, texts.len());
        let expected_indices: Vec<usize> = texts
            .iter()
            .enumerate()
            .filter(|(_, text)| words_plus_special_tokens(text) > CLIP_CONTEXT_LENGTH)
            .map(|(index, _)| index)
            .collect();
        let reported_indices: Vec<usize> =
            report.over_limit.iter().map(|over| over.index).collect();
        prop_assert_eq!(&reported_indices, &expected_indices);
        for over in &report.over_limit {
            prop_assert_eq!(over.text.as_str(), texts[over.index]);
            prop_assert_eq!(over.tokens, words_plus_special_tokens(texts[over.index]));
        }
        for entry in vocabulary.entries() {
            prop_assert_eq!(entry.soft.x_text(), classes.get(entry.key.x).unwrap().name());
            prop_assert_eq!(entry.soft.y_text(), classes.get(entry.key.y).unwrap().name());
        }
        let ensured = ensure_token_lengths(
            texts.iter().copied(), &words_plus_special_tokens, CLIP_CONTEXT_LENGTH);
        if expected_indices.is_empty() {
            prop_assert_eq!(ensured, Ok(report));
        } else {
            prop_assert_eq!(ensured, Err(PromptError::TextsTooLong(report)));
        }
    }

    /// Hard templates are used verbatim: class c under template t is the
    /// template with `{}` replaced by the name, "a" before vowels included.
    #[test]
    fn hard_prompts_are_verbatim_and_grouped_by_class(
        names in distinct_names(class_name(), 6),
        template_sources in prop::sample::subsequence(OPENAI_CIFAR10_TEMPLATES.to_vec(), 1..=18),
    ) {
        let classes: ClassList = ClassList::new(names.clone()).unwrap();
        let templates: Vec<HardTemplate> = template_sources
            .iter()
            .map(|source| HardTemplate::parse(source).unwrap())
            .collect();
        let prompts: HardPrompts = HardPrompts::new(&classes, &templates).unwrap();
        prop_assert_eq!(prompts.texts_by_class().len(), names.len());
        prop_assert_eq!(prompts.len(), names.len() * templates.len());
        for (class, texts) in prompts.texts_by_class().iter().enumerate() {
            let expected: Vec<String> = template_sources
                .iter()
                .map(|source| source.replacen("{}", &names[class], 1))
                .collect();
            prop_assert_eq!(texts, &expected);
        }
    }

    /// A config written out as TOML reads back to the same config, whatever
    /// the class names and custom templates contain.
    #[test]
    fn config_round_trips_through_toml(
        names in distinct_names(class_name(), 5),
        overrides in prop::collection::vec(
            prop::option::of(prop::sample::select(vec![Article::A, Article::An])), 5),
        relations in relation_list(),
    ) {
        let file: PromptConfigFile = PromptConfigFile {
            classes: Some(
                names
                    .iter()
                    .zip(&overrides)
                    .map(|(name, article)| ClassSpec { name: name.clone(), article: *article })
                    .collect(),
            ),
            hard: None,
            relations: Some(
                relations
                    .iter()
                    .map(|relation| RelationSpec {
                        name: relation.name().to_string(),
                        template: BuiltinRelation::from_name(relation.name())
                            .is_none()
                            .then(|| relation.template().as_str().to_string()),
                    })
                    .collect(),
            ),
        };
        let config: PromptConfig = PromptConfig::try_from(file.clone()).unwrap();
        let document: String = toml::to_string(&file).unwrap();
        prop_assert_eq!(PromptConfig::from_toml_str(&document).unwrap(), config.clone());
        prop_assert_eq!(config.relations(), relations.as_slice());
    }
}

/// Shared checks for a vocabulary over all ordered pairs.
fn check_full_vocabulary(
    classes: &ClassList,
    relations: &[Relation],
    vocabulary: &SoftVocabulary,
) -> Result<(), TestCaseError> {
    let class_count: usize = classes.len();
    prop_assert_eq!(
        vocabulary.len(),
        class_count * (class_count - 1) * relations.len()
    );
    let unique_texts: HashSet<&str> = vocabulary.texts().collect();
    prop_assert_eq!(unique_texts.len(), vocabulary.len());
    let expected_keys: Vec<SoftKey> = (0..class_count)
        .flat_map(|x| (0..class_count).map(move |y| (x, y)))
        .filter(|(x, y)| x != y)
        .flat_map(|(x, y)| (0..relations.len()).map(move |relation| SoftKey { x, y, relation }))
        .collect();
    let keys: Vec<SoftKey> = vocabulary.entries().iter().map(|entry| entry.key).collect();
    prop_assert_eq!(keys, expected_keys);
    for entry in vocabulary.entries() {
        let rendered: SoftText = render_soft_text(
            classes,
            entry.key.x,
            entry.key.y,
            &relations[entry.key.relation],
        )
        .unwrap();
        prop_assert_eq!(&entry.soft, &rendered);
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The paper's examples, exactly.
// ---------------------------------------------------------------------------

fn cifar10_text(x: usize, y: usize, relation: BuiltinRelation) -> String {
    render_soft_text(&ClassList::cifar10(), x, y, &relation.relation())
        .unwrap()
        .text
}

#[test]
fn paper_examples_render_exactly() {
    const AIRPLANE: usize = 0;
    const AUTOMOBILE: usize = 1;
    const BIRD: usize = 2;
    const CAT: usize = 3;
    const DOG: usize = 5;
    const TRUCK: usize = 9;
    let cases: [(usize, usize, BuiltinRelation, &str); 5] = [
        (
            AUTOMOBILE,
            TRUCK,
            BuiltinRelation::LookLike,
            "automobile look like a truck",
        ),
        (DOG, CAT, BuiltinRelation::LookLike, "dog look like a cat"),
        (CAT, DOG, BuiltinRelation::Like, "cat like a dog"),
        (
            AIRPLANE,
            BIRD,
            BuiltinRelation::Resemble,
            "airplane resemble a bird",
        ),
        (
            TRUCK,
            AUTOMOBILE,
            BuiltinRelation::Resemble,
            "truck resemble an automobile",
        ),
    ];
    for (x, y, relation, expected) in cases {
        assert_eq!(cifar10_text(x, y, relation), expected);
    }
}

#[test]
fn paper_hard_text_keeps_the_literal_article() {
    let prompts: HardPrompts = PromptConfig::paper().hard_prompts();
    assert_eq!(prompts.texts_by_class()[0], ["a photo of a airplane."]);
    assert_eq!(prompts.texts_by_class()[1], ["a photo of a automobile."]);
}

#[test]
fn article_examples_from_the_issue() {
    for (name, article) in [
        ("airplane", "an"),
        ("automobile", "an"),
        ("hour", "an"),
        ("unicorn", "a"),
        ("university", "a"),
        ("umbrella", "an"),
        ("one-way", "a"),
        ("X-ray", "an"),
    ] {
        assert_eq!(indefinite_article(name).as_str(), article, "{name}");
    }
}
