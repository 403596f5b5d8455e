//! Caption clean-up: what a caption from a sidecar file, a CSV cell, a URL list or a file
//! name becomes before it is stored, and which captions count as junk.
//!
//! The spec names no exact rules, so these are ours: decode the HTML entities and drop the
//! tags that scraped alt-texts carry, fold every run of whitespace and control characters
//! into one space, cap the length, and call a caption junk when nothing describing is left
//! (no letter at all, a bare URL, a hash, a camera file name such as `IMG_1234`, or a
//! placeholder such as `untitled`).
//!
//! A file name gives a caption of its descriptive words only: the parts a camera, phone,
//! messenger or tool writes (`IMG_1234`, `DSC01234`, `PXL_20240101_123456789`,
//! `2023-05-01 12.34.56`, `Screenshot ... at ...`, `(2)`, hashes, uuids) are dropped, so
//! `beach_holiday_IMG_0001` gives `beach holiday` and `IMG_0001` gives nothing.

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

/// The caption a file name gives: the descriptive words of its stem, `_`, `-` and `.`
/// read as spaces; empty when the name describes nothing (`IMG_1234`, `0001`, a hash).
pub fn caption_from_file_name(stem: &str) -> String {
    descriptive_words(stem).join(" ")
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
    "unnamed",
    "download",
];

/// Words that cameras, phones and apps put before a counter or a date (`IMG`_1234,
/// `WhatsApp Image` 2023-05-01, `Screen Shot` 2023-...); a run of letters followed by digits
/// in one word counts too when its letters are one of these (`img000`, `image0`).
const CAMERA_WORDS: &[&str] = &[
    "img",
    "image",
    "dsc",
    "dscn",
    "dscf",
    "pxl",
    "mvimg",
    "vid",
    "mvi",
    "mov",
    "pict",
    "pic",
    "photo",
    "foto",
    "picture",
    "pano",
    "screenshot",
    "screen",
    "shot",
    "whatsapp",
    "signal",
    "gopr",
    "dji",
    "sam",
    "mg",
    "cimg",
    "imag",
    "hpim",
];

/// Words that link two generated parts (`Screenshot 2023-05-01 at 12.34.56`,
/// `Screenshot from 2023-05-01 12-34-56`).
const LINKING_WORDS: &[&str] = &["at", "from"];

/// Words that tools append to a generated part: a time's `PM`, a copy's `copy`, an
/// editor's `edited`, an inner extension (`IMG_1234.HEIC.jpg`), Pixel's motion `MP`.
const TRAILING_WORDS: &[&str] = &[
    "am", "pm", "copy", "edit", "edited", "mp", "jpg", "jpeg", "png", "heic", "heif", "webp",
    "gif", "tif", "tiff", "dng",
];

/// The camera-name detector: the words of `name` (split at whitespace, `_`, `-` and `.`)
/// that describe something, in order; empty when none has a letter.
///
/// Generated, and dropped, are:
/// - a run of consecutive codes (words of digits, hex digits and punctuation with at least
///   one digit: numbers, dates, times, hashes, uuids) holding 4 or more decimal digits, or
///   a number with a leading zero (a counter such as `007` or `05`): `20240101 123456`,
///   `12.34.56`;
/// - a copy counter in brackets, `(2)`;
/// - a word of up to 5 letters and then digits, 4 or more or with a leading zero
///   (`DSC01234`, `P1010001`, `WA0001`, `E1234`), or any digits after a camera word
///   (`img000`, `image0`);
/// - a camera word ([`CAMERA_WORDS`]) before a generated word, or before a linking word
///   ([`LINKING_WORDS`]) and a generated word;
/// - a linking word between two generated words, a trailing word ([`TRAILING_WORDS`])
///   after one.
///
/// Short numbers among words stay (`3 dogs`, `top 100 beaches`), and so do the words
/// beside a camera pattern: `beach_holiday_IMG_0001` keeps `beach holiday`.
fn descriptive_words(name: &str) -> Vec<&str> {
    let words: Vec<&str> = name
        .split(|c: char| c.is_whitespace() || matches!(c, '_' | '-' | '.'))
        .filter(|w| !w.is_empty())
        .collect();
    let lower: Vec<String> = words.iter().map(|w| w.to_lowercase()).collect();
    let is_in = |list: &[&str], i: usize| list.contains(&lower[i].as_str());
    let mut generated: Vec<bool> = lower
        .iter()
        .map(|w| is_copy_counter(w) || is_camera_code(w))
        .collect();
    let mut start = 0;
    while start < words.len() {
        let end = (start..words.len())
            .find(|&i| code_digits(words[i]).is_none())
            .unwrap_or(words.len());
        let run = &words[start..end];
        let digits: usize = run.iter().filter_map(|w| code_digits(w)).sum();
        if digits >= 4 || run.iter().any(|w| has_leading_zero(w)) {
            generated[start..end].fill(true);
        }
        start = end + 1;
    }
    // Right to left, so that `WhatsApp Image 2023...` drops both camera words.
    for i in (0..words.len()).rev() {
        let next = |k: usize| generated.get(i + k).copied().unwrap_or(false);
        let linked = i + 1 < words.len() && is_in(LINKING_WORDS, i + 1) && next(2);
        if is_in(CAMERA_WORDS, i) && (next(1) || linked) {
            generated[i] = true;
        }
    }
    for i in 1..words.len() {
        let (before, after) = (generated[i - 1], generated.get(i + 1).copied());
        if (is_in(LINKING_WORDS, i) && before && after == Some(true))
            || (is_in(TRAILING_WORDS, i) && before)
        {
            generated[i] = true;
        }
    }
    let kept: Vec<&str> = words
        .iter()
        .zip(&generated)
        .filter(|(_, generated)| !**generated)
        .map(|(word, _)| *word)
        .collect();
    if kept.iter().any(|w| w.chars().any(char::is_alphabetic)) {
        kept
    } else {
        Vec::new()
    }
}

/// The decimal digits of a code word (hex digits and ASCII punctuation, at least one
/// decimal digit: `2023`, `12,`, `550e8400`, `123456789~2`), `None` for any other word.
/// Only decimal digits count, so that a model name such as `A380` stays.
fn code_digits(word: &str) -> Option<usize> {
    let digits = word.bytes().filter(u8::is_ascii_digit).count();
    let is_code = digits > 0
        && word
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || b.is_ascii_punctuation());
    is_code.then_some(digits)
}

/// `05`, `007`: numbers that a counter or a date pads.
fn has_leading_zero(word: &str) -> bool {
    let digits = word.trim_matches(|c: char| c.is_ascii_punctuation());
    digits.len() > 1 && digits.starts_with('0') && digits.bytes().all(|b| b.is_ascii_digit())
}

/// `(2)`, `[3]`: the counter a copy gets.
fn is_copy_counter(word: &str) -> bool {
    let inner = word
        .strip_prefix(['(', '['])
        .and_then(|w| w.strip_suffix([')', ']']));
    inner.is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
}

/// `dsc01234`, `p1010001`, `wa0001`, `img000`: letters and a counter in one word.
fn is_camera_code(word: &str) -> bool {
    let split = word
        .find(|c: char| c.is_ascii_digit())
        .unwrap_or(word.len());
    let (letters, digits) = word.split_at(split);
    let is_letters =
        (1..=5).contains(&letters.len()) && letters.bytes().all(|b| b.is_ascii_alphabetic());
    let is_digits = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    is_letters
        && is_digits
        && (digits.len() >= 4 || has_leading_zero(digits) || CAMERA_WORDS.contains(&letters))
}

fn is_junk(text: &str) -> bool {
    let lower = text.to_lowercase();
    let words: &str = lower.trim_matches(|c: char| c.is_ascii_punctuation() || c == ' ');
    if PLACEHOLDERS.contains(&words) {
        return true;
    }
    let no_spaces = !lower.contains(' ');
    if no_spaces && (lower.starts_with("http://") || lower.starts_with("https://")) {
        return true;
    }
    descriptive_words(text).is_empty()
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
        assert_eq!(caption_from_file_name("IMG_1234"), "");
    }

    #[test]
    fn camera_and_generated_names_describe_nothing() {
        for name in [
            "IMG_1234",
            "img_000",
            "img000",
            "IMG_1234 (2)",
            "IMG_1234(2)",
            "IMG_1234 2",
            "IMG_E1234",
            "IMG_1234.HEIC",
            "IMG_1234 - Copy",
            "_MG_1234",
            "DSC01234",
            "DSC_1234",
            "DSCN1234",
            "DSCF1234",
            "P1010001",
            "GOPR0123",
            "GH010123",
            "DJI_0001",
            "SAM_1234",
            "CIMG1234",
            "100_1234",
            "MVI_1234",
            "PXL_20240101_123456789",
            "PXL_20240101_123456789.MP",
            "MVIMG_20230501_123456",
            "IMG_20230501_123456",
            "IMG_20230501_123456_1",
            "VID_20230501_123456",
            "PANO_20230501_123456",
            "IMG-20230501-WA0001",
            "20230501_123456",
            "2023-05-01 12.34.56",
            "2023-05-01 12.34.56-1",
            "Screenshot 2023-05-01 at 12.34.56",
            "Screenshot 2023-05-01 at 12.34.56\u{202f}PM",
            "Screen Shot 2023-05-01 at 12.34.56 PM",
            "Screenshot_20230501-123456",
            "Screenshot from 2023-05-01 12-34-56",
            "WhatsApp Image 2023-05-01 at 12.34.56",
            "WhatsApp Image 2023-05-01 at 12.34.56 (1)",
            "photo_2023-05-01_12-34-56",
            "PHOTO-2023-05-01-12-34-56",
            "signal-2023-05-01-123456",
            "image0",
            "0001",
            "42",
            "1234567890",
            "d41d8cd98f00b204e9800998ecf8427e",
            "a1b2c3d4",
            "550e8400-e29b-41d4-a716-446655440000",
            "0f3a9c2e-5b7d-1a4c-8e6f-0123456789ab",
        ] {
            assert_eq!(descriptive_words(name), Vec::<&str>::new(), "{name}");
            assert_eq!(clean_caption(name), Err(CaptionProblem::Junk), "{name}");
        }
    }

    #[test]
    fn descriptive_names_keep_their_words() {
        for (name, words) in [
            ("beach_holiday_IMG_0001", "beach holiday"),
            ("IMG_0001_beach_holiday", "beach holiday"),
            ("beach_IMG_0001_at_sunset", "beach at sunset"),
            ("red-car", "red car"),
            ("dog on beach", "dog on beach"),
            ("3 dogs", "3 dogs"),
            ("top 100 beaches", "top 100 beaches"),
            ("Apollo 11 launch", "Apollo 11 launch"),
            ("A380 landing", "A380 landing"),
            ("room101", "room101"),
            ("summer-2019-lake", "summer lake"),
            ("gradient_07", "gradient"),
            ("Photo booth", "Photo booth"),
            ("image of a cat", "image of a cat"),
            ("Screenshot_20230501-123456_Maps", "Maps"),
            ("café au lait", "café au lait"),
            ("3d render", "3d render"),
            ("z", "z"),
        ] {
            assert_eq!(descriptive_words(name).join(" "), words, "{name}");
        }
    }
}
