//! Quantisation of L2-normalised features to `u8`, by the reference system's rule:
//! `q = trunc(clamp(x * 127.5 + 128, 0, 255))`. Queries are quantised the same way.

/// Scales a component of an L2-normalised vector (in `[-1, 1]`) to the `u8` grid.
pub fn quantize(x: f32) -> u8 {
    // `as u8` truncates towards zero; the clamp keeps NaN-free inputs in range.
    (x * 127.5 + 128.0).clamp(0.0, 255.0) as u8
}

/// The centre of the value interval that [`quantize`] maps to `q`.
pub fn dequantize(q: u8) -> f32 {
    (f32::from(q) + 0.5 - 128.0) / 127.5
}

/// Divides `v` by its Euclidean norm; an all-zero vector stays zero.
pub fn l2_normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

/// L2-normalises a row of features and quantises it.
pub fn quantize_row(row: &[f32]) -> Vec<u8> {
    let mut v = row.to_vec();
    l2_normalize(&mut v);
    v.into_iter().map(quantize).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_reference_rule() {
        assert_eq!(quantize(-1.0), 0);
        assert_eq!(quantize(0.0), 128);
        assert_eq!(quantize(1.0), 255);
        assert_eq!(quantize(2.0), 255);
        assert_eq!(quantize(-2.0), 0);
        // trunc, not round: 0.5 / 127.5 lands on 128.5 -> 128.
        assert_eq!(quantize(0.5 / 127.5), 128);
    }

    #[test]
    fn dequantize_inverts_quantize_within_one_step() {
        for q in 0..=255u8 {
            assert_eq!(quantize(dequantize(q)), q);
        }
    }

    #[test]
    fn normalises_before_quantising() {
        assert_eq!(
            quantize_row(&[3.0, 4.0]),
            vec![quantize(0.6), quantize(0.8)]
        );
        assert_eq!(quantize_row(&[0.0, 0.0]), vec![128, 128]);
    }
}
