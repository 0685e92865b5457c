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
}
