//! The structure of a normalised answer: a number, an expression, a tuple, an
//! interval, a matrix, a multiple-choice letter, or text.

use std::sync::LazyLock;

use regex::Regex;

use crate::expr::{self, Expr, Num};

/// A parsed answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Answer {
    /// A multiple-choice letter, A–E.
    Choice(char),
    /// A constant: `3`, `\frac{\sqrt3}{2}`, `2\pi`.
    Number(Num),
    /// An expression in variables: `2x+1`.
    Expr(Expr),
    /// `lhs = rhs` with something other than a lone variable on the left.
    Equation(Expr, Expr),
    /// `(a, b, …)`: ordered.
    Tuple(Vec<Answer>),
    /// `a, b, …` or `{a, b}`: order does not matter.
    Set(Vec<Answer>),
    /// `[a, b)` and the like.
    Interval {
        lo: Box<Answer>,
        hi: Box<Answer>,
        lo_closed: bool,
        hi_closed: bool,
    },
    /// Intervals joined by `\cup`; order does not matter.
    Union(Vec<Answer>),
    /// `\begin{pmatrix} … \end{pmatrix}`, by rows.
    Matrix(Vec<Vec<Answer>>),
    /// Anything else, lower-cased, without braces and backslashes.
    Text(String),
}

static CHOICE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\(?([A-E])\)?$").expect("valid regex"));
static CHOICE_PREFIX: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:\(([A-Ea-e])\)|([A-Ea-e])(?:$|[.:)]))").expect("valid regex")
});

/// The letter of a gold answer that is a multiple-choice option.
pub(crate) fn gold_choice(text: &str) -> Option<char> {
    CHOICE.captures(text).and_then(|m| m[1].chars().next())
}

/// The option letter a response's answer starts with: `(c)`, `C.`, `C`.
pub(crate) fn response_choice(text: &str) -> Option<char> {
    let m = CHOICE_PREFIX.captures(text)?;
    m.get(1)
        .or_else(|| m.get(2))
        .and_then(|g| g.as_str().chars().next())
        .map(|c| c.to_ascii_uppercase())
}

/// Parses a normalised answer (see [`crate::normalize`]).
pub(crate) fn parse(text: &str) -> Answer {
    if let Some(c) = gold_choice(text) {
        return Answer::Choice(c);
    }
    if let Some(body) = text
        .strip_prefix("\\begin{pmatrix}")
        .and_then(|t| t.strip_suffix("\\end{pmatrix}"))
    {
        let rows = body
            .split("\\\\")
            .filter(|r| !r.is_empty())
            .map(|row| row.split('&').map(parse).collect())
            .collect();
        return Answer::Matrix(rows);
    }
    let pieces = split_top_level(text, "\\cup");
    if pieces.len() > 1 {
        return Answer::Union(pieces.into_iter().map(parse).collect());
    }
    if let Some((open, inner, close)) = outer_brackets(text) {
        let items = split_top_level(inner, ",");
        match (open, close, items.len()) {
            ('{', '}', _) if items.len() > 1 => {
                return Answer::Set(items.into_iter().map(parse).collect());
            }
            ('(', ')', n) if n > 1 => return Answer::Tuple(items.into_iter().map(parse).collect()),
            ('[', ']', n) if n > 2 => return Answer::Tuple(items.into_iter().map(parse).collect()),
            (_, _, 2) => {
                return Answer::Interval {
                    lo: Box::new(parse(items[0])),
                    hi: Box::new(parse(items[1])),
                    lo_closed: open == '[',
                    hi_closed: close == ']',
                };
            }
            (_, _, 1) if open != '{' || close == '}' => return parse(inner),
            _ => {}
        }
    }
    let items = split_top_level(text, ",");
    if items.len() > 1 {
        return Answer::Set(items.into_iter().map(parse).collect());
    }
    if let [lhs, rhs] = split_top_level(text, "=")[..]
        && let (Some(lhs), Some(rhs)) = (expr::parse(lhs), expr::parse(rhs))
    {
        return Answer::Equation(lhs, rhs);
    }
    if let Some(e) = expr::parse(text) {
        return if e.variables().is_empty() {
            Answer::Number(e.eval(&|_| f64::NAN))
        } else {
            Answer::Expr(e)
        };
    }
    Answer::Text(plain_text(text))
}

/// Text stripped of LaTeX markup and case, for comparing word answers.
pub(crate) fn plain_text(text: &str) -> String {
    text.replace("\\text", "")
        .replace("\\mathrm", "")
        .chars()
        .filter(|c| !matches!(c, '{' | '}' | '\\'))
        .collect::<String>()
        .to_lowercase()
}

/// Splits on `sep` where it is outside every bracket pair.
fn split_top_level<'a>(text: &'a str, sep: &str) -> Vec<&'a str> {
    let mut pieces = Vec::new();
    let (mut depth, mut start, mut i) = (0i32, 0usize, 0usize);
    let bytes = text.as_bytes();
    while i < bytes.len() {
        match bytes[i] {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth -= 1,
            _ if depth == 0 && text[i..].starts_with(sep) => {
                pieces.push(&text[start..i]);
                i += sep.len();
                start = i;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    pieces.push(&text[start..]);
    pieces
}

/// `(open, inner, close)` when one bracket pair encloses the whole text (brackets
/// may differ, as in the interval `(1, 2]`).
fn outer_brackets(text: &str) -> Option<(char, &str, char)> {
    let open = text.chars().next()?;
    let close = text.chars().last()?;
    if !matches!(open, '(' | '[' | '{') || !matches!(close, ')' | ']' | '}') || text.len() < 2 {
        return None;
    }
    let mut depth = 0i32;
    for (i, c) in text.char_indices() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => {
                depth -= 1;
                if depth == 0 && i != text.len() - 1 {
                    return None;
                }
            }
            _ => {}
        }
    }
    (depth == 0).then(|| (open, &text[1..text.len() - 1], close))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structures_are_recognised() {
        assert!(matches!(parse("(1,2)"), Answer::Tuple(ref v) if v.len() == 2));
        assert!(matches!(
            parse("[1,2)"),
            Answer::Interval {
                lo_closed: true,
                hi_closed: false,
                ..
            }
        ));
        assert!(
            matches!(parse("(-\\infty,0)\\cup(1,\\infty)"), Answer::Union(ref v) if v.len() == 2)
        );
        assert!(matches!(parse("1,2,3"), Answer::Set(ref v) if v.len() == 3));
        assert!(matches!(parse("(C)"), Answer::Choice('C')));
        assert!(matches!(parse("y=2x+1"), Answer::Equation(..)));
        assert!(
            matches!(parse("\\begin{pmatrix}1\\\\2\\end{pmatrix}"), Answer::Matrix(ref r) if r.len() == 2)
        );
        assert!(matches!(parse("Evelyn"), Answer::Text(ref t) if t == "evelyn"));
        assert!(matches!(parse("((1+2))"), Answer::Number(_)));
    }
}
