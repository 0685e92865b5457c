//! The numerics NAT's outputs depend on, reproduced bit for bit:
//! - Python's `statistics.mean` / `statistics.pstdev`: exact rational arithmetic on the
//!   binary64 inputs, rounded once (pstdev: correctly rounded square root, Python ≥ 3.11);
//! - NAT's own percentile (`arr[f] + (arr[c]-arr[f]) * (k-f)`) and numpy's `linear`
//!   percentile (`_lerp`, with its `t >= 0.5` branch);
//! - numpy's pairwise summation (`ndarray.mean`, `np.mean`, `np.sum` on float64).

use num_bigint::{BigInt, BigUint, Sign};
use num_traits::{One, ToPrimitive, Zero};

/// `x = m · 2^e` exactly (`m` signed, odd or zero).
fn decompose(x: f64) -> (BigInt, i64) {
    if x == 0.0 {
        return (BigInt::zero(), 0);
    }
    let bits = x.to_bits();
    let sign = if bits >> 63 == 1 { -1i64 } else { 1 };
    let exp = ((bits >> 52) & 0x7ff) as i64;
    let frac = bits & ((1u64 << 52) - 1);
    let (m, e) = if exp == 0 {
        (frac, -1074)
    } else {
        (frac | (1u64 << 52), exp - 1075)
    };
    let tz = m.trailing_zeros() as i64;
    (BigInt::from(sign) * BigInt::from(m >> tz), e + tz)
}

/// `a / b` correctly rounded to binary64 (round half to even), like Python's `int / int`.
pub(crate) fn div_to_f64(a: &BigInt, b: &BigUint) -> f64 {
    assert!(!b.is_zero(), "division by zero");
    if a.is_zero() {
        return 0.0;
    }
    let neg = a.sign() == Sign::Minus;
    let a = a.magnitude();
    // Scale so the integer quotient has at least 55 bits (53 + guard + one spare).
    let k: i64 = 55 - (a.bits() as i64 - b.bits() as i64);
    let (num, den) = if k >= 0 {
        (a << (k as usize), b.clone())
    } else {
        (a.clone(), b << ((-k) as usize))
    };
    let q = &num / &den;
    let sticky = !(&num % &den).is_zero();
    let qbits = q.bits() as i64;
    // Value = q * 2^-k (+ sticky). Binary exponent of the leading bit:
    let lead = qbits - 1 - k;
    // Keep 53 significant bits, or fewer for subnormals (min exponent -1074).
    let keep = if lead < -1022 {
        (53 - (-1022 - lead)).max(0)
    } else {
        53
    };
    let drop = qbits - keep;
    let mut m = &q >> (drop as usize);
    let rem = &q - (&m << (drop as usize));
    let half = BigUint::one() << ((drop - 1) as usize);
    let round_up = rem > half || (rem == half && (sticky || m.bit(0)));
    if round_up {
        m += 1u32;
    }
    let m = m.to_f64().expect("at most 54 bits");
    let r = m * pow2(drop - k);
    if neg {
        -r
    } else {
        r
    }
}

/// 2^e as f64 for e in the representable range (0 / inf outside).
fn pow2(e: i64) -> f64 {
    if e > 1023 {
        f64::INFINITY
    } else if e >= -1022 {
        f64::from_bits(((e + 1023) as u64) << 52)
    } else if e >= -1074 {
        f64::from_bits(1u64 << (e + 1074))
    } else {
        0.0
    }
}

/// Every `x` as an integer multiple of one power of two: `x_i = ints[i] · 2^e`.
fn common_scale(xs: &[f64]) -> (Vec<BigInt>, i64) {
    let parts: Vec<(BigInt, i64)> = xs.iter().map(|&x| decompose(x)).collect();
    let emin = parts
        .iter()
        .filter(|(m, _)| !m.is_zero())
        .map(|p| p.1)
        .min()
        .unwrap_or(0);
    let ints = parts
        .into_iter()
        .map(|(m, e)| {
            if m.is_zero() {
                m
            } else {
                m << ((e - emin) as usize)
            }
        })
        .collect();
    (ints, emin)
}

/// Exact sum of `xs` as (numerator, exponent): Σ = n · 2^e.
fn exact_sum(xs: &[f64]) -> (BigInt, i64) {
    let (ints, e) = common_scale(xs);
    (ints.into_iter().sum(), e)
}

/// `n · 2^e / d` as a fraction with a non-negative power of two moved to one side.
fn scaled(n: BigInt, e: i64, d: BigUint) -> (BigInt, BigUint) {
    if e >= 0 {
        (n << (e as usize), d)
    } else {
        (n, d << ((-e) as usize))
    }
}

/// Python's `statistics.mean(xs)` for finite floats (exact, rounded once). `None` if empty.
pub fn py_mean(xs: &[f64]) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    let (s, e) = exact_sum(xs);
    let (n, d) = scaled(s, e, BigUint::from(xs.len()));
    Some(div_to_f64(&n, &d))
}

/// Python ≥ 3.11 `statistics.pstdev(xs)`: exact Σ(x-μ)²/n, then `_float_sqrt_of_frac`.
pub fn py_pstdev(xs: &[f64]) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    let n = xs.len();
    let (ints, emin) = common_scale(xs);
    let s: BigInt = ints.iter().sum();
    let nb = BigInt::from(n);
    // x_i - μ = (I_i·n - S) · 2^emin / n ; Σ(x-μ)²/n = Σ(I_i·n - S)² · 2^(2 emin) / n³.
    let ss: BigInt = ints
        .iter()
        .map(|i| {
            let d = i * &nb - &s;
            &d * &d
        })
        .sum();
    let n3 = BigUint::from(n).pow(3);
    let (num, den) = scaled(ss, 2 * emin, n3);
    Some(float_sqrt_of_frac(num.magnitude(), &den))
}

/// CPython's `statistics._float_sqrt_of_frac(n, m)`: sqrt(n/m) correctly rounded.
fn float_sqrt_of_frac(n: &BigUint, m: &BigUint) -> f64 {
    if n.is_zero() {
        return 0.0;
    }
    const SQRT_BIT_WIDTH: i64 = 2 * 53 + 3;
    let q = (n.bits() as i64 - m.bits() as i64 - SQRT_BIT_WIDTH).div_euclid(2);
    let rto = |n: &BigUint, m: &BigUint| -> BigUint {
        let a = (n / m).sqrt();
        let exact = &(&a * &a) * m == *n;
        if exact {
            a
        } else {
            a | BigUint::one()
        }
    };
    if q >= 0 {
        let num = rto(n, &(m << (2 * q as usize))) << (q as usize);
        div_to_f64(&BigInt::from(num), &BigUint::one())
    } else {
        let num = rto(&(n << ((-2 * q) as usize)), m);
        div_to_f64(&BigInt::from(num), &(BigUint::one() << ((-q) as usize)))
    }
}

/// Python's `round(x)` for a float: to the nearest integer, ties to even.
pub fn py_round(x: f64) -> f64 {
    let r = x.round();
    if (x - r).abs() == 0.5 {
        2.0 * (x / 2.0).round()
    } else {
        r
    }
}

/// NAT's hand-written percentile on sorted data (`_compute_confidence_intervals`, the trie):
/// `k = (n-1)·(pct/100)`, `f == c → arr[k]`, else `arr[f] + (arr[c]-arr[f])·(k-f)`.
pub fn nat_percentile(sorted: &[f64], pct: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let k = (sorted.len() - 1) as f64 * (pct / 100.0);
    let (f, c) = (k.floor(), k.ceil());
    if f == c {
        return sorted[k as usize];
    }
    let (a, b) = (sorted[f as usize], sorted[c as usize]);
    a + (b - a) * (k - f)
}

/// `np.percentile(data, pct)` with numpy's default `linear` method (data need not be sorted).
pub fn np_percentile(data: &[f64], pct: f64) -> f64 {
    let mut v = data.to_vec();
    v.sort_by(f64::total_cmp);
    np_percentile_sorted(&v, pct)
}

/// `np.percentile` on already sorted data.
pub(crate) fn np_percentile_sorted(sorted: &[f64], pct: f64) -> f64 {
    let n = sorted.len();
    assert!(n > 0, "percentile of empty data");
    let q = pct / 100.0;
    let vi = (n - 1) as f64 * q;
    if vi >= (n - 1) as f64 {
        return sorted[n - 1];
    }
    if vi < 0.0 {
        return sorted[0];
    }
    let prev = vi.floor();
    let g = vi - prev;
    let (a, b) = (sorted[prev as usize], sorted[prev as usize + 1]);
    let diff = b - a;
    if g >= 0.5 {
        b - diff * (1.0 - g)
    } else {
        a + diff * g
    }
}

/// numpy's pairwise summation of float64 (`pairwise_sum` in `loops_utils.h.src`).
pub fn np_sum(x: &[f64]) -> f64 {
    let n = x.len();
    if n < 8 {
        let mut s = -0.0;
        for &v in x {
            s += v;
        }
        return s;
    }
    if n <= 128 {
        let mut r = [0.0f64; 8];
        r.copy_from_slice(&x[..8]);
        let mut i = 8;
        while i + 8 <= n {
            for j in 0..8 {
                r[j] += x[i + j];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        while i < n {
            res += x[i];
            i += 1;
        }
        return res;
    }
    let mut n2 = n / 2;
    n2 -= n2 % 8;
    np_sum(&x[..n2]) + np_sum(&x[n2..])
}

/// `np.mean` / `ndarray.mean()` of float64.
pub fn np_mean(x: &[f64]) -> f64 {
    np_sum(x) / x.len() as f64
}

/// A chart axis' tick step: 1, 2 or 5 × 10ⁿ, giving about six ticks over `span`.
pub fn tick_step(span: f64) -> f64 {
    if span <= 0.0 || !span.is_finite() {
        return 1.0;
    }
    let raw = span / 6.0;
    let p = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * p)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * p)
}

/// A chart's number: at most six decimals, trailing zeros cut (`0.25`, `2`).
pub fn six_decimals(v: f64) -> String {
    let t = format!("{v:.6}");
    t.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round() {
        assert_eq!(tick_step(1.93), 0.5);
        assert_eq!(tick_step(10.0), 2.0);
        assert_eq!(tick_step(0.0), 1.0);
        assert_eq!(six_decimals(0.25), "0.25");
        assert_eq!(six_decimals(2.0), "2");
    }

    #[test]
    fn python_round_is_half_to_even() {
        // round(0.5), round(1.5), round(2.5), round(-2.5), round(2.6) in Python 3
        assert_eq!(
            [0.5, 1.5, 2.5, -2.5, 2.6].map(py_round),
            [0.0, 2.0, 2.0, -2.0, 3.0]
        );
    }

    #[test]
    fn division_is_correctly_rounded() {
        let third = div_to_f64(&BigInt::from(1), &BigUint::from(3u32));
        assert_eq!(third, 1.0 / 3.0);
        assert_eq!(div_to_f64(&BigInt::from(-7), &BigUint::from(2u32)), -3.5);
        // 2^53 + 1 is a tie between 2^53 and 2^53 + 2: half to even.
        let big = BigInt::from((1u64 << 53) + 1);
        assert_eq!(div_to_f64(&big, &BigUint::one()), 9007199254740992.0);
        assert_eq!(
            div_to_f64(&BigInt::from(1), &(BigUint::one() << 1074usize)),
            5e-324
        );
    }

    #[test]
    fn mean_is_exact_where_naive_summation_is_not() {
        // Naive left-to-right: (1e16 + 1.0) + -1e16 = 0.0; exact mean is 1/3.
        assert_eq!(py_mean(&[1e16, 1.0, -1e16]), Some(1.0 / 3.0));
        assert_eq!(py_mean(&[0.1, 0.2, 0.3]), Some(0.2));
        assert_eq!(py_mean(&[]), None);
    }

    #[test]
    fn pstdev_matches_python() {
        // Values printed by Python 3.11's statistics module.
        // statistics.pstdev([1, 2, 3, 4]) == 1.118033988749895
        assert_eq!(py_pstdev(&[1.0, 2.0, 3.0, 4.0]), Some(1.118033988749895));
        // statistics.pstdev([2.5, 2.5]) == 0.0
        assert_eq!(py_pstdev(&[2.5, 2.5]), Some(0.0));
        // statistics.pstdev([0.1, 0.2, 0.3, 0.4, 0.5]) == 0.1414213562373095
        assert_eq!(
            py_pstdev(&[0.1, 0.2, 0.3, 0.4, 0.5]),
            Some(0.1414213562373095)
        );
    }

    #[test]
    fn percentiles_follow_nat_and_numpy() {
        // Values printed by Python 3.11 / numpy 2.4.6 for the same inputs.
        let d = [1.0, 2.0, 3.0, 4.0, 10.0];
        assert_eq!(nat_percentile(&d, 90.0), 7.6000000000000005);
        assert_eq!(np_percentile(&d, 90.0), 7.6000000000000005);
        assert_eq!(np_percentile(&d, 50.0), 3.0);
        assert_eq!(np_percentile(&[5.0], 99.0), 5.0);
        assert_eq!(nat_percentile(&[], 50.0), 0.0);
    }

    #[test]
    fn pairwise_sum_blocks() {
        // float(np.sum([0.1*i for i in range(300)])) == 4485.0
        let x: Vec<f64> = (0..300).map(|i| 0.1 * i as f64).collect();
        assert_eq!(np_sum(&x), 4485.0);
        assert_eq!(np_sum(&[]), -0.0);
    }
}
