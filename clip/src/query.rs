//! Text arithmetic in a typed query, as rclip's users asked for: `beach - people` asks for
//! beaches without people, `a dog + snow` for both. A `+` or `-` standing alone between
//! spaces joins terms; anywhere else (`t-shirt`, `c++`, `-5 degrees`) it is part of the
//! text. Each term is encoded on its own; the query is the signed sum of their normalised
//! features, which the projection then normalises as it does any feature.

/// One term of a query and its sign.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryTerm {
    /// The term's text, trimmed.
    pub text: String,
    /// `1.0`, or `-1.0` after a `-`.
    pub weight: f32,
}

/// The terms of `query`, in order; empty terms (`beach -`, `+ +`) are left out, so a query
/// of no text gives none.
pub fn parse_query(query: &str) -> Vec<QueryTerm> {
    let mut terms = Vec::new();
    let mut weight = 1.0;
    let mut text = String::new();
    let mut push = |text: &mut String, weight: f32| {
        let trimmed = text.trim();
        if !trimmed.is_empty() {
            terms.push(QueryTerm {
                text: trimmed.to_owned(),
                weight,
            });
        }
        text.clear();
    };
    let mut words = query.split_inclusive(char::is_whitespace).peekable();
    while let Some(word) = words.next() {
        let operator = match word.trim_end() {
            "+" => Some(1.0),
            "-" => Some(-1.0),
            _ => None,
        };
        // An operator stands alone: whitespace (or the query's end) on both sides.
        let stands_alone = word.ends_with(char::is_whitespace) || words.peek().is_none();
        match operator {
            Some(sign) if stands_alone => {
                push(&mut text, weight);
                weight = sign;
            }
            _ => text.push_str(word),
        }
    }
    push(&mut text, weight);
    terms
}

/// The query feature of `rows` (one row of `width` values per term of `terms`): the one
/// row as it is for a query of one positive term, else the sum of each row, L2-normalised,
/// times its term's weight.
///
/// # Panics
/// If `rows` does not hold `terms.len()` rows of `width`.
pub fn combine(rows: &[f32], width: usize, terms: &[QueryTerm]) -> Vec<f32> {
    assert_eq!(rows.len(), terms.len() * width, "one row per term");
    if let [QueryTerm { weight, .. }] = terms
        && *weight > 0.0
    {
        return rows.to_vec();
    }
    let mut sum = vec![0.0f32; width];
    for (row, term) in rows.chunks_exact(width).zip(terms) {
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
        if norm > 0.0 {
            for (s, v) in sum.iter_mut().zip(row) {
                *s += term.weight * v / norm;
            }
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(query: &str) -> Vec<(String, f32)> {
        parse_query(query)
            .into_iter()
            .map(|t| (t.text, t.weight))
            .collect()
    }

    fn terms(expected: &[(&str, f32)]) -> Vec<(String, f32)> {
        expected.iter().map(|&(t, w)| (t.to_owned(), w)).collect()
    }

    #[test]
    fn operators_between_spaces_join_terms() {
        assert_eq!(
            parsed("beach - people"),
            terms(&[("beach", 1.0), ("people", -1.0)])
        );
        assert_eq!(
            parsed("a dog  +  snow - night"),
            terms(&[("a dog", 1.0), ("snow", 1.0), ("night", -1.0)])
        );
        assert_eq!(parsed("- people"), terms(&[("people", -1.0)]));
        assert_eq!(parsed("beach -"), terms(&[("beach", 1.0)]));
        assert_eq!(parsed(" + - "), terms(&[]));
        assert_eq!(parsed(""), terms(&[]));
    }

    #[test]
    fn signs_inside_words_are_text() {
        for query in [
            "t-shirt",
            "c++ book",
            "-5 degrees",
            "red-blue",
            "a +b",
            "x+ y",
        ] {
            assert_eq!(parsed(query), terms(&[(query, 1.0)]), "{query}");
        }
        assert_eq!(
            parsed("a red t-shirt - a blue t-shirt"),
            terms(&[("a red t-shirt", 1.0), ("a blue t-shirt", -1.0)])
        );
    }

    #[test]
    fn one_term_is_its_row_and_more_are_a_signed_sum_of_unit_rows() {
        let one = [QueryTerm {
            text: "a".into(),
            weight: 1.0,
        }];
        assert_eq!(combine(&[3.0, 4.0], 2, &one), [3.0, 4.0]);
        let two = parse_query("a - b");
        assert_eq!(combine(&[0.0, 4.0, 2.0, 0.0], 2, &two), [-1.0, 1.0]);
        let negative = parse_query("- b");
        assert_eq!(combine(&[0.0, 2.0], 2, &negative), [0.0, -1.0]);
    }
}
