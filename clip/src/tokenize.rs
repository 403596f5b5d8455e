//! The CLIP byte-level BPE tokenizer, with the same ids as OpenAI's and open_clip's.
//!
//! The vocabulary is OpenAI's MIT-licensed `bpe_simple_vocab_16e6.txt.gz`, embedded in the
//! crate. Text goes through [`TextCleaner`] (open_clip's `basic_clean`:
//! a port of ftfy's common fixes and a double HTML unescape, then whitespace folding and
//! lower-casing), is split by CLIP's pre-tokenizer pattern, and each piece is byte-level
//! BPE encoded. [`Tokenizer::tokenize`] wraps the ids in start/end tokens, truncates to the
//! context length (the last kept token is always the end token) and pads with zeros.
//!
//! ```
//! let tokenizer = clip::Tokenizer::new()?;
//! let ids = tokenizer.tokenize("a photo of a cat", 77);
//! assert_eq!(&ids[..3], &[49406, 320, 1125]);
//! assert_eq!(ids.len(), 77);
//! # Ok::<(), clip::TokenizerError>(())
//! ```

use std::collections::HashMap;
use std::io::Read;
use std::sync::Mutex;

use flate2::read::GzDecoder;
use regex::Regex;

use crate::text_clean::TextCleaner;

/// OpenAI's BPE merges, gzip-compressed (MIT licence, from the `openai-clip` 1.0.1 package).
const EMBEDDED_VOCAB_GZ: &[u8] = include_bytes!("../assets/bpe_simple_vocab_16e6.txt.gz");

/// Id of `<start_of_text>`.
pub const START_OF_TEXT: u32 = 49406;
/// Id of `<end_of_text>`; the largest id, so the text tower pools at its first occurrence.
pub const END_OF_TEXT: u32 = 49407;
/// CLIP's context length.
pub const CONTEXT_LENGTH: usize = 77;

/// Number of merges CLIP uses from the file (its first line is a header).
const MERGE_COUNT: usize = 49152 - 256 - 2;

/// open_clip's pre-tokenizer, with open_clip's special-token spellings. Its `re.IGNORECASE`
/// is kept for the literals (`'ſ` matches `'s`); the classes are the `regex` package's as
/// it matches them under that flag, by its own Unicode version (newer than Rust's), from
/// generated tables. U+0345, which folds to the letter `ι`, is in none of them.
fn piece_pattern() -> String {
    use crate::text_clean::unicode_tables::{PIECE_LETTER, PIECE_NUMBER, PIECE_OTHER};
    format!(
        "(?i:<start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d)|[{PIECE_LETTER}]+|[{PIECE_NUMBER}]|[{PIECE_OTHER}]+"
    )
}

/// Pieces longer than this are not cached, so an adversarial text cannot grow the cache
/// without bound through many distinct long words.
const CACHE_MAX_PIECE_BYTES: usize = 64;
/// Largest number of cached pieces; the cache is cleared when it is reached.
const CACHE_MAX_ENTRIES: usize = 100_000;

/// Why the tokenizer could not be built from a vocabulary file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenizerError {
    /// The gzip stream could not be inflated or is not UTF-8.
    #[error("vocabulary is not a gzip-compressed UTF-8 text: {0}")]
    Inflate(#[source] std::io::Error),
    /// The file holds fewer merges than CLIP uses.
    #[error("vocabulary has {found} merges, CLIP needs {MERGE_COUNT}")]
    TooFewMerges {
        /// Merges found after the header line.
        found: usize,
    },
    /// A merge line is not two space-separated symbols.
    #[error("vocabulary line {line} is not a merge of two symbols")]
    BadMerge {
        /// 1-based line number in the inflated file.
        line: usize,
    },
}

/// The CLIP BPE tokenizer.
#[derive(Debug)]
pub struct Tokenizer {
    /// Unicode stand-in character for each byte (GPT-2's `bytes_to_unicode`).
    byte_to_char: [char; 256],
    encoder: HashMap<String, u32>,
    /// Token of each id.
    vocab: Vec<String>,
    /// Rank of each merge, keyed by its two symbols.
    merge_ranks: HashMap<(String, String), u32>,
    piece_pattern: Regex,
    cleaner: TextCleaner,
    /// Memo of piece -> ids; BPE on a piece is pure, so caching never changes results.
    cache: Mutex<HashMap<String, Vec<u32>>>,
}

impl Tokenizer {
    /// The tokenizer with the embedded OpenAI vocabulary.
    pub fn new() -> Result<Self, TokenizerError> {
        Self::from_gz(EMBEDDED_VOCAB_GZ)
    }

    /// A tokenizer from a gzip-compressed merges file in OpenAI's format.
    pub fn from_gz(vocab_gz: &[u8]) -> Result<Self, TokenizerError> {
        let mut text = String::new();
        GzDecoder::new(vocab_gz)
            .read_to_string(&mut text)
            .map_err(TokenizerError::Inflate)?;
        Self::from_merges_text(&text)
    }

    fn from_merges_text(text: &str) -> Result<Self, TokenizerError> {
        let merges: Vec<(usize, &str)> = text
            .split('\n')
            .enumerate()
            .skip(1)
            .take(MERGE_COUNT)
            .collect();
        if merges.len() < MERGE_COUNT {
            return Err(TokenizerError::TooFewMerges {
                found: merges.len(),
            });
        }
        let byte_to_char = bytes_to_unicode();
        // GPT-2's order: the printable bytes' characters first, then the stand-ins for the
        // others (which `bytes_to_unicode` numbers from 256 up, so code order does it).
        let mut symbols: Vec<char> = byte_to_char.to_vec();
        symbols.sort_unstable();
        let mut vocab: Vec<String> = symbols.iter().map(char::to_string).collect();
        vocab.extend(symbols.iter().map(|c| format!("{c}</w>")));
        let mut merge_ranks = HashMap::with_capacity(MERGE_COUNT);
        for (rank, (line_index, line)) in (0u32..).zip(merges) {
            let (first, second) = line
                .split_once(' ')
                .filter(|(a, b)| !a.is_empty() && !b.is_empty() && !b.contains(' '))
                .ok_or(TokenizerError::BadMerge {
                    line: line_index + 1,
                })?;
            vocab.push(format!("{first}{second}"));
            merge_ranks.insert((first.to_owned(), second.to_owned()), rank);
        }
        vocab.push("<start_of_text>".to_owned());
        vocab.push("<end_of_text>".to_owned());
        let encoder = (0u32..)
            .zip(vocab.iter().cloned())
            .map(|(id, token)| (token, id))
            .collect();
        let piece_pattern =
            Regex::new(&piece_pattern()).expect("the piece pattern is a valid regex");
        Ok(Self {
            byte_to_char,
            encoder,
            vocab,
            merge_ranks,
            piece_pattern,
            cleaner: TextCleaner::default(),
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// BPE ids of `text`, without start/end tokens or truncation.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let cleaned = self.cleaner.clean(text);
        let mut ids = Vec::new();
        for piece in self.piece_pattern.find_iter(&cleaned) {
            ids.extend(self.encode_piece(piece.as_str()));
        }
        ids
    }

    /// `context_length` ids: start token, BPE ids, end token, zero padding. A text that does
    /// not fit is truncated and its last kept token replaced by the end token, as open_clip
    /// does. A `context_length` below 2 is raised to 2 so the output always holds both
    /// special tokens.
    pub fn tokenize(&self, text: &str, context_length: usize) -> Vec<u32> {
        let context_length = context_length.max(2);
        let mut ids = Vec::with_capacity(context_length);
        ids.push(START_OF_TEXT);
        ids.extend(self.encode(text));
        ids.push(END_OF_TEXT);
        if ids.len() > context_length {
            ids.truncate(context_length);
            ids[context_length - 1] = END_OF_TEXT;
        }
        ids.resize(context_length, 0);
        ids
    }

    /// [`Tokenizer::tokenize`] for each text, concatenated row after row.
    pub fn tokenize_batch<S: AsRef<str>>(&self, texts: &[S], context_length: usize) -> Vec<u32> {
        texts
            .iter()
            .flat_map(|text| self.tokenize(text.as_ref(), context_length))
            .collect()
    }

    /// The token for `id`, with `</w>` marking a word end; `None` past the vocabulary.
    pub fn token(&self, id: u32) -> Option<&str> {
        self.vocab.get(id as usize).map(String::as_str)
    }

    fn encode_piece(&self, piece: &str) -> Vec<u32> {
        match piece {
            "<start_of_text>" => return vec![START_OF_TEXT],
            "<end_of_text>" => return vec![END_OF_TEXT],
            _ => {}
        }
        let cacheable = piece.len() <= CACHE_MAX_PIECE_BYTES;
        if cacheable && let Some(ids) = self.cache.lock().ok().and_then(|c| c.get(piece).cloned()) {
            return ids;
        }
        let symbols = self.bpe(piece);
        let ids: Vec<u32> = symbols
            .iter()
            .map(|symbol| {
                *self
                    .encoder
                    .get(symbol)
                    .expect("every BPE symbol of merged byte characters is in the vocabulary")
            })
            .collect();
        if cacheable && let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHE_MAX_ENTRIES {
                cache.clear();
            }
            cache.insert(piece.to_owned(), ids.clone());
        }
        ids
    }

    /// Byte-level BPE of one piece: the symbols it merges into, the last one ending `</w>`.
    fn bpe(&self, piece: &str) -> Vec<String> {
        let mut symbols: Vec<String> = piece
            .bytes()
            .map(|b| self.byte_to_char[usize::from(b)].to_string())
            .collect();
        if let Some(last) = symbols.last_mut() {
            last.push_str("</w>");
        }
        loop {
            // The lowest-ranked adjacent pair; ties cannot occur since ranks are unique.
            let best = symbols
                .windows(2)
                .filter_map(|pair| {
                    self.merge_ranks
                        .get(&(pair[0].clone(), pair[1].clone()))
                        .map(|&rank| (rank, pair[0].clone(), pair[1].clone()))
                })
                .min_by_key(|(rank, _, _)| *rank);
            let Some((_, first, second)) = best else {
                break;
            };
            // Merge every occurrence of the pair, left to right, as CLIP's `bpe` does.
            let mut merged = Vec::with_capacity(symbols.len());
            let mut i = 0;
            while i < symbols.len() {
                if i + 1 < symbols.len() && symbols[i] == first && symbols[i + 1] == second {
                    merged.push(format!("{first}{second}"));
                    i += 2;
                } else {
                    merged.push(std::mem::take(&mut symbols[i]));
                    i += 1;
                }
            }
            symbols = merged;
            if symbols.len() == 1 {
                break;
            }
        }
        symbols
    }
}

/// GPT-2's reversible map from bytes to printable unicode characters.
fn bytes_to_unicode() -> [char; 256] {
    let printable = |b: u32| {
        (u32::from(b'!')..=u32::from(b'~')).contains(&b)
            || (0xA1..=0xAC).contains(&b)
            || (0xAE..=0xFF).contains(&b)
    };
    let mut map = ['\0'; 256];
    let mut next_extra = 256u32;
    for (b, slot) in (0u32..).zip(map.iter_mut()) {
        let code = if printable(b) {
            b
        } else {
            next_extra += 1;
            next_extra - 1
        };
        *slot = char::from_u32(code).expect("codes below 512 are valid chars");
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_vocabulary_loads() {
        let tokenizer = Tokenizer::new().unwrap();
        assert_eq!(tokenizer.encoder.len(), 49408);
        assert_eq!(tokenizer.token(END_OF_TEXT), Some("<end_of_text>"));
    }

    #[test]
    fn truncation_keeps_end_token() {
        let tokenizer = Tokenizer::new().unwrap();
        let long = "word ".repeat(200);
        let ids = tokenizer.tokenize(&long, CONTEXT_LENGTH);
        assert_eq!(ids.len(), CONTEXT_LENGTH);
        assert_eq!(ids[0], START_OF_TEXT);
        assert_eq!(ids[CONTEXT_LENGTH - 1], END_OF_TEXT);
        assert!(ids[1..CONTEXT_LENGTH - 1].iter().all(|&id| id != 0));
    }

    #[test]
    fn empty_text_is_start_end_and_padding() {
        let tokenizer = Tokenizer::new().unwrap();
        let ids = tokenizer.tokenize("   ", 5);
        assert_eq!(ids, vec![START_OF_TEXT, END_OF_TEXT, 0, 0, 0]);
    }

    #[test]
    fn pieces_split_as_open_clip_splits_them() {
        let tokenizer = Tokenizer::new().unwrap();
        // U+0345 belongs to no piece; `'ſ` is one piece, as `'s` is.
        assert_eq!(tokenizer.encode("a\u{345}b"), tokenizer.encode("a b"));
        assert_eq!(tokenizer.encode("'ſ"), vec![6, 129, 379]);
        // A special token's spelling is that token, wherever it stands.
        assert_eq!(
            tokenizer.tokenize("x<END_OF_TEXT>", 5),
            vec![START_OF_TEXT, 343, END_OF_TEXT, END_OF_TEXT, 0]
        );
    }

    #[test]
    fn corrupt_vocabulary_is_an_error() {
        assert!(matches!(
            Tokenizer::from_gz(b"not gzip"),
            Err(TokenizerError::Inflate(_))
        ));
    }
}
