//! Python's `format(x, ".Nf")`, exact with ties to even (Rust's `{:.N}` is too), with
//! Python's spellings of the non-finite values.

/// `x` with `prec` decimals, as Python's `f"{x:.{prec}f}"`.
pub fn fixed(x: f64, prec: usize) -> String {
    Fixed(x, prec).to_string()
}

/// [`fixed`], written where it is formatted (`Fixed(x, prec)` in `format_args!`): a report
/// line of several numbers without a string for each. Ignores width and alignment.
#[derive(Debug, Clone, Copy)]
pub struct Fixed(pub f64, pub usize);

impl Fixed {
    /// At least the bytes it writes (a report reserves its room once from these: grown by
    /// doubling, a report of a million lines was copied and held up to twice over).
    pub fn len_bound(self) -> usize {
        let Fixed(x, prec) = self;
        if !x.is_finite() {
            return 4;
        }
        let a = x.abs();
        // Sign, integer digits (one more for a rounding carry, 9.999 → 10.00), point, decimals.
        let digits = if a < 10.0 { 1 } else { a.log10() as usize + 1 };
        1 + digits + 1 + 1 + prec
    }
}

/// At least the bytes `Fixed(v, prec)` writes for each of `values`, summed.
pub fn fixed_len_bound(values: &[f64], prec: usize) -> usize {
    values.iter().map(|&v| Fixed(v, prec).len_bound()).sum()
}

/// At least the bytes `n` is written as.
pub fn int_len_bound(n: i64) -> usize {
    1 + n.unsigned_abs().checked_ilog10().unwrap_or(0) as usize + 1
}

impl std::fmt::Display for Fixed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Fixed(x, prec) = *self;
        if x.is_nan() {
            f.write_str("nan")
        } else if x.is_infinite() {
            f.write_str(if x > 0.0 { "inf" } else { "-inf" })
        } else {
            write!(f, "{x:.prec$}")
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ties_to_even_like_python() {
        // f"{0.125:.2f}" == '0.12', f"{0.375:.2f}" == '0.38', f"{2.5:.0f}" == '2', f"{-0.0:.1f}" == '-0.0'
        assert_eq!(super::fixed(0.125, 2), "0.12");
        assert_eq!(super::fixed(0.375, 2), "0.38");
        assert_eq!(super::fixed(2.5, 0), "2");
        assert_eq!(super::fixed(-0.0, 1), "-0.0");
        assert_eq!(super::fixed(f64::NAN, 2), "nan");
    }

    #[test]
    fn the_length_bounds_hold() {
        use super::{int_len_bound, Fixed};
        let mut xs = vec![
            0.0,
            -0.0,
            9.995,
            99.995,
            0.005,
            f64::MAX,
            f64::MIN,
            f64::INFINITY,
        ];
        xs.extend((0..=40).map(|e| 10f64.powi(e)));
        xs.extend((0..=40).map(|e| -(10f64.powi(e) - 0.001)));
        xs.push(1_767_225_600.255);
        for x in xs {
            for prec in [0, 1, 2] {
                let f = Fixed(x, prec);
                assert!(f.to_string().len() <= f.len_bound(), "{x} {prec}");
            }
        }
        for n in [0, 9, 10, -10, 99_999, i64::MAX, i64::MIN] {
            assert!(n.to_string().len() <= int_len_bound(n), "{n}");
        }
    }
}
