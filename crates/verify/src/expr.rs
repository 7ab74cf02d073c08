//! A small parser and evaluator for the arithmetic that math answers are written in:
//! numbers, `+ - * /`, `^`, `\frac`, `\sqrt`, `\pi`, `\binom`, a few functions, and
//! single-letter variables, in LaTeX or plain notation with implicit multiplication.
//!
//! Values stay exact rationals while they can ([`Num::exact`]) and fall back to f64
//! (irrationals, overflow). Expressions with variables are compared by evaluating
//! both sides at fixed sample points.

use std::collections::BTreeSet;

use crate::rational::Rational;

/// A number: exact when the arithmetic that produced it was rational.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Num {
    /// The exact value, when known.
    pub exact: Option<Rational>,
    /// The value as a float (always set).
    pub approx: f64,
}

impl Num {
    fn exact(r: Rational) -> Num {
        Num {
            exact: Some(r),
            approx: r.to_f64(),
        }
    }

    fn approx(v: f64) -> Num {
        Num {
            exact: None,
            approx: v,
        }
    }

    fn combine(
        self,
        other: Num,
        exact: impl Fn(Rational, Rational) -> Option<Rational>,
        approx: impl Fn(f64, f64) -> f64,
    ) -> Num {
        match (self.exact, other.exact) {
            (Some(a), Some(b)) => match exact(a, b) {
                Some(r) => Num::exact(r),
                None => Num::approx(approx(self.approx, other.approx)),
            },
            _ => Num::approx(approx(self.approx, other.approx)),
        }
    }
}

/// A parsed expression tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A number literal.
    Num(Num),
    /// A variable such as `x` or `\theta`.
    Var(String),
    /// Unary minus.
    Neg(Box<Expr>),
    /// `a + b`.
    Add(Box<Expr>, Box<Expr>),
    /// `a - b`.
    Sub(Box<Expr>, Box<Expr>),
    /// `a * b`, explicit or implicit.
    Mul(Box<Expr>, Box<Expr>),
    /// `a / b` or `\frac{a}{b}`.
    Div(Box<Expr>, Box<Expr>),
    /// `a ^ b`.
    Pow(Box<Expr>, Box<Expr>),
    /// `\sqrt[index]{radicand}` (index 2 when absent).
    Root(Box<Expr>, Box<Expr>),
    /// A named function applied to an argument.
    Func(Func, Box<Expr>),
    /// `\binom{n}{k}`.
    Binom(Box<Expr>, Box<Expr>),
}

/// Functions the evaluator knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    /// sine (radians)
    Sin,
    /// cosine
    Cos,
    /// tangent
    Tan,
    /// natural log
    Ln,
    /// log base 10
    Log,
    /// e^x
    Exp,
    /// absolute value
    Abs,
}

impl Expr {
    /// The variables the expression mentions.
    pub fn variables(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        self.collect_vars(&mut out);
        out
    }

    fn collect_vars(&self, out: &mut BTreeSet<String>) {
        match self {
            Expr::Num(_) => {}
            Expr::Var(v) => {
                out.insert(v.clone());
            }
            Expr::Neg(a) | Expr::Func(_, a) => a.collect_vars(out),
            Expr::Add(a, b)
            | Expr::Sub(a, b)
            | Expr::Mul(a, b)
            | Expr::Div(a, b)
            | Expr::Pow(a, b)
            | Expr::Root(a, b)
            | Expr::Binom(a, b) => {
                a.collect_vars(out);
                b.collect_vars(out);
            }
        }
    }

    /// Evaluates with `lookup` giving each variable's value.
    pub fn eval(&self, lookup: &dyn Fn(&str) -> f64) -> Num {
        match self {
            Expr::Num(n) => *n,
            Expr::Var(v) => Num::approx(lookup(v)),
            Expr::Neg(a) => {
                let a = a.eval(lookup);
                match a.exact.and_then(Rational::checked_neg) {
                    Some(r) => Num::exact(r),
                    None => Num::approx(-a.approx),
                }
            }
            Expr::Add(a, b) => {
                a.eval(lookup)
                    .combine(b.eval(lookup), Rational::checked_add, |x, y| x + y)
            }
            Expr::Sub(a, b) => {
                a.eval(lookup)
                    .combine(b.eval(lookup), Rational::checked_sub, |x, y| x - y)
            }
            Expr::Mul(a, b) => {
                a.eval(lookup)
                    .combine(b.eval(lookup), Rational::checked_mul, |x, y| x * y)
            }
            Expr::Div(a, b) => {
                a.eval(lookup)
                    .combine(b.eval(lookup), Rational::checked_div, |x, y| x / y)
            }
            Expr::Pow(a, b) => {
                let (base, exp) = (a.eval(lookup), b.eval(lookup));
                let exact = match (base.exact, exp.exact) {
                    (Some(base), Some(exp)) if exp.is_integer() && exp.numer().abs() <= 256 => {
                        base.checked_pow(exp.numer() as i32)
                    }
                    (Some(base), Some(exp)) if exp.denom() == 2 && exp.numer().abs() <= 256 => base
                        .sqrt()
                        .and_then(|root| root.checked_pow(exp.numer() as i32)),
                    _ => None,
                };
                exact
                    .map(Num::exact)
                    .unwrap_or_else(|| Num::approx(base.approx.powf(exp.approx)))
            }
            Expr::Root(index, radicand) => {
                let (index, radicand) = (index.eval(lookup), radicand.eval(lookup));
                let square = index.exact == Some(Rational::integer(2));
                match radicand.exact.filter(|_| square).and_then(Rational::sqrt) {
                    Some(r) => Num::exact(r),
                    None if radicand.approx < 0.0 && index.approx % 2.0 == 1.0 => {
                        Num::approx(-(-radicand.approx).powf(1.0 / index.approx))
                    }
                    None => Num::approx(radicand.approx.powf(1.0 / index.approx)),
                }
            }
            Expr::Func(f, a) => {
                let a = a.eval(lookup);
                if *f == Func::Abs {
                    return match a.exact {
                        Some(r) if r.numer() < 0 => {
                            Num::exact(r.checked_neg().expect("negating a negative"))
                        }
                        Some(r) => Num::exact(r),
                        None => Num::approx(a.approx.abs()),
                    };
                }
                let x = a.approx;
                Num::approx(match f {
                    Func::Sin => x.sin(),
                    Func::Cos => x.cos(),
                    Func::Tan => x.tan(),
                    Func::Ln => x.ln(),
                    Func::Log => x.log10(),
                    Func::Exp => x.exp(),
                    Func::Abs => unreachable!(),
                })
            }
            Expr::Binom(n, k) => {
                let (n, k) = (n.eval(lookup), k.eval(lookup));
                match (n.exact, k.exact) {
                    (Some(n), Some(k))
                        if n.is_integer()
                            && k.is_integer()
                            && k.numer() >= 0
                            && k.numer() <= n.numer() =>
                    {
                        let (n, k) = (n.numer(), k.numer().min(n.numer() - k.numer()));
                        let mut acc = Some(Rational::integer(1));
                        for i in 0..k {
                            acc = acc
                                .and_then(|a| a.checked_mul(Rational::integer(n - i)))
                                .and_then(|a| a.checked_div(Rational::integer(i + 1)));
                        }
                        acc.map(Num::exact).unwrap_or(Num::approx(f64::NAN))
                    }
                    _ => Num::approx(f64::NAN),
                }
            }
        }
    }
}

/// Parses a whole normalised answer as an expression; `None` if any of it is not arithmetic.
pub fn parse(text: &str) -> Option<Expr> {
    let mut parser = Parser {
        chars: text.chars().filter(|c| !c.is_whitespace()).collect(),
        pos: 0,
    };
    let expr = parser.expr()?;
    (parser.pos == parser.chars.len()).then_some(expr)
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

const GREEK: &[&str] = &[
    "alpha", "beta", "gamma", "delta", "epsilon", "theta", "lambda", "mu", "phi", "omega", "sigma",
    "rho", "tau",
];

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// The name of the `\command` at the cursor, without consuming it.
    fn peek_command(&self) -> Option<String> {
        if self.peek() != Some('\\') {
            return None;
        }
        let name: String = self.chars[self.pos + 1..]
            .iter()
            .take_while(|c| c.is_ascii_alphabetic())
            .collect();
        (!name.is_empty()).then_some(name)
    }

    fn eat_command(&mut self, name: &str) -> bool {
        if self.peek_command().as_deref() == Some(name) {
            self.pos += 1 + name.len();
            true
        } else {
            false
        }
    }

    /// A plain word such as `sqrt` or `pi` at the cursor (not part of a longer word).
    fn eat_word(&mut self, word: &str) -> bool {
        let end = self.pos + word.len();
        if end <= self.chars.len()
            && self.chars[self.pos..end].iter().copied().eq(word.chars())
            && !self.chars.get(end).is_some_and(|c| c.is_ascii_alphabetic())
        {
            self.pos = end;
            true
        } else {
            false
        }
    }

    fn expr(&mut self) -> Option<Expr> {
        let mut left = self.term()?;
        loop {
            if self.eat('+') {
                left = Expr::Add(Box::new(left), Box::new(self.term()?));
            } else if self.eat('-') {
                left = Expr::Sub(Box::new(left), Box::new(self.term()?));
            } else {
                return Some(left);
            }
        }
    }

    fn term(&mut self) -> Option<Expr> {
        let mut left = self.unary()?;
        loop {
            if self.eat('*') || self.eat_command("cdot") || self.eat_command("times") {
                left = Expr::Mul(Box::new(left), Box::new(self.unary()?));
            } else if self.eat('/') || self.eat_command("div") {
                left = Expr::Div(Box::new(left), Box::new(self.unary()?));
            } else if self.starts_atom() {
                // Implicit multiplication: `2\sqrt{3}`, `3\pi`, `2x`, `(a)(b)`.
                left = Expr::Mul(Box::new(left), Box::new(self.power()?));
            } else {
                return Some(left);
            }
        }
    }

    fn unary(&mut self) -> Option<Expr> {
        if self.eat('-') {
            return Some(Expr::Neg(Box::new(self.unary()?)));
        }
        if self.eat('+') {
            return self.unary();
        }
        self.power()
    }

    fn power(&mut self) -> Option<Expr> {
        let base = self.atom()?;
        if self.eat('^') {
            let exponent = if self.eat('-') {
                Expr::Neg(Box::new(self.exponent()?))
            } else {
                self.exponent()?
            };
            return Some(Expr::Pow(Box::new(base), Box::new(exponent)));
        }
        Some(base)
    }

    /// An exponent: a braced group, or (as LaTeX reads `x^23`) a single character.
    fn exponent(&mut self) -> Option<Expr> {
        if self.peek() == Some('{') || self.peek() == Some('(') || self.peek() == Some('\\') {
            return self.atom();
        }
        self.single()
    }

    /// A one-character argument: `\frac12`, `\sqrt2`.
    fn single(&mut self) -> Option<Expr> {
        let c = self.peek()?;
        if c.is_ascii_digit() {
            self.pos += 1;
            return Some(Expr::Num(Num::exact(Rational::integer(i128::from(
                c as u8 - b'0',
            )))));
        }
        if c.is_ascii_alphabetic() {
            self.pos += 1;
            return Some(Expr::Var(c.to_string()));
        }
        self.atom()
    }

    /// A `\frac`/`\sqrt` argument: a braced group or a single character.
    fn argument(&mut self) -> Option<Expr> {
        if self.peek() == Some('{') {
            self.atom()
        } else {
            self.single()
        }
    }

    fn starts_atom(&self) -> bool {
        match self.peek() {
            Some(c)
                if c.is_ascii_digit()
                    || c.is_ascii_alphabetic()
                    || c == '('
                    || c == '{'
                    || c == '.' =>
            {
                true
            }
            Some('\\') => !matches!(
                self.peek_command().as_deref(),
                Some("cdot" | "times" | "div") | None
            ),
            _ => false,
        }
    }

    fn group(&mut self, close: char) -> Option<Expr> {
        let inner = self.expr()?;
        self.eat(close).then_some(inner)
    }

    fn atom(&mut self) -> Option<Expr> {
        let c = self.peek()?;
        if c.is_ascii_digit() || c == '.' {
            return self.number();
        }
        if self.eat('(') {
            return self.group(')');
        }
        if self.eat('{') {
            return self.group('}');
        }
        if c == '|' {
            self.pos += 1;
            return Some(Expr::Func(Func::Abs, Box::new(self.group('|')?)));
        }
        if c == '\\' {
            return self.command();
        }
        if c.is_ascii_alphabetic() {
            for (word, func) in [
                ("sin", Func::Sin),
                ("cos", Func::Cos),
                ("tan", Func::Tan),
                ("ln", Func::Ln),
                ("log", Func::Log),
                ("exp", Func::Exp),
            ] {
                if self.eat_word(word) {
                    return Some(Expr::Func(func, Box::new(self.power()?)));
                }
            }
            if self.eat_word("sqrt") {
                return Some(Expr::Root(Box::new(two()), Box::new(self.argument()?)));
            }
            if self.eat_word("pi") {
                return Some(pi());
            }
            // Two plain letters in a row is a word, not a product of variables:
            // `no` must not equal `on`.
            if self
                .chars
                .get(self.pos + 1)
                .is_some_and(|c| c.is_ascii_alphabetic())
            {
                return None;
            }
            self.pos += 1;
            return Some(Expr::Var(c.to_string()));
        }
        None
    }

    fn command(&mut self) -> Option<Expr> {
        let name = self.peek_command()?;
        self.pos += 1 + name.len();
        match name.as_str() {
            "frac" | "dfrac" | "tfrac" => {
                let num = self.argument()?;
                let den = self.argument()?;
                Some(Expr::Div(Box::new(num), Box::new(den)))
            }
            "sqrt" => {
                let index = if self.eat('[') {
                    self.group(']')?
                } else {
                    two()
                };
                Some(Expr::Root(Box::new(index), Box::new(self.argument()?)))
            }
            "binom" | "dbinom" | "tbinom" => {
                let n = self.argument()?;
                let k = self.argument()?;
                Some(Expr::Binom(Box::new(n), Box::new(k)))
            }
            "pi" => Some(pi()),
            "infty" => Some(Expr::Num(Num::approx(f64::INFINITY))),
            "sin" | "cos" | "tan" | "ln" | "log" | "exp" => {
                let func = match name.as_str() {
                    "sin" => Func::Sin,
                    "cos" => Func::Cos,
                    "tan" => Func::Tan,
                    "ln" => Func::Ln,
                    "log" => Func::Log,
                    _ => Func::Exp,
                };
                Some(Expr::Func(func, Box::new(self.power()?)))
            }
            greek if GREEK.contains(&greek) => Some(Expr::Var(name)),
            _ => None,
        }
    }

    fn number(&mut self) -> Option<Expr> {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        if self.peek() == Some('.')
            && self
                .chars
                .get(self.pos + 1)
                .is_some_and(|c| c.is_ascii_digit())
        {
            self.pos += 1;
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.pos += 1;
            }
        } else if self.peek() == Some('.') && self.pos > start {
            // A trailing point, as in `5.`: part of the number.
            self.pos += 1;
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        let mut value = match Rational::parse_decimal(&text) {
            Some(r) => Num::exact(r),
            None => Num::approx(text.parse().ok()?),
        };
        // Scientific notation: `1.5e-3`.
        if self.peek() == Some('e') {
            let save = self.pos;
            self.pos += 1;
            let negative = if self.eat('-') {
                true
            } else {
                self.eat('+');
                false
            };
            let digits_start = self.pos;
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.pos += 1;
            }
            if self.pos > digits_start {
                let exp: i32 = self.chars[digits_start..self.pos]
                    .iter()
                    .collect::<String>()
                    .parse()
                    .ok()?;
                let exp = if negative { -exp } else { exp };
                value = match value.exact.and_then(|v| {
                    Rational::integer(10)
                        .checked_pow(exp)
                        .and_then(|p| v.checked_mul(p))
                }) {
                    Some(r) => Num::exact(r),
                    None => Num::approx(value.approx * 10f64.powi(exp)),
                };
            } else {
                self.pos = save;
            }
        }
        Some(Expr::Num(value))
    }
}

fn two() -> Expr {
    Expr::Num(Num::exact(Rational::integer(2)))
}

fn pi() -> Expr {
    Expr::Num(Num::approx(std::f64::consts::PI))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str) -> Num {
        parse(text)
            .unwrap_or_else(|| panic!("{text} did not parse"))
            .eval(&|_| f64::NAN)
    }

    #[test]
    fn rational_arithmetic_stays_exact() {
        assert_eq!(value("\\frac{1}{2}").exact, Rational::new(1, 2));
        assert_eq!(value("\\frac12").exact, Rational::new(1, 2));
        assert_eq!(value("3/4+1/4").exact, Some(Rational::integer(1)));
        assert_eq!(value("2^{10}").exact, Some(Rational::integer(1024)));
        assert_eq!(value("x^23").exact, None);
        assert_eq!(value("-\\frac{3}{2}").exact, Rational::new(-3, 2));
        assert_eq!(value("\\sqrt{16}").exact, Some(Rational::integer(4)));
        assert_eq!(value("1.5e3").exact, Some(Rational::integer(1500)));
        assert_eq!(value("2e+2").exact, Some(Rational::integer(200)));
        assert_eq!(value("5e-1").exact, Rational::new(1, 2));
        assert_eq!(value("2\\times10^{3}").exact, Some(Rational::integer(2000)));
        assert_eq!(value("\\binom{5}{2}").exact, Some(Rational::integer(10)));
    }

    #[test]
    fn irrationals_are_approximate() {
        assert!((value("2\\sqrt{3}").approx - 2.0 * 3f64.sqrt()).abs() < 1e-12);
        assert!((value("\\frac{\\pi}{2}").approx - std::f64::consts::FRAC_PI_2).abs() < 1e-12);
        assert!((value("\\sqrt[3]{2}").approx - 2f64.cbrt()).abs() < 1e-12);
        assert!((value("\\sqrt2/2").approx - 2f64.sqrt() / 2.0).abs() < 1e-12);
    }

    #[test]
    fn words_are_not_products_of_variables() {
        assert!(parse("no").is_none());
        assert!(parse("2x+1").is_some());
        assert_eq!(parse("\\theta+x").unwrap().variables().len(), 2);
        assert!(parse("1+").is_none());
        assert!(parse("(1,2)").is_none());
    }
}
