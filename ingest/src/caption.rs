//! Caption clean-up: what a caption from a sidecar file, a CSV cell, a URL list or a file
//! name becomes before it is stored, and which captions count as junk.
//!
//! The spec names no exact rules, so these are ours: decode the HTML entities and drop the
//! tags that scraped alt-texts carry, fold every run of whitespace and control characters
//! into one space, cap the length, and call a caption junk when nothing describing is left
//! (no letter at all, a bare URL, a hash, a camera file name such as `IMG_1234`, or a
//! placeholder such as `untitled`).

/// Longest caption kept, in characters; longer ones are cut at a character boundary.
/// CLIP reads 77 tokens, the rest is only shown to people.
pub const MAX_CAPTION_CHARS: usize = 1000;

/// Why a caption was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaptionProblem {
    /// Nothing is left after clean-up.
    Empty,
    /// Text is left but describes nothing (placeholder, URL, hash, camera file name).
    Junk,
}

impl CaptionProblem {
    /// The reason string of the ingest report.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Empty => "empty_caption",
            Self::Junk => "junk_caption",
        }
    }
}

/// Cleans `raw` and says whether what is left describes the image.
pub fn clean_caption(raw: &str) -> Result<String, CaptionProblem> {
    let text = collapse_whitespace(&strip_tags(&decode_entities(raw)));
    let text = match text.char_indices().nth(MAX_CAPTION_CHARS) {
        Some((cut, _)) => text[..cut].trim_end().to_owned(),
        None => text,
    };
    if text.is_empty() {
        Err(CaptionProblem::Empty)
    } else if is_junk(&text) {
        Err(CaptionProblem::Junk)
    } else {
        Ok(text)
    }
}

/// The caption a file name gives: its stem with `_` and `-` read as spaces.
pub fn caption_from_file_name(stem: &str) -> String {
    stem.replace(['_', '-'], " ")
}

/// Placeholders that scrapers and cameras put where a caption belongs.
const PLACEHOLDERS: &[&str] = &[
    "image",
    "images",
    "img",
    "photo",
    "picture",
    "pic",
    "untitled",
    "no caption",
    "no title",
    "caption",
    "null",
    "none",
    "nan",
    "n/a",
    "na",
    "undefined",
    "unknown",
    "placeholder",
    "thumbnail",
    "jpg",
    "jpeg",
    "png",
];

/// Prefixes of camera and phone file names (`IMG_1234`, `DSC01234`, `PXL 2023...`).
const CAMERA_PREFIXES: &[&str] = &[
    "img",
    "dsc",
    "dscn",
    "dscf",
    "pxl",
    "image",
    "photo",
    "screenshot",
    "screen shot",
    "mvimg",
    "vid",
];

fn is_junk(text: &str) -> bool {
    let lower = text.to_lowercase();
    let words: &str = lower.trim_matches(|c: char| c.is_ascii_punctuation() || c == ' ');
    if !text.chars().any(char::is_alphabetic) || PLACEHOLDERS.contains(&words) {
        return true;
    }
    let no_spaces = !lower.contains(' ');
    if no_spaces && (lower.starts_with("http://") || lower.starts_with("https://")) {
        return true;
    }
    if no_spaces && lower.len() >= 16 && lower.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return true;
    }
    CAMERA_PREFIXES.iter().any(|prefix| {
        lower.strip_prefix(prefix).is_some_and(|rest| {
            let rest = rest.trim_start_matches([' ', '_', '-']);
            !rest.is_empty()
                && rest.chars().next().is_some_and(|c| c.is_ascii_digit())
                && rest
                    .chars()
                    .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '_' | '-' | '.'))
        })
    })
}

/// Removes `<...>` tags; a `<` without a closing `>` is kept as text.
fn strip_tags(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        match rest[open..].find('>') {
            Some(close) => {
                // A tag separates words: `a<br>b` is two words.
                out.push(' ');
                rest = &rest[open + close + 1..];
            }
            None => {
                out.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Decodes the named entities scraped captions carry and every numeric one.
fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let decoded = rest
            .find(';')
            .filter(|&semi| semi <= 10)
            .and_then(|semi| Some((entity(&rest[1..semi])?, semi)));
        match decoded {
            Some((c, semi)) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn entity(name: &str) -> Option<char> {
    if let Some(number) = name.strip_prefix('#') {
        let code = match number.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => number.parse().ok()?,
        };
        return char::from_u32(code);
    }
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => ' ',
        _ => return None,
    })
}

/// Trims and folds every run of whitespace and control characters into one space.
fn collapse_whitespace(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_scraped_captions() {
        assert_eq!(
            clean_caption("  A <b>red</b>&nbsp;car &amp; a\tdog\n").unwrap(),
            "A red car & a dog"
        );
        assert_eq!(clean_caption("caf&#233; &#x263A;").unwrap(), "café ☺");
        assert_eq!(
            clean_caption("fish & chips &bogus;").unwrap(),
            "fish & chips &bogus;"
        );
        assert_eq!(clean_caption("1 < 2 apples").unwrap(), "1 < 2 apples");
    }

    #[test]
    fn rejects_empty_and_junk() {
        assert_eq!(clean_caption(" \t<br/> "), Err(CaptionProblem::Empty));
        for junk in [
            "IMG_1234",
            "DSC01234",
            "img 2023-04-01 1200",
            "Untitled",
            "image.",
            "12345 678",
            "https://example.com/a.jpg",
            "0f3a9c2e5b7d1a4c8e6f",
            "NaN",
        ] {
            assert_eq!(clean_caption(junk), Err(CaptionProblem::Junk), "{junk}");
        }
        for good in ["image of a cat", "Photo booth", "img of 3 dogs", "airplane"] {
            assert!(clean_caption(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn caps_length_at_a_character_boundary() {
        let long = "é".repeat(MAX_CAPTION_CHARS + 5);
        assert_eq!(
            clean_caption(&long).unwrap().chars().count(),
            MAX_CAPTION_CHARS
        );
    }

    #[test]
    fn file_names_become_captions() {
        assert_eq!(
            caption_from_file_name("red_car-at night"),
            "red car at night"
        );
    }
}
