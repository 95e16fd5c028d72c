//! Choosing "a" or "an" before a class name.
//!
//! English picks the indefinite article by the *sound* that starts the next
//! word, not by its spelling, and pronunciation needs a dictionary we do not
//! want to ship. So the choice is approximated by a small rule set applied to
//! the name's first word (its leading run of alphanumeric characters, so
//! "X-ray" is judged by "X" and "one-way" by "one"). The first rule that
//! applies wins:
//!
//! 1. An explicit per-class override (see [`crate::prompts::ClassSpec`]) —
//!    handled by the class list, not here.
//! 2. The exceptions list [`ARTICLE_EXCEPTIONS`], matched against the
//!    lower-cased first word: a silent "h" takes "an" ("an hour"), a "u"/"eu"
//!    read as "you" takes "a" ("a unicorn", "a university"), an "o" read as
//!    "w" takes "a" ("a one-way").
//! 3. Initialisms: a first word of one to four ASCII capitals is read letter by
//!    letter, so it takes "an" when its first letter's name starts with a
//!    vowel sound (A E F H I L M N O R S X): "an X-ray", "an FBI van",
//!    "a UFO". Longer all-capital words are treated as ordinary words.
//! 4. Numbers: a first word starting with a digit is read as a number: "an"
//!    for 8… ("an 8-bit"), and for 11/18 when they are the leading group of
//!    thousands ("an 11-inch", "an 18000"), otherwise "a" ("a 1-way").
//! 5. First letter: a vowel letter (a e i o u, including accented Latin forms
//!    such as "é") gives "an" ("an airplane", "an umbrella"); anything else,
//!    including "y" and letters of non-Latin scripts, gives "a".
//!
//! A name without any alphanumeric character gets "a".

use std::fmt;

use serde::{Deserialize, Serialize};

/// An English indefinite article.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Article {
    /// "a", before a consonant sound.
    A,
    /// "an", before a vowel sound.
    An,
}

impl Article {
    /// The article as it appears in text: `"a"` or `"an"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Article::A => "a",
            Article::An => "an",
        }
    }
}

impl fmt::Display for Article {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// How an exception's stem is compared with a name's lower-cased first word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StemMatch {
    /// The first word must equal the stem ("one" but not "onerous").
    WholeWord,
    /// The first word must start with the stem ("hour" covers "hourglass").
    Prefix,
}

/// One entry of the exceptions list: words whose first sound contradicts
/// their first letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArticleException {
    /// Lower-case stem compared with the name's lower-cased first word.
    pub stem: &'static str,
    /// Whole-word or prefix comparison.
    pub matching: StemMatch,
    /// The article the matching words take.
    pub article: Article,
}

const fn prefix(stem: &'static str, article: Article) -> ArticleException {
    ArticleException {
        stem,
        matching: StemMatch::Prefix,
        article,
    }
}

const fn whole_word(stem: &'static str, article: Article) -> ArticleException {
    ArticleException {
        stem,
        matching: StemMatch::WholeWord,
        article,
    }
}

/// Words whose first sound contradicts their first letter. Deliberately
/// short: it covers the common families, and a class that still comes out
/// wrong should set its article explicitly in the config.
pub const ARTICLE_EXCEPTIONS: &[ArticleException] = &[
    // Silent "h": a vowel sound despite the consonant letter.
    prefix("hour", Article::An),
    prefix("honest", Article::An),
    prefix("honor", Article::An),
    prefix("honour", Article::An),
    prefix("heir", Article::An),
    // "u" read as "you": a consonant sound despite the vowel letter. Listed
    // as stems rather than "uni" because "unimportant" keeps "an".
    prefix("ubiquit", Article::A),
    prefix("ukulele", Article::A),
    prefix("unicorn", Article::A),
    prefix("unicycl", Article::A),
    prefix("uniform", Article::A),
    prefix("unilateral", Article::A),
    prefix("union", Article::A),
    prefix("unique", Article::A),
    prefix("unison", Article::A),
    prefix("unit", Article::A),
    prefix("univers", Article::A),
    prefix("uran", Article::A),
    prefix("urin", Article::A),
    prefix("use", Article::A),
    prefix("usual", Article::A),
    prefix("utensil", Article::A),
    prefix("uter", Article::A),
    prefix("util", Article::A),
    whole_word("ufo", Article::A),
    // "eu"/"ewe" read as "you".
    prefix("eu", Article::A),
    whole_word("ewe", Article::A),
    // "o" read as "w".
    whole_word("one", Article::A),
    whole_word("once", Article::A),
    prefix("ouija", Article::A),
];

/// Which rule decided an article; exposed so tests and reports can say why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArticleRule {
    /// An entry of [`ARTICLE_EXCEPTIONS`] matched; carries its stem.
    Exception {
        /// The stem that matched.
        stem: &'static str,
    },
    /// The first word was read letter by letter.
    Initialism,
    /// The first word was read as a number.
    Number,
    /// The first letter decided (vowel letter or not).
    FirstLetter,
    /// The name has no alphanumeric character to judge.
    NoWord,
}

/// The article chosen for a name together with the rule that chose it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArticleDecision {
    /// The chosen article.
    pub article: Article,
    /// The rule that chose it.
    pub rule: ArticleRule,
}

/// The indefinite article for `name` by the rules in the module docs
/// (without per-class overrides, which live in the class list).
pub fn indefinite_article(name: &str) -> Article {
    decide_article(name).article
}

/// Like [`indefinite_article`], but also reports which rule decided.
pub fn decide_article(name: &str) -> ArticleDecision {
    let word: &str = first_word(name);
    if word.is_empty() {
        return ArticleDecision {
            article: Article::A,
            rule: ArticleRule::NoWord,
        };
    }
    let lower_word: String = word.to_lowercase();
    if let Some(exception) = find_exception(&lower_word) {
        return ArticleDecision {
            article: exception.article,
            rule: ArticleRule::Exception {
                stem: exception.stem,
            },
        };
    }
    if is_initialism(word) {
        return ArticleDecision {
            article: initialism_article(word),
            rule: ArticleRule::Initialism,
        };
    }
    if word.starts_with(|character: char| character.is_ascii_digit()) {
        return ArticleDecision {
            article: number_article(word),
            rule: ArticleRule::Number,
        };
    }
    let starts_with_vowel: bool = lower_word.chars().next().is_some_and(is_vowel_letter);
    ArticleDecision {
        article: if starts_with_vowel {
            Article::An
        } else {
            Article::A
        },
        rule: ArticleRule::FirstLetter,
    }
}

/// The leading run of alphanumeric characters of `name`, after skipping any
/// leading punctuation or spaces; empty when there is none. This is the only
/// part of a name the article rules look at.
pub fn first_word(name: &str) -> &str {
    let start: usize = match name.find(char::is_alphanumeric) {
        Some(start) => start,
        None => return "",
    };
    let rest: &str = &name[start..];
    let length: usize = rest
        .find(|character: char| !character.is_alphanumeric())
        .unwrap_or(rest.len());
    &rest[..length]
}

fn find_exception(lower_word: &str) -> Option<&'static ArticleException> {
    ARTICLE_EXCEPTIONS
        .iter()
        .find(|exception| match exception.matching {
            StemMatch::WholeWord => lower_word == exception.stem,
            StemMatch::Prefix => lower_word.starts_with(exception.stem),
        })
}

/// Longer all-capital words ("NASA" is already borderline) are more often
/// shouted words than letter sequences, so the cut-off is kept short.
const MAX_INITIALISM_LENGTH: usize = 4;

fn is_initialism(word: &str) -> bool {
    word.len() <= MAX_INITIALISM_LENGTH && word.chars().all(|c| c.is_ascii_uppercase())
}

fn initialism_article(word: &str) -> Article {
    // Letters whose spoken name starts with a vowel sound: "ay", "ee", "ef",
    // "aitch", "eye", "el", "em", "en", "oh", "ar", "ess", "ex".
    const VOWEL_SOUND_LETTERS: &str = "AEFHILMNORSX";
    match word.chars().next() {
        Some(letter) if VOWEL_SOUND_LETTERS.contains(letter) => Article::An,
        _ => Article::A,
    }
}

fn number_article(word: &str) -> Article {
    let digits: &str = &word[..word
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(word.len())];
    // "eight…", "eighty…", "eight hundred…" all start with a vowel sound.
    if digits.starts_with('8') {
        return Article::An;
    }
    // "eleven"/"eighteen" are only spoken first when they head the leading
    // group of thousands: 11, 18, 11000, 18000000, but not 110 or 1800.
    let leads_group_of_thousands: bool = digits.len() % 3 == 2;
    if leads_group_of_thousands && (digits.starts_with("11") || digits.starts_with("18")) {
        return Article::An;
    }
    Article::A
}

fn is_vowel_letter(lower_letter: char) -> bool {
    const VOWEL_LETTERS: &str = "aeiouàáâãäåæèéêëìíîïòóôõöøœùúûü";
    VOWEL_LETTERS.contains(lower_letter)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn article_text(name: &str) -> &'static str {
        indefinite_article(name).as_str()
    }

    #[test]
    fn cifar10_classes_get_the_expected_articles() {
        let expected: [(&str, &str); 10] = [
            ("airplane", "an"),
            ("automobile", "an"),
            ("bird", "a"),
            ("cat", "a"),
            ("deer", "a"),
            ("dog", "a"),
            ("frog", "a"),
            ("horse", "a"),
            ("ship", "a"),
            ("truck", "a"),
        ];
        for (name, article) in expected {
            assert_eq!(article_text(name), article, "{name}");
        }
    }

    #[test]
    fn documented_exceptions_hold() {
        let expected: [(&str, &str); 16] = [
            ("hour", "an"),
            ("hourglass", "an"),
            ("honest man", "an"),
            ("heir", "an"),
            ("unicorn", "a"),
            ("university", "a"),
            ("umbrella", "an"),
            ("unimportant thing", "an"),
            ("one-way street", "a"),
            ("onion", "an"),
            ("European car", "a"),
            ("ewe", "a"),
            ("user", "a"),
            ("usher", "an"),
            ("horse", "a"),
            ("Hour", "an"),
        ];
        for (name, article) in expected {
            assert_eq!(article_text(name), article, "{name}");
        }
    }

    #[test]
    fn initialisms_are_read_letter_by_letter() {
        assert_eq!(article_text("X-ray"), "an");
        assert_eq!(article_text("FBI van"), "an");
        assert_eq!(article_text("UFO"), "a");
        assert_eq!(article_text("USB cable"), "a");
        assert_eq!(
            decide_article("EAGLES").rule,
            ArticleRule::FirstLetter,
            "long all-caps words are words"
        );
    }

    #[test]
    fn numbers_are_read_aloud() {
        assert_eq!(article_text("8-bit console"), "an");
        assert_eq!(article_text("80s car"), "an");
        assert_eq!(article_text("11-inch laptop"), "an");
        assert_eq!(article_text("18000"), "an");
        assert_eq!(article_text("110 bus"), "a");
        assert_eq!(article_text("1800s ship"), "a");
        assert_eq!(article_text("1-way"), "a");
    }

    #[test]
    fn non_ascii_and_wordless_names() {
        assert_eq!(article_text("éclair"), "an");
        assert_eq!(article_text("Ödland"), "an");
        assert_eq!(article_text("猫"), "a");
        assert_eq!(article_text("\"owl\""), "an");
        assert_eq!(decide_article("---").rule, ArticleRule::NoWord);
        assert_eq!(article_text("---"), "a");
    }

    #[test]
    fn first_word_stops_at_the_first_non_alphanumeric() {
        assert_eq!(first_word("X-ray"), "X");
        assert_eq!(first_word("  (one)-way"), "one");
        assert_eq!(first_word("sports car"), "sports");
        assert_eq!(first_word("?!"), "");
    }
}
