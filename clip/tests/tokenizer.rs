//! Tokenizer ids against open_clip's on a varied corpus (`tokenizer_corpus.json`).

use clip::{CONTEXT_LENGTH, Tokenizer};
use serde::Deserialize;

use crate::common::fixture;

/// Built once: inflating and indexing the vocabulary per proptest case would dominate.
static TOKENIZER: std::sync::LazyLock<Tokenizer> =
    std::sync::LazyLock::new(|| Tokenizer::new().unwrap());

#[derive(Deserialize)]
struct Corpus {
    texts: Vec<String>,
    ids: Vec<Vec<u32>>,
    /// Whether ftfy's mojibake repair (not ported) changes the text.
    ftfy_fix_encoding_changes: Vec<bool>,
}

#[test]
fn ids_match_open_clip_wherever_mojibake_repair_changes_nothing() {
    let corpus: Corpus =
        serde_json::from_str(&std::fs::read_to_string(fixture("tokenizer_corpus.json")).unwrap())
            .unwrap();
    let tokenizer = &*TOKENIZER;
    let mut checked = 0;
    let mut failures = Vec::new();
    for ((text, expected), mojibake) in corpus
        .texts
        .iter()
        .zip(&corpus.ids)
        .zip(&corpus.ftfy_fix_encoding_changes)
    {
        if *mojibake {
            continue;
        }
        checked += 1;
        let ids = tokenizer.tokenize(text, CONTEXT_LENGTH);
        if &ids != expected {
            failures.push(format!("{text:?}\n  ours   {ids:?}\n  theirs {expected:?}"));
        }
    }
    assert!(checked > 300, "only {checked} texts checked");
    assert!(
        failures.is_empty(),
        "{} of {checked} differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn corpus_has_truncated_and_unicode_texts() {
    let corpus: Corpus =
        serde_json::from_str(&std::fs::read_to_string(fixture("tokenizer_corpus.json")).unwrap())
            .unwrap();
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
