//! ftfy's mojibake repair (`fix_encoding`): text that was UTF-8 but got decoded as a
//! single-byte encoding (Latin-1, Windows-1252, ...) is encoded back and decoded as UTF-8,
//! so `"cafÃ©"` becomes `"café"` and `"â€™"` becomes `"’"`.
//!
//! A port of ftfy 6.3.1's `_fix_encoding_one_step_and_explain`, repeated to a fixed point:
//! text that looks bad ([`BADNESS`]) is tried against each single-byte
//! encoding in ftfy's order; the first whose bytes decode as UTF-8 (after putting back
//! 0xA0 bytes that became spaces, and marking sequences a sloppy codec lost) wins. Failing
//! that, runs that look like UTF-8 mojibake are repaired one by one, and C1 controls are
//! read as Windows-1252. Text that does not look bad is returned as it is.

use std::borrow::Cow;

use regex::Regex;
use regex::bytes::Regex as BytesRegex;

use super::ftfy_tables::C1_AS_WINDOWS_1252;
use super::mojibake_tables::{
    ALTERED_UTF8, BADNESS, CHARMAPS, LOSSY_UTF8, UTF8_CONTINUATION_STRICT, UTF8_DETECTOR,
};

/// The compiled patterns of the repair.
#[derive(Debug, Clone)]
pub(crate) struct MojibakeFixer {
    badness: Regex,
    utf8_detector: Regex,
    utf8_continuation_strict: Regex,
    altered_utf8: BytesRegex,
    lossy_utf8: BytesRegex,
}

impl Default for MojibakeFixer {
    fn default() -> Self {
        let text = |pattern| Regex::new(pattern).expect("generated patterns are valid");
        let bytes = |pattern| BytesRegex::new(pattern).expect("generated patterns are valid");
        Self {
            badness: text(BADNESS),
            utf8_detector: text(UTF8_DETECTOR),
            utf8_continuation_strict: text(UTF8_CONTINUATION_STRICT),
            altered_utf8: bytes(ALTERED_UTF8),
            lossy_utf8: bytes(LOSSY_UTF8),
        }
    }
}

impl MojibakeFixer {
    /// ftfy's `fix_encoding`: one repair step after another until the text stays the same.
    pub(crate) fn fix_encoding(&self, text: &str) -> String {
        let mut text = text.to_owned();
        loop {
            match self.fix_one_step(&text) {
                Some(fixed) if fixed != text => text = fixed,
                _ => return text,
            }
        }
    }

    /// One step; `None` when it changes nothing.
    fn fix_one_step(&self, text: &str) -> Option<String> {
        if text.is_ascii() || !self.badness.is_match(text) {
            return None;
        }
        for (name, charmap) in &CHARMAPS {
            let Some(mut bytes) = encode(text, charmap) else {
                continue;
            };
            // MacRoman's en dash plus a space would look like an altered 0xA0.
            if *name != "macroman" && self.altered_utf8.is_match(&bytes) {
                bytes = self.restore_byte_a0(&bytes);
            }
            if name.starts_with("sloppy") {
                bytes = self
                    .lossy_utf8
                    .replace_all(&bytes, "\u{fffd}".as_bytes())
                    .into_owned();
            }
            if let Some(fixed) = decode_utf8_variants(&bytes) {
                return Some(fixed);
            }
        }
        let fixed = self.decode_inconsistent_utf8(text);
        if fixed != text {
            return Some(fixed);
        }
        // ftfy first tries Latin-1 -> strict Windows-1252, then the sloppy table; for C1
        // characters both give the sloppy table's result.
        text.contains(is_c1).then(|| fix_c1_controls(text))
    }

    /// ftfy's `restore_byte_a0`: spaces that stand for byte 0xA0 inside UTF-8 sequences
    /// (and `"Ã "` before a word, Portuguese/French `à`) become 0xA0 again.
    fn restore_byte_a0(&self, bytes: &[u8]) -> Vec<u8> {
        // A_GRAVE_WORD_RE: `\xc3 (?! |quele|quela|quilo|s )`.
        let mut restored = Vec::with_capacity(bytes.len() + 4);
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i..].starts_with(b"\xc3 ")
                && ![&b" "[..], b"quele", b"quela", b"quilo", b"s "]
                    .iter()
                    .any(|word| bytes[i + 2..].starts_with(word))
            {
                restored.extend_from_slice(b"\xc3\xa0 ");
                i += 2;
            } else {
                restored.push(bytes[i]);
                i += 1;
            }
        }
        self.altered_utf8
            .replace_all(&restored, |caps: &regex::bytes::Captures<'_>| {
                caps[0]
                    .iter()
                    .map(|&b| if b == b' ' { 0xa0 } else { b })
                    .collect::<Vec<u8>>()
            })
            .into_owned()
    }

    /// ftfy's `decode_inconsistent_utf8`: each run that looks like UTF-8 mojibake, shorter
    /// than the whole text and bad on its own, is repaired by itself.
    fn decode_inconsistent_utf8(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut copied = 0;
        let mut from = 0;
        while let Some(found) = self.utf8_detector.find_at(text, from) {
            // The look-behind of UTF8_DETECTOR_RE: no match right after a strict
            // continuation character; the search goes on at the next character.
            let after_continuation = text[..found.start()].chars().next_back().is_some_and(|c| {
                self.utf8_continuation_strict
                    .is_match(c.encode_utf8(&mut [0; 4]))
            });
            if after_continuation {
                from = found.start()
                    + text[found.start()..]
                        .chars()
                        .next()
                        .map_or(1, char::len_utf8);
                continue;
            }
            let run = found.as_str();
            if run.len() < text.len() && self.badness.is_match(run) {
                out.push_str(&text[copied..found.start()]);
                out.push_str(&self.fix_encoding(run));
                copied = found.end();
            }
            from = found.end();
        }
        out.push_str(&text[copied..]);
        out
    }
}

/// `text` in a single-byte encoding (`None` if a character is not in it). ASCII maps to
/// itself, except byte 0x1A, which the table places like the high bytes.
fn encode(text: &str, charmap: &[char; 129]) -> Option<Vec<u8>> {
    text.chars()
        .map(|c| {
            if c.is_ascii() && c != '\u{1a}' {
                return Some(c as u8);
            }
            let index = charmap.iter().position(|&m| m == c)?;
            Some(if index == 128 {
                0x1a
            } else {
                0x80 + index as u8
            })
        })
        .collect()
}

/// ftfy's `utf-8-variants` codec: strict UTF-8 that also accepts CESU-8 surrogate pairs and
/// Java's `C0 80` for NUL; `None` where the bytes are not that.
fn decode_utf8_variants(bytes: &[u8]) -> Option<String> {
    let plain = |bytes: &[u8]| std::str::from_utf8(bytes).ok().map(str::to_owned);
    if !bytes.iter().any(|&b| b == 0xed || b == 0xc0) {
        return plain(bytes);
    }
    let continuation = |b: u8| (0x80..=0xbf).contains(&b);
    let mut normal = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let rest = &bytes[i..];
        if rest.starts_with(b"\xc0\x80") {
            normal.push(0);
            i += 2;
        } else if let [
            0xed,
            high @ 0xa0..=0xaf,
            b2,
            0xed,
            low @ 0xb0..=0xbf,
            b5,
            ..,
        ] = *rest
            && continuation(b2)
            && continuation(b5)
        {
            let high = 0xd800 + ((u32::from(high) & 0x0f) << 6 | (u32::from(b2) & 0x3f));
            let low = 0xdc00 + ((u32::from(low) & 0x0f) << 6 | (u32::from(b5) & 0x3f));
            let c = char::from_u32(0x10000 + ((high - 0xd800) << 10) + (low - 0xdc00))?;
            normal.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
            i += 6;
        } else {
            normal.push(bytes[i]);
            i += 1;
        }
    }
    plain(&normal)
}

fn is_c1(c: char) -> bool {
    ('\u{80}'..='\u{9f}').contains(&c)
}

/// C1 controls read as (sloppy) Windows-1252, as web browsers do.
pub(crate) fn fix_c1_controls(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\u{80}'..='\u{9f}' => Cow::Borrowed(C1_AS_WINDOWS_1252[c as usize - 0x80]),
            _ => Cow::Owned(c.to_string()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_mojibake_is_repaired() {
        let fixer = MojibakeFixer::default();
        for (broken, fixed) in [
            ("cafÃ©", "café"),
            ("donâ€™t", "don’t"),
            ("voilÃ le travail", "voilà le travail"),
            ("â€œquotedâ€\u{9d}", "“quoted”"),
            ("Ã¼ber naÃ¯ve", "über naïve"),
            // Bad by ftfy's rule "accented letter, punctuation, `\w`", whose `\w` takes `½`.
            ("café»½×dog", "caf黽×dog"),
        ] {
            assert_eq!(fixer.fix_encoding(broken), fixed, "{broken}");
        }
    }

    #[test]
    fn clean_text_is_left_alone() {
        let fixer = MojibakeFixer::default();
        for text in [
            "café",
            "plain ascii",
            "Ünïcödé ½ × ÷",
            "東京 🐱",
            "naïve — ok",
        ] {
            assert_eq!(fixer.fix_encoding(text), text);
        }
    }

    #[test]
    fn runs_after_a_continuation_character_are_left_alone() {
        // ftfy's look-behind covers the whole U+0080..U+00BF range: `¨Ü²` and `¤¯` are no
        // repairable runs, so these Latin-1 texts, bad as they look, stay as they are.
        let fixer = MojibakeFixer::default();
        for text in ["XacÉXí.Xù£.Y©è¨³Ä", "Ãb Y»¾Ïµb¸ Y", "$¨Ü²G3", "¡Ý¤¯^}Z"]
        {
            assert_eq!(fixer.fix_encoding(text), text);
        }
    }

    #[test]
    fn utf8_variants_decode_cesu8_and_java_nul() {
        assert_eq!(
            decode_utf8_variants(b"a\xed\xa0\xbd\xed\xb8\x80\xc0\x80").as_deref(),
            Some("a😀\0")
        );
        assert_eq!(decode_utf8_variants(b"\xed\xa0\xbd"), None);
    }
}
