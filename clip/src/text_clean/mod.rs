//! The text clean-up open_clip runs before tokenizing: a port of ftfy's common fixes, a
//! double HTML unescape, whitespace folding and lower-casing.
//!
//! open_clip's `_clean_lower` is `whitespace_clean(basic_clean(text)).lower()` with
//! `basic_clean = html.unescape(html.unescape(ftfy.fix_text(text))).strip()`. This module
//! ports ftfy 6.3.1's `fix_text` step by step (HTML entities, mojibake repair, C1 controls
//! read as Windows-1252, Latin ligatures, character width, curly quotes, line breaks,
//! terminal escapes, control characters, NFC), repeated to a fixed point per line (per
//! million characters of a longer line) as ftfy does. The mojibake repair (ftfy's
//! `fix_encoding`, in `text_clean/mojibake.rs`) re-decodes text that was UTF-8 read as a
//! single-byte encoding: `"cafÃ©"` becomes `"café"`.

mod ftfy_tables;
mod html_tables;
mod mojibake;
mod mojibake_tables;
pub(crate) mod unicode_tables;

use std::cmp::Ordering;

use regex::{Captures, Regex};
use unicode_normalization::UnicodeNormalization;

use self::mojibake::{MojibakeFixer, fix_c1_controls};

/// The compiled patterns of the clean-up; build once and reuse.
#[derive(Debug, Clone)]
pub struct TextCleaner {
    /// ftfy's `HTML_ENTITY_RE`: entities that end in `;`.
    ftfy_entity: Regex,
    /// Python `html`'s `_charref`.
    html_charref: Regex,
    /// ftfy's `ANSI_RE`.
    terminal_escape: Regex,
    /// ftfy's `fix_encoding`.
    mojibake: MojibakeFixer,
}

impl Default for TextCleaner {
    fn default() -> Self {
        let compile = |pattern| Regex::new(pattern).expect("constant patterns are valid");
        Self {
            ftfy_entity: compile(r"&#?[0-9A-Za-z]{1,24};"),
            html_charref: compile(r"&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\x0C <&#;]{1,32};?)"),
            terminal_escape: compile(ftfy_tables::TERMINAL_ESCAPE),
            mojibake: MojibakeFixer::default(),
        }
    }
}

impl TextCleaner {
    /// The text open_clip's default tokenizer hands to its pre-tokenizer.
    pub fn clean(&self, text: &str) -> String {
        let fixed = self.fix_text(text);
        let unescaped = self.html_unescape(&self.html_unescape(&fixed));
        let mut folded = String::with_capacity(unescaped.len());
        for word in unescaped.split(is_python_space).filter(|w| !w.is_empty()) {
            if !folded.is_empty() {
                folded.push(' ');
            }
            folded.push_str(word);
        }
        by_python_runs(&folded, str::to_lowercase)
    }

    /// Python's `html.unescape`.
    pub fn html_unescape(&self, text: &str) -> String {
        if !text.contains('&') {
            return text.to_owned();
        }
        self.html_charref
            .replace_all(text, |caps: &Captures<'_>| charref(&caps[1]))
            .into_owned()
    }

    /// ftfy's `fix_text` with its default configuration.
    fn fix_text(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        // As in ftfy, a line holding `<` looks like HTML source: entities are left alone
        // from there on, for the rest of the text.
        let mut unescape_entities = true;
        for segment in text.split_inclusive('\n').flat_map(segments) {
            if segment.contains('<') {
                unescape_entities = false;
            }
            out.push_str(&self.fix_segment(segment, unescape_entities));
        }
        out
    }

    /// ftfy's `fix_and_explain` on one line: every fix in order, until nothing changes.
    fn fix_segment(&self, segment: &str, unescape_entities: bool) -> String {
        let mut text = segment.to_owned();
        loop {
            let before = text.clone();
            if unescape_entities {
                text = self
                    .ftfy_entity
                    .replace_all(&text, |caps: &Captures<'_>| {
                        self.unescape_ftfy_entity(&caps[0])
                    })
                    .into_owned();
            }
            text = self.mojibake.fix_encoding(&text);
            text = fix_c1_controls(&text);
            text = translate(&text, ftfy_tables::LIGATURES);
            text = translate(&text, ftfy_tables::WIDTH_MAP);
            text = text
                .chars()
                .map(|c| match c {
                    '\u{2bc}' | '\u{2018}'..='\u{201b}' => '\'',
                    '\u{201c}'..='\u{201f}' => '"',
                    _ => c,
                })
                .collect();
            text = text
                .replace("\r\n", "\n")
                .replace(['\r', '\u{2028}', '\u{2029}', '\u{85}'], "\n");
            text = self.terminal_escape.replace_all(&text, "").into_owned();
            text.retain(|c| !is_ftfy_control(c));
            text = by_python_runs(&text, |run| run.nfc().collect());
            if text == before {
                return text;
            }
        }
    }

    /// ftfy's `_unescape_fixup` for one match of its entity pattern.
    fn unescape_ftfy_entity(&self, entity: &str) -> String {
        let name = &entity[1..];
        if let Some(text) =
            lookup(html_tables::NAMED, name).or_else(|| lookup(ftfy_tables::UPPER_ENTITIES, name))
        {
            return text.to_owned();
        }
        if entity.starts_with("&#") {
            let unescaped = self.html_unescape(entity);
            // A reference decoded only in part keeps its `;`: ftfy leaves it as written.
            if !unescaped.contains(';') {
                return unescaped;
            }
        }
        entity.to_owned()
    }
}

/// ftfy's `max_decode_length`: a longer line is fixed in pieces of this many characters
/// (which bounds its cost), so a repair never spans two pieces.
const MAX_SEGMENT_CHARS: usize = 1_000_000;

/// `line` in pieces of at most [`MAX_SEGMENT_CHARS`] characters.
fn segments(line: &str) -> impl Iterator<Item = &str> {
    let mut rest = line;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = rest
            .char_indices()
            .nth(MAX_SEGMENT_CHARS)
            .map_or(rest.len(), |(at, _)| at);
        let (segment, tail) = rest.split_at(end);
        rest = tail;
        Some(segment)
    })
}

/// Whether Python 3.11, whose Unicode (14) is older than Rust's, has `c` assigned.
fn known_to_python(c: char) -> bool {
    let code = u32::from(c);
    unicode_tables::PYTHON_ASSIGNED
        .binary_search_by(|&(low, high)| {
            if high < code {
                Ordering::Less
            } else if low > code {
                Ordering::Greater
            } else {
                Ordering::Equal
            }
        })
        .is_ok()
}

/// `fix` (NFC or lower-casing) applied as Python applies it: to the runs of characters it
/// knows, leaving the others as they are. To Python an unassigned character is a starter
/// that composes with nothing and is neither cased nor case-ignorable, so it ends every
/// composition and every final-sigma context: fixing the runs apart is fixing the whole.
fn by_python_runs(text: &str, fix: impl Fn(&str) -> String) -> String {
    if text.chars().all(known_to_python) {
        return fix(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(first) = rest.chars().next() {
        let known = known_to_python(first);
        let end = rest
            .char_indices()
            .find(|&(_, c)| known_to_python(c) != known)
            .map_or(rest.len(), |(at, _)| at);
        let (run, tail) = rest.split_at(end);
        if known {
            out.push_str(&fix(run));
        } else {
            out.push_str(run);
        }
        rest = tail;
    }
    out
}

/// Python's `str.isspace`: Unicode White_Space plus the four ASCII separators U+1C..U+1F.
fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

fn lookup<'a>(table: &[(&str, &'a str)], name: &str) -> Option<&'a str> {
    table
        .binary_search_by(|(key, _)| (*key).cmp(name))
        .ok()
        .map(|i| table[i].1)
}

/// Python's `str.translate` with a table of single characters.
fn translate(text: &str, table: &[(char, &str)]) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match table.binary_search_by(|(key, _)| key.cmp(&c)) {
            Ok(i) => out.push_str(table[i].1),
            Err(_) => out.push(c),
        }
    }
    out
}

/// ftfy's `CONTROL_CHARS`: controls other than tab and line breaks, deprecated Arabic
/// format controls, the byte-order mark and interlinear annotation characters.
fn is_ftfy_control(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{8}' | '\u{b}' | '\u{e}'..='\u{1f}' | '\u{7f}'
        | '\u{206a}'..='\u{206f}' | '\u{feff}' | '\u{fff9}'..='\u{fffc}')
}

/// Python's `html._replace_charref` for the text after `&`.
fn charref(reference: &str) -> String {
    if let Some(number) = reference.strip_prefix('#') {
        let number = number.trim_end_matches(';');
        let (digits, radix) = match number.strip_prefix(['x', 'X']) {
            Some(hex) => (hex, 16),
            None => (number, 10),
        };
        // Saturate: any number past U+10FFFF decodes to U+FFFD, however large.
        let code = digits.chars().fold(0u32, |acc, d| {
            acc.saturating_mul(radix)
                .saturating_add(d.to_digit(radix).unwrap_or(0))
        });
        if let Ok(i) = html_tables::INVALID_CHARREFS.binary_search_by_key(&code, |(k, _)| *k) {
            return html_tables::INVALID_CHARREFS[i].1.to_owned();
        }
        if (0xD800..=0xDFFF).contains(&code) || code > 0x10FFFF {
            return '\u{fffd}'.to_string();
        }
        if html_tables::INVALID_CODEPOINTS.binary_search(&code).is_ok() {
            return String::new();
        }
        return char::from_u32(code).map(String::from).unwrap_or_default();
    }
    if let Some(text) = lookup(html_tables::NAMED, reference) {
        return text.to_owned();
    }
    // The longest prefix (of at least two characters, shorter than the whole) that is an
    // entity the standard allows without `;`.
    let boundaries: Vec<usize> = reference.char_indices().map(|(i, _)| i).collect();
    for &end in boundaries.iter().skip(2).rev() {
        if let Some(text) = lookup(html_tables::NAMED, &reference[..end]) {
            return format!("{text}{}", &reference[end..]);
        }
    }
    format!("&{reference}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_unescape_follows_python() {
        let cleaner = TextCleaner::default();
        assert_eq!(
            cleaner.html_unescape("&amp;lt; &gt &notit; &#x41;&#66 &#0; &#128; &#xD800;"),
            "&lt; > ¬it; AB \u{fffd} € \u{fffd}"
        );
        assert_eq!(cleaner.html_unescape("&unknown; &"), "&unknown; &");
    }

    #[test]
    fn ftfy_fixes_apply() {
        let cleaner = TextCleaner::default();
        assert_eq!(
            cleaner.clean("“Ｌｏｕｄ”  ﬁsh\u{3000}&NTILDE; \u{93}x\u{94}"),
            "\"loud\" fish ñ \"x\""
        );
        assert_eq!(cleaner.clean("\x1b[36mblue\x1b[0m e\u{301}"), "blue é");
    }

    #[test]
    fn characters_newer_than_python_are_left_as_python_leaves_them() {
        let cleaner = TextCleaner::default();
        // U+1C89 (Unicode 16) is a capital letter to Rust, unassigned to Python 3.11: not
        // lower-cased, and no cased letter before a final sigma.
        assert_eq!(cleaner.clean("\u{1c89}Σ"), "\u{1c89}σ");
        assert_eq!(cleaner.clean("AΣ\u{1c89}"), "aς\u{1c89}");
        // A digit of Unicode 15 (Kawi) is no digit to ftfy's terminal-escape pattern: the
        // escape is not removed whole, only its control character.
        assert_eq!(cleaner.clean("\x1b[\u{11f50}mx"), "[\u{11f50}mx");
    }

    #[test]
    fn long_lines_are_fixed_in_pieces_as_ftfy_fixes_them() {
        let cleaner = TextCleaner::default();
        // The mojibake `Ã©` is repaired within a piece, kept when the pieces split it.
        let within = format!("{}Ã©", " ".repeat(MAX_SEGMENT_CHARS - 2));
        let across = format!("{}Ã©", " ".repeat(MAX_SEGMENT_CHARS - 1));
        assert_eq!(cleaner.clean(&within), "é");
        assert_eq!(cleaner.clean(&across), "ã©");
    }

    #[test]
    fn entities_are_kept_after_a_line_with_markup() {
        let cleaner = TextCleaner::default();
        // ftfy skips its own unescape from a `<` on; open_clip's html.unescape still runs.
        assert_eq!(cleaner.clean("<b>&ldquo;x&rdquo;</b>"), "<b>“x”</b>");
        assert_eq!(cleaner.clean("&ldquo;x&rdquo;"), "\"x\"");
    }
}
