//! Exact rationals over i128, with overflow reported rather than wrapped.

use std::cmp::Ordering;

/// A reduced fraction `num / den` with `den > 0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rational {
    num: i128,
    den: i128,
}

fn gcd(mut a: i128, mut b: i128) -> i128 {
    a = a.abs();
    b = b.abs();
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl Rational {
    /// `num / den`, reduced; `None` when `den` is zero.
    pub fn new(num: i128, den: i128) -> Option<Rational> {
        if den == 0 {
            return None;
        }
        let g = gcd(num, den).max(1);
        let (num, den) = (num / g, den / g);
        if den < 0 {
            Some(Rational {
                num: num.checked_neg()?,
                den: den.checked_neg()?,
            })
        } else {
            Some(Rational { num, den })
        }
    }

    /// The integer `n`.
    pub fn integer(n: i128) -> Rational {
        Rational { num: n, den: 1 }
    }

    /// Parses a plain decimal such as `-12.50` or `.5` exactly; `None` on anything else or overflow.
    pub fn parse_decimal(text: &str) -> Option<Rational> {
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        let (int_part, frac_part) = digits.split_once('.').unwrap_or((digits, ""));
        if int_part.is_empty() && frac_part.is_empty() {
            return None;
        }
        if !int_part
            .bytes()
            .chain(frac_part.bytes())
            .all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let mut num: i128 = 0;
        for b in int_part.bytes().chain(frac_part.bytes()) {
            num = num.checked_mul(10)?.checked_add(i128::from(b - b'0'))?;
        }
        let den = 10i128.checked_pow(u32::try_from(frac_part.len()).ok()?)?;
        Rational::new(if negative { -num } else { num }, den)
    }

    /// Numerator (carries the sign).
    pub fn numer(&self) -> i128 {
        self.num
    }

    /// Denominator, always positive.
    pub fn denom(&self) -> i128 {
        self.den
    }

    /// Whether this is a whole number.
    pub fn is_integer(&self) -> bool {
        self.den == 1
    }

    /// Nearest f64.
    pub fn to_f64(&self) -> f64 {
        self.num as f64 / self.den as f64
    }

    /// Sum, or `None` on overflow.
    pub fn checked_add(self, other: Rational) -> Option<Rational> {
        let den = self.den.checked_mul(other.den)?;
        let num = self
            .num
            .checked_mul(other.den)?
            .checked_add(other.num.checked_mul(self.den)?)?;
        Rational::new(num, den)
    }

    /// Difference, or `None` on overflow.
    pub fn checked_sub(self, other: Rational) -> Option<Rational> {
        self.checked_add(other.checked_neg()?)
    }

    /// Product, or `None` on overflow.
    pub fn checked_mul(self, other: Rational) -> Option<Rational> {
        let g1 = gcd(self.num, other.den).max(1);
        let g2 = gcd(other.num, self.den).max(1);
        let num = (self.num / g1).checked_mul(other.num / g2)?;
        let den = (self.den / g2).checked_mul(other.den / g1)?;
        Rational::new(num, den)
    }

    /// Quotient, or `None` on overflow or division by zero.
    pub fn checked_div(self, other: Rational) -> Option<Rational> {
        self.checked_mul(Rational::new(other.den, other.num)?)
    }

    /// Negation, or `None` on overflow.
    pub fn checked_neg(self) -> Option<Rational> {
        Some(Rational {
            num: self.num.checked_neg()?,
            den: self.den,
        })
    }

    /// Integer power, or `None` on overflow or `0^negative`.
    pub fn checked_pow(self, exp: i32) -> Option<Rational> {
        let base = if exp < 0 {
            Rational::new(self.den, self.num)?
        } else {
            self
        };
        let e = exp.unsigned_abs();
        Some(Rational {
            num: base.num.checked_pow(e)?,
            den: base.den.checked_pow(e)?,
        })
    }

    /// Exact square root when numerator and denominator are perfect squares.
    pub fn sqrt(self) -> Option<Rational> {
        if self.num < 0 {
            return None;
        }
        Some(Rational {
            num: isqrt(self.num)?,
            den: isqrt(self.den)?,
        })
    }
}

fn isqrt(n: i128) -> Option<i128> {
    let mut r = (n as f64).sqrt() as i128;
    while r * r > n {
        r -= 1;
    }
    while (r + 1) * (r + 1) <= n {
        r += 1;
    }
    (r * r == n).then_some(r)
}

impl PartialOrd for Rational {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Rational {
    fn cmp(&self, other: &Self) -> Ordering {
        match (
            self.num.checked_mul(other.den),
            other.num.checked_mul(self.den),
        ) {
            (Some(a), Some(b)) => a.cmp(&b),
            _ => self.to_f64().total_cmp(&other.to_f64()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_parse_exactly() {
        assert_eq!(Rational::parse_decimal("0.5"), Rational::new(1, 2));
        assert_eq!(Rational::parse_decimal(".25"), Rational::new(1, 4));
        assert_eq!(Rational::parse_decimal("-12.50"), Rational::new(-25, 2));
        assert_eq!(Rational::parse_decimal("7."), Some(Rational::integer(7)));
        assert_eq!(Rational::parse_decimal("1e5"), None);
        assert_eq!(Rational::parse_decimal("."), None);
    }

    #[test]
    fn arithmetic_is_exact_and_overflow_is_none() {
        let third = Rational::new(1, 3).unwrap();
        assert_eq!(
            third.checked_add(third).unwrap().checked_add(third),
            Some(Rational::integer(1))
        );
        assert_eq!(Rational::new(9, 4).unwrap().sqrt(), Rational::new(3, 2));
        assert_eq!(Rational::integer(2).sqrt(), None);
        assert_eq!(Rational::integer(10).checked_pow(40), None);
        assert_eq!(Rational::integer(2).checked_pow(-2), Rational::new(1, 4));
        assert_eq!(Rational::integer(0).checked_div(Rational::integer(0)), None);
    }
}
