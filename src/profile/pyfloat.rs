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

impl Fixed {
    /// Append what `Display` writes to `out`: a report of a million lines writes three of
    /// these per line, and the exact path below (integer arithmetic on the binary value) is
    /// several times faster than the standard library's (Grisu with its exact fallback).
    pub fn push_to(self, out: &mut String) {
        match self.scaled() {
            Some((negative, n)) => {
                let p = 10u128.pow(self.1 as u32);
                if negative {
                    out.push('-');
                }
                let mut digits = itoa::Buffer::new();
                out.push_str(digits.format((n / p) as u64));
                if self.1 > 0 {
                    out.push('.');
                    let frac = digits.format((n % p) as u64);
                    for _ in frac.len()..self.1 {
                        out.push('0');
                    }
                    out.push_str(frac);
                }
            }
            None => {
                use std::fmt::Write;
                let _ = write!(out, "{self}");
            }
        }
    }

    /// `(sign, |x| · 10^prec rounded half to even)`, exactly, when `x` is finite, below
    /// 2^63 in magnitude, and `prec` at most 18 (the product then fits in 128 bits);
    /// `None` otherwise.
    fn scaled(self) -> Option<(bool, u128)> {
        let Fixed(x, prec) = self;
        if !x.is_finite() || prec > 18 {
            return None;
        }
        let bits = x.to_bits();
        let biased = ((bits >> 52) & 0x7ff) as i64;
        let frac = bits & ((1u64 << 52) - 1);
        // |x| = m · 2^e exactly.
        let (m, e) = if biased == 0 {
            (frac, -1074)
        } else {
            (frac | 1 << 52, biased - 1075)
        };
        let p = 10u128.pow(prec as u32);
        let t = u128::from(m) * p;
        let n = if e >= 0 {
            if e > 10 {
                return None;
            }
            t << e
        } else {
            let shift = e.unsigned_abs();
            if shift >= 128 {
                // t < 2^113: |x| · 10^prec < 1/2 rounds to 0.
                0
            } else {
                let q = t >> shift;
                let r = t & ((1u128 << shift) - 1);
                let half = 1u128 << (shift - 1);
                if r > half || (r == half && q & 1 == 1) {
                    q + 1
                } else {
                    q
                }
            }
        };
        Some((bits >> 63 == 1, n))
    }
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

    /// What `push_to` appends.
    fn pushed(x: f64, prec: usize) -> String {
        let mut out = String::new();
        super::Fixed(x, prec).push_to(&mut out);
        out
    }

    #[test]
    fn push_to_writes_what_display_does_at_the_edges() {
        let mut xs = vec![
            0.0,
            -0.0,
            0.125,
            0.375,
            2.5,
            -2.5,
            0.005,
            -0.005,
            0.015,
            9.995,
            1_767_225_600.255,
            1_767_225_600.125,
            f64::MIN_POSITIVE,
            5e-324,
            -5e-324,
            (1u64 << 63) as f64,
            -((1u64 << 63) as f64),
            ((1u64 << 63) - 1024) as f64,
            f64::MAX,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        xs.extend((0..=40).map(|e| 10f64.powi(e) + 0.5));
        xs.extend((0..=40).map(|e| -(10f64.powi(-e))));
        for x in xs {
            for prec in [0, 1, 2, 3, 6, 17, 18, 19] {
                assert_eq!(
                    pushed(x, prec),
                    super::Fixed(x, prec).to_string(),
                    "{x:e} {prec}"
                );
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn push_to_writes_what_display_does(bits: u64, prec in 0usize..8) {
            let x = f64::from_bits(bits);
            proptest::prop_assert_eq!(pushed(x, prec), super::Fixed(x, prec).to_string());
        }

        /// Times of day and durations at two decimals, where ties (`…5`) are common.
        #[test]
        fn push_to_writes_what_display_does_on_report_values(
            cents in -(1i64 << 40)..(1i64 << 40),
            half in proptest::bool::ANY,
            tiny in -4i64..4,
        ) {
            let x = cents as f64 / 100.0 + if half { 0.005 } else { 0.0 };
            let x = f64::from_bits(x.to_bits().wrapping_add_signed(tiny));
            for prec in [0, 1, 2, 3] {
                proptest::prop_assert_eq!(pushed(x, prec), super::Fixed(x, prec).to_string());
            }
        }
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
