//! Tokenizer ids against open_clip's on a varied corpus (`tokenizer_corpus.json`) and on a
//! corpus of mojibake and stress texts (`mojibake_corpus.json`, from
//! `clip/fixtures/generate_mojibake_corpus.py`, run as
//! `/work/venv-clip/bin/python clip/fixtures/generate_mojibake_corpus.py`).

use clip::{CONTEXT_LENGTH, Tokenizer};
use serde::Deserialize;

use crate::common::fixture;

/// Built once: inflating and indexing the vocabulary per proptest case would dominate.
static TOKENIZER: std::sync::LazyLock<Tokenizer> =
    std::sync::LazyLock::new(|| Tokenizer::new().unwrap());

#[derive(Deserialize)]
struct Corpus {
    texts: Vec<String>,
    /// open_clip's ids, with or without their zero padding.
    ids: Vec<Vec<u32>>,
    /// Whether ftfy's mojibake repair changes the text (absent from held-out corpora).
    #[serde(default)]
    ftfy_fix_encoding_changes: Vec<bool>,
}

fn corpus(name: &str) -> Corpus {
    serde_json::from_str(&std::fs::read_to_string(fixture(name)).unwrap()).unwrap()
}

/// Asserts that every text of `corpus` tokenizes to open_clip's ids, listing those that do not.
fn assert_ids_match(corpus: &Corpus) {
    let failures: Vec<String> = corpus
        .texts
        .iter()
        .zip(&corpus.ids)
        .filter_map(|(text, expected)| {
            let mut expected = expected.clone();
            expected.resize(CONTEXT_LENGTH, 0);
            let ids = TOKENIZER.tokenize(text, CONTEXT_LENGTH);
            (ids != expected).then(|| format!("{text:?}\n  ours   {ids:?}\n  theirs {expected:?}"))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} differ:\n{}",
        failures.len(),
        corpus.texts.len(),
        failures.join("\n")
    );
}

#[test]
fn ids_match_open_clip() {
    let corpus = corpus("tokenizer_corpus.json");
    assert!(
        corpus.texts.len() > 300,
        "only {} texts",
        corpus.texts.len()
    );
    assert_ids_match(&corpus);
}

#[test]
fn mojibake_and_stress_texts_match_open_clip() {
    let corpus = corpus("mojibake_corpus.json");
    let repaired = corpus
        .ftfy_fix_encoding_changes
        .iter()
        .filter(|&&c| c)
        .count();
    assert!(repaired > 500 && corpus.texts.len() - repaired > 100);
    // The stress texts' kinds that once differed: a leading `-`, a special token's
    // spelling, a text past the context length.
    assert!(corpus.texts.iter().any(|t| t.starts_with("-7")));
    assert!(corpus.texts.iter().any(|t| t == "<end_of_text>"));
    assert!(corpus.ids.iter().any(|ids| ids.len() == CONTEXT_LENGTH));
    assert_ids_match(&corpus);
}

/// A held-out corpus too big to commit, in the same format, named by `CLIP_TOKENIZER_CORPUS`:
/// `CLIP_TOKENIZER_CORPUS=big.json cargo test -p clip --test tests -- --ignored held_out`.
#[test]
#[ignore = "needs a corpus named by CLIP_TOKENIZER_CORPUS"]
fn a_held_out_corpus_matches_open_clip() {
    let path =
        std::env::var("CLIP_TOKENIZER_CORPUS").expect("CLIP_TOKENIZER_CORPUS names a corpus");
    let corpus: Corpus = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_ids_match(&corpus);
}

#[test]
fn corpus_has_truncated_and_unicode_texts() {
    let corpus = corpus("tokenizer_corpus.json");
    let truncated = corpus
        .ids
        .iter()
        .filter(|ids| ids[CONTEXT_LENGTH - 1] == clip::END_OF_TEXT)
        .count();
    let non_ascii = corpus.texts.iter().filter(|t| !t.is_ascii()).count();
    assert!(truncated >= 2, "{truncated} truncated texts");
    assert!(non_ascii >= 100, "{non_ascii} non-ASCII texts");
}

proptest::proptest! {
    /// Any text gives `context` ids: start token, then ids in the vocabulary, one end token
    /// right after them (or at the last slot when truncated), zero padding after.
    #[test]
    fn any_text_gives_well_formed_ids(text in "\\PC{0,120}", context in 2usize..80) {
        let ids = TOKENIZER.tokenize(&text, context);
        proptest::prop_assert_eq!(ids.len(), context);
        proptest::prop_assert_eq!(ids[0], clip::START_OF_TEXT);
        let end = ids.iter().rposition(|&id| id == clip::END_OF_TEXT).unwrap();
        proptest::prop_assert!(ids[end + 1..].iter().all(|&id| id == 0));
        proptest::prop_assert!(ids[..end].iter().all(|&id| id < clip::END_OF_TEXT));
    }
}
