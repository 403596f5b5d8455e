//! The first gate of every request: refuses request paths that could leave the served
//! folders or that no honest client sends, before any file system call.
//!
//! tower-http's `ServeDir` already rejects `..` after percent-decoding, but it lets a
//! NUL byte reach the file system (and then the SPA fallback), serves dotfiles and
//! follows encoded dots and separators. A static host should refuse all of these the
//! same way, so the check works on the raw, still percent-encoded path.

use axum::http::StatusCode;

/// Why a request path was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathRefusal {
    /// The path does not start with `/`.
    #[error("request path does not start with `/`")]
    NotAbsolute,
    /// A `%` is not followed by two hex digits.
    #[error("malformed percent escape at byte {offset}")]
    MalformedEscape {
        /// Byte offset of the `%` in the raw path.
        offset: usize,
    },
    /// `.`, `/` or `\` was percent-encoded: a way to smuggle `..` or a separator past
    /// naive checks.
    #[error("percent-encoded `{byte}` at byte {offset}", byte = char::from(*byte))]
    EncodedDotOrSeparator {
        /// The decoded byte.
        byte: u8,
        /// Byte offset of the `%` in the raw path.
        offset: usize,
    },
    /// A backslash, a path separator on some systems.
    #[error("backslash at byte {offset}")]
    Backslash {
        /// Byte offset in the raw path.
        offset: usize,
    },
    /// A control character (NUL included), raw or encoded.
    #[error("control character {byte:#04x} at byte {offset}")]
    ControlCharacter {
        /// The decoded byte.
        byte: u8,
        /// Byte offset in the raw path.
        offset: usize,
    },
    /// The decoded path is not UTF-8 (overlong encodings of `.` and `/` included).
    #[error("decoded path is not UTF-8")]
    NotUtf8,
    /// A `.` or `..` segment.
    #[error("dot segment {segment:?}")]
    DotSegment {
        /// The segment.
        segment: String,
    },
    /// An empty segment (`//`), which some hosts merge and others do not.
    #[error("empty path segment")]
    EmptySegment,
    /// A segment naming a hidden file or folder (`.git`, `.env`).
    #[error("hidden segment {segment:?}")]
    HiddenSegment {
        /// The segment.
        segment: String,
    },
}

impl PathRefusal {
    /// The status to answer with: 404 for hidden files (their existence is nobody's
    /// business), 400 for everything else.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::HiddenSegment { .. } => StatusCode::NOT_FOUND,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// Checks a raw (percent-encoded) request path, such as `Uri::path()`, and returns the
/// first reason to refuse it.
pub fn check_request_path(raw: &str) -> Result<(), PathRefusal> {
    let bytes = raw.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(PathRefusal::NotAbsolute);
    }
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        let offset = index;
        let value = if byte == b'%' {
            let value = bytes
                .get(index + 1..index + 3)
                .and_then(|hex| Some(hex_value(hex[0])? << 4 | hex_value(hex[1])?))
                .ok_or(PathRefusal::MalformedEscape { offset })?;
            if matches!(value, b'.' | b'/' | b'\\') {
                return Err(PathRefusal::EncodedDotOrSeparator {
                    byte: value,
                    offset,
                });
            }
            index += 3;
            value
        } else {
            index += 1;
            byte
        };
        if value == b'\\' {
            return Err(PathRefusal::Backslash { offset });
        }
        if value.is_ascii_control() {
            return Err(PathRefusal::ControlCharacter {
                byte: value,
                offset,
            });
        }
        decoded.push(value);
    }
    let decoded = String::from_utf8(decoded).map_err(|_| PathRefusal::NotUtf8)?;
    let segments: Vec<&str> = decoded[1..].split('/').collect();
    let last = segments.len() - 1;
    for (position, segment) in segments.into_iter().enumerate() {
        match segment {
            // A trailing slash (and the root path `/`) leaves one empty last segment.
            "" if position == last => {}
            "" => return Err(PathRefusal::EmptySegment),
            "." | ".." => {
                return Err(PathRefusal::DotSegment {
                    segment: segment.to_owned(),
                });
            }
            _ if segment.starts_with('.') => {
                return Err(PathRefusal::HiddenSegment {
                    segment: segment.to_owned(),
                });
            }
            _ => {}
        }
    }
    Ok(())
}

fn hex_value(digit: u8) -> Option<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|v| u8::try_from(v).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_paths_pass() {
        for path in [
            "/",
            "/index.html",
            "/search",
            "/data/",
            "/data/cifar/manifest.json",
            "/data/cifar/tree-017-top.3f2a9c0d1e2b4a5c.shard",
            "/frontend-1a2b3c4d5e6f7a8b_bg.wasm",
            "/images/caf%C3%A9%20au%20lait.webp",
            "/a..b/c.d",
        ] {
            assert_eq!(check_request_path(path), Ok(()), "{path}");
        }
    }

    #[test]
    fn hostile_paths_are_refused_with_their_reason() {
        let cases: &[(&str, PathRefusal)] = &[
            ("index.html", PathRefusal::NotAbsolute),
            ("", PathRefusal::NotAbsolute),
            (
                "/../etc/passwd",
                PathRefusal::DotSegment {
                    segment: "..".into(),
                },
            ),
            (
                "/data/./x",
                PathRefusal::DotSegment {
                    segment: ".".into(),
                },
            ),
            (
                "/data/..",
                PathRefusal::DotSegment {
                    segment: "..".into(),
                },
            ),
            (
                "/%2e%2e/x",
                PathRefusal::EncodedDotOrSeparator {
                    byte: b'.',
                    offset: 1,
                },
            ),
            (
                "/a%2Fb",
                PathRefusal::EncodedDotOrSeparator {
                    byte: b'/',
                    offset: 2,
                },
            ),
            (
                "/a%5cb",
                PathRefusal::EncodedDotOrSeparator {
                    byte: b'\\',
                    offset: 2,
                },
            ),
            ("/a\\b", PathRefusal::Backslash { offset: 2 }),
            (
                "/a%00.html",
                PathRefusal::ControlCharacter { byte: 0, offset: 2 },
            ),
            (
                "/a%0d%0a",
                PathRefusal::ControlCharacter {
                    byte: b'\r',
                    offset: 2,
                },
            ),
            ("/a%zz", PathRefusal::MalformedEscape { offset: 2 }),
            ("/a%2", PathRefusal::MalformedEscape { offset: 2 }),
            ("/%c0%ae%c0%ae/x", PathRefusal::NotUtf8),
            ("/a//b", PathRefusal::EmptySegment),
            (
                "/.git/config",
                PathRefusal::HiddenSegment {
                    segment: ".git".into(),
                },
            ),
            (
                "/data/.env",
                PathRefusal::HiddenSegment {
                    segment: ".env".into(),
                },
            ),
        ];
        for (path, reason) in cases {
            assert_eq!(check_request_path(path).as_ref(), Err(reason), "{path}");
        }
    }

    #[test]
    fn hidden_files_are_not_found_and_the_rest_bad_requests() {
        assert_eq!(
            PathRefusal::HiddenSegment {
                segment: ".env".into()
            }
            .status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(PathRefusal::EmptySegment.status(), StatusCode::BAD_REQUEST);
    }
}

#[cfg(all(test, not(target_family = "wasm")))]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever the input, an accepted path decodes to segments that cannot leave
        /// the root: no `..`, no separator other than `/`, no NUL.
        #[test]
        fn accepted_paths_cannot_escape(raw in "/[a-zA-Z0-9._%/\\\\-]{0,24}") {
            if check_request_path(&raw).is_ok() {
                let decoded = percent_decode(&raw);
                prop_assert!(!decoded.contains('\0'));
                prop_assert!(!decoded.contains('\\'));
                prop_assert!(decoded.split('/').all(|s| s != ".." && s != "."));
            }
        }

        /// Plain names made of safe characters are never refused.
        #[test]
        fn safe_names_pass(segments in prop::collection::vec("[a-z0-9][a-z0-9._-]{0,12}", 1..5)) {
            let path = format!("/{}", segments.join("/"));
            prop_assert_eq!(check_request_path(&path), Ok(()), "{}", path);
        }
    }

    fn percent_decode(raw: &str) -> String {
        let bytes = raw.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}
