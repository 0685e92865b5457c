//! Python's `format(x, ".Nf")`, exact with ties to even (Rust's `{:.N}` is too), with
//! Python's spellings of the non-finite values.

/// `x` with `prec` decimals, as Python's `f"{x:.{prec}f}"`.
pub fn fixed(x: f64, prec: usize) -> String {
    if x.is_nan() {
        "nan".into()
    } else if x.is_infinite() {
        if x > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        }
    } else {
        format!("{x:.prec$}")
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
