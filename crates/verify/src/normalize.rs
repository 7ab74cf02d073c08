//! Rewriting an answer into a canonical string before it is parsed: the
//! equivalent of llm-math's `strip_string`, written for our parser.

use std::sync::LazyLock;

use regex::Regex;

/// An answer in canonical form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalized {
    /// The canonical text: no spaces, dollar signs, units, `\left`/`\right`, degree marks.
    pub text: String,
    /// Whether a percent sign (or the word "percent") was removed.
    pub percent: bool,
    /// The whole equation when `text` dropped a `x =` left-hand side from it,
    /// so `y = 1 - x` can still be compared with `x + y = 1`.
    pub equation: Option<String>,
}

macro_rules! re {
    ($name:ident, $pattern:expr) => {
        static $name: LazyLock<Regex> =
            LazyLock::new(|| Regex::new($pattern).expect("valid regex"));
    };
}

re!(
    TEXT_CMD,
    r"\\(?:text|textbf|textit|textrm|mathrm|mathbf|mbox|operatorname)\s*\{([^{}]*)\}"
);
re!(
    TRAILING_UNITS,
    r"^(.*?[\d\}\)])\s*((?:\s*[A-Za-z][A-Za-z\.]*)+)(?:\^\{?[23]\}?)?$"
);
re!(MIXED_SLASH, r"^(-?)(\d+)\s+(\d+)/(\d+)$");
re!(MIXED_FRAC, r"^(-?)(\d+)\s*\\frac\{?(\d+)\}?\{?(\d+)\}?$");
re!(THOUSANDS, r"^-?\d{1,3}(?:,\d{3})+(?:\.\d+)?$");
re!(SPACE_THOUSANDS, r"^-?\d{1,3}(?: \d{3})+(?:\.\d+)?$");
re!(
    EQUATION_LHS,
    r"^\s*([A-Za-z](?:_\{?\w\}?)?|\\[a-z]+)\s*(?:=|\\in)\s*(.+)$"
);

const ROW_BREAK: &str = "\u{1}";

/// Words that look like units but are answers or math in their own right.
const NOT_UNITS: &[&str] = &[
    "sqrt", "pi", "sin", "cos", "tan", "log", "ln", "exp", "infty", "i", "x", "y", "z", "e",
];

/// Canonical form of `answer` (see [`Normalized`]).
pub fn normalize(answer: &str) -> Normalized {
    // LaTeX's row break `\\` must survive the removal of `\ ` spacing below.
    let mut s = answer
        .trim()
        .replace(['\n', '\r', '\t', '~'], " ")
        .replace("\\\\", ROW_BREAK);
    for (from, to) in [
        ("−", "-"),
        ("–", "-"),
        ("×", "\\times "),
        ("÷", "\\div "),
        ("·", "\\cdot "),
        ("π", "\\pi "),
        ("√", "\\sqrt"),
        ("∞", "\\infty "),
        ("°", ""),
        ("\\$", ""),
        ("$", ""),
        ("\\!", ""),
        ("\\,", ""),
        ("\\;", " "),
        ("\\:", " "),
        ("\\ ", " "),
        ("\\displaystyle", ""),
        ("\\dfrac", "\\frac"),
        ("\\tfrac", "\\frac"),
        ("\\dbinom", "\\binom"),
        ("\\left", ""),
        ("\\right.", ""),
        ("\\right", ""),
        ("\\bigl", ""),
        ("\\bigr", ""),
        ("\\Bigl", ""),
        ("\\Bigr", ""),
        ("^{\\circ}", ""),
        ("^\\circ", ""),
        ("\\circ", ""),
        ("\\degree", ""),
        ("{,}", ""),
        ("\\{", "{"),
        ("\\}", "}"),
        ("bmatrix", "pmatrix"),
        ("\\varnothing", "\\emptyset"),
    ] {
        s = s.replace(from, to);
    }

    let mut percent = false;
    for mark in ["\\%", "%"] {
        if s.contains(mark) {
            percent = true;
            s = s.replace(mark, "");
        }
    }

    // `\text{…}`: a unit when it trails something else, otherwise its content.
    while let Some(m) = TEXT_CMD.captures(&s) {
        let whole = m.get(0).expect("match");
        let before = s[..whole.start()].trim();
        let content = m.get(1).expect("group").as_str().trim().to_owned();
        let trailing = s[whole.end()..]
            .trim()
            .trim_start_matches(['^', '2', '3', '{', '}'])
            .is_empty();
        s = if trailing && !before.is_empty() && !is_choice_text(&content) {
            // A unit, with any `^2` after it.
            s[..whole.start()].to_owned()
        } else {
            format!("{}{}{}", &s[..whole.start()], content, &s[whole.end()..])
        };
    }

    s = s.trim().trim_end_matches(['.', ' ']).trim().to_owned();
    if let Some(word) = s.strip_suffix("percent") {
        percent = true;
        s = word.trim().to_owned();
    }

    // `x = 5`, `k=\frac12`, `x \in [1, 2]`: keep the right-hand side.
    let mut equation = None;
    if s.matches('=').count() <= 1
        && let Some(m) = EQUATION_LHS.captures(&s)
    {
        let rhs = m[2].trim().to_owned();
        equation = Some(finish(std::mem::replace(&mut s, rhs), percent).text);
    }
    Normalized {
        equation,
        ..finish(s, percent)
    }
}

/// Units, mixed numbers, separators and spacing: the steps after the left-hand side is gone.
fn finish(mut s: String, percent: bool) -> Normalized {
    if let Some(m) = TRAILING_UNITS.captures(&s) {
        let words = m[2].trim();
        let all_units = words.split_whitespace().all(|w| {
            !NOT_UNITS.contains(&w.trim_end_matches('.')) && (w.len() > 1 || s.contains(' '))
        });
        if all_units && !m[1].trim().is_empty() {
            s = m[1].trim().to_owned();
        }
    }

    if let Some(m) = MIXED_SLASH.captures(&s).or_else(|| MIXED_FRAC.captures(&s)) {
        let (whole, num, den): (u64, u64, u64) = (
            m[2].parse().unwrap_or(0),
            m[3].parse().unwrap_or(0),
            m[4].parse().unwrap_or(0),
        );
        if den > 0 && num < den && whole > 0 {
            s = format!("{}({}+{}/{})", &m[1], whole, num, den);
        }
    }

    if THOUSANDS.is_match(&s) {
        s = s.replace(',', "");
    } else if SPACE_THOUSANDS.is_match(&s) {
        s = s.replace(' ', "");
    }

    s.retain(|c| !c.is_whitespace());
    match s.to_lowercase().as_str() {
        "infinity" | "inf" | "+\\infty" => s = "\\infty".into(),
        "-infinity" | "-inf" => s = "-\\infty".into(),
        "\\emptyset" | "{}" => s = "\\emptyset".into(),
        _ => {}
    }
    let text = s.trim_end_matches('.').replace(ROW_BREAK, "\\\\");
    Normalized {
        text,
        percent,
        equation: None,
    }
}

fn is_choice_text(content: &str) -> bool {
    let inner = content.trim_start_matches('(').trim_end_matches(')');
    inner.len() == 1 && inner.chars().all(|c| c.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> String {
        normalize(s).text
    }

    #[test]
    fn latex_noise_units_and_separators_go() {
        assert_eq!(n("\\$1,000.50"), "1000.50");
        assert_eq!(n("18 dollars"), "18");
        assert_eq!(n("12 \\text{ cm}^2"), "12");
        assert_eq!(
            n("\\left( 3, \\frac{\\pi}{2} \\right)"),
            "(3,\\frac{\\pi}{2})"
        );
        assert_eq!(n("90^\\circ"), "90");
        assert_eq!(n("x = \\dfrac{1}{2}"), "\\frac{1}{2}");
        assert_eq!(n("\\text{(C)}"), "(C)");
        assert_eq!(n("2 \\frac{1}{2}"), "(2+1/2)");
        assert_eq!(n("3 1/4"), "(3+1/4)");
        assert_eq!(n("2x + 1"), "2x+1");
        assert_eq!(n("5\\sqrt{2}"), "5\\sqrt{2}");
        assert_eq!(n("\\text{Evelyn}"), "Evelyn");
        assert!(normalize("25\\%").percent);
        assert_eq!(n("25\\%"), "25");
    }
}
