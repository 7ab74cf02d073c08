//! Checking the arithmetic a natural-language step asserts.
//!
//! A claim is an equation between plain arithmetic: `a op b = c`, chains
//! `a + b = c + d = e`, GSM8K calculator annotations `<<48/2=24>>`, with
//! percentages (`20% of 50`), fractions, `×`/`÷`/`x` between numbers, `$` and
//! thousands separators. Both sides are evaluated exactly with rationals. A side
//! rounded to d decimals may differ by half a unit in its last place
//! (`10/3 = 3.33` holds). Equations with variables or words are not claims.

use std::sync::LazyLock;

use regex::Regex;

use crate::expr::{self, Num};

/// What the arithmetic check found in one step.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ArithmeticCheck {
    /// Claims found and evaluated.
    pub claims: usize,
    /// The false ones, each as `lhs = rhs (lhs is v)`.
    pub false_claims: Vec<String>,
    /// What each claim computes, in order.
    pub computed: Vec<Computed>,
}

/// The side of a claim that computes (the one with an operator) and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Computed {
    /// The arithmetic as written, such as `15 - 31`.
    pub expression: String,
    /// Its value.
    pub value: f64,
}

impl ArithmeticCheck {
    /// Whether every claim holds (vacuously true when there are none).
    pub fn holds(&self) -> bool {
        self.false_claims.is_empty()
    }
}

static ANNOTATION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"<<([^<>=]+)=([^<>=]+)>>").unwrap());
static TIMES_X: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(\d)\s*[x×·]\s*([\d($])").unwrap());
static PERCENT_OF: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"%\s*of\s+").unwrap());
static POWER: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\^\s*(\d+(?:\.\d+)?)").unwrap());
pub(crate) static THOUSANDS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(\d),(\d{3})\b").unwrap());

/// Finds and evaluates the arithmetic claims of `step`.
pub fn check_arithmetic(step: &str) -> ArithmeticCheck {
    let mut check = ArithmeticCheck::default();
    for caps in ANNOTATION.captures_iter(step) {
        compare(&caps[1], &caps[2], &mut check);
    }
    let text = ANNOTATION.replace_all(step, " ");
    let text = TIMES_X.replace_all(&text, "$1*$2");
    // Twice, for overlapping matches such as 2x3x4.
    let text = TIMES_X.replace_all(&text, "$1*$2");
    let text = PERCENT_OF.replace_all(&text, "%*");
    for line in text.lines() {
        check_chain(line, &mut check);
    }
    check
}

/// The calculator of text steps: when `text` ends with an `=` (and perhaps a
/// space) after plain arithmetic with an operator, the value to write next, so
/// that a small policy picks the operations and never gets a sum wrong (as the
/// calculator annotations of GSM8K). `"She has 45 - 17 ="` gives `" 28"`.
/// Values that do not end within four decimals are rounded to two.
pub fn calculate(text: &str) -> Option<String> {
    let trimmed = text.strip_suffix(' ').unwrap_or(text);
    let before = trimmed.strip_suffix('=')?;
    if before.ends_with(['=', '<', '>', '!']) {
        return None;
    }
    let line = before.rsplit('\n').next().unwrap_or(before);
    let line = TIMES_X.replace_all(line, "$1*$2");
    let line = TIMES_X.replace_all(&line, "$1*$2");
    let line = PERCENT_OF.replace_all(&line, "%*");
    // The arithmetic after the line's previous `=`, as the check reads chains.
    let segment = line.rsplit('=').next().unwrap_or(&line);
    let left = whole(segment)
        .or_else(|| tail(segment))
        .or_else(|| after_punctuation(segment))?;
    if !has_operator(left) {
        return None;
    }
    let value = evaluate(left)?;
    let written = decimal(value)?;
    Some(if trimmed.len() < text.len() {
        written
    } else {
        format!(" {written}")
    })
}

/// The arithmetic at the end of `text` after a comma or full stop that ends a
/// clause ("So, 30 - 10"), which [`tail`] leaves alone as part of a number.
fn after_punctuation(text: &str) -> Option<&str> {
    let cut = text.rfind([',', '.', ':', ';'])?;
    let rest = &text[cut + 1..];
    if !rest.starts_with(' ') {
        return None;
    }
    let run = rest.trim();
    (!run.is_empty()
        && run.chars().all(is_arith)
        && run.starts_with(|c: char| c.is_ascii_digit() || c == '(' || c == '$'))
    .then_some(run)
}

/// `value` as a decimal: exact within four places, else rounded to two.
fn decimal(value: Num) -> Option<String> {
    if let Some(r) = value.exact {
        if r.is_integer() {
            return Some(r.numer().to_string());
        }
        let scaled = r.checked_mul(crate::Rational::integer(10_000))?;
        if scaled.is_integer() {
            let text = format!("{:.4}", r.to_f64());
            return Some(text.trim_end_matches('0').trim_end_matches('.').to_owned());
        }
    }
    let rounded = format!("{:.2}", value.approx);
    let rounded = rounded.trim_end_matches('0').trim_end_matches('.');
    Some(if rounded == "-0" { "0" } else { rounded }.to_owned())
}

fn has_operator(side: &str) -> bool {
    side.trim_start()
        .trim_start_matches('-')
        .contains(['+', '-', '*', '/', '^', '%', '÷'])
}

fn is_arith(c: char) -> bool {
    c.is_ascii_digit() || " .,+-*/^()%$÷".contains(c)
}

/// The claims of one line: each `=` compares the arithmetic on its left (the
/// whole segment, else its tail) with the arithmetic on its right (the whole
/// segment, else its head), so chains and several equations on a line work.
fn check_chain(line: &str, check: &mut ArithmeticCheck) {
    // `==`, `<=`, `>=`, `!=` and `≠` are not claims of equality.
    if line.contains("==") || line.contains("<=") || line.contains(">=") || line.contains("!=") {
        return;
    }
    let segments: Vec<&str> = line.split('=').collect();
    for pair in segments.windows(2) {
        let [left, right] = pair else { continue };
        let left = whole(left).or_else(|| tail(left));
        let right = whole(right).or_else(|| head(right));
        if let (Some(l), Some(r)) = (left, right) {
            compare(l, r, check);
        }
    }
}

/// The arithmetic run at the end of `text`, unless a word or symbol is glued to it.
fn tail(text: &str) -> Option<&str> {
    let start = text
        .char_indices()
        .rev()
        .take_while(|&(_, c)| is_arith(c))
        .last()?
        .0;
    let run = text[start..].trim();
    let before = text[..start].chars().next_back();
    if before.is_some_and(|c| c.is_alphanumeric() || "_}\\".contains(c))
        && !text[start..].starts_with(' ')
    {
        return None;
    }
    let run = run.trim_start_matches([',', '.', ' ']);
    // A run opening with an operator continues an expression with words in it.
    if run.starts_with(['+', '*', '/', '^', '%', '÷', ')']) {
        return None;
    }
    if run.starts_with('-')
        && text[..start]
            .trim_end()
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == ')')
    {
        return None;
    }
    (!run.is_empty()).then_some(run)
}

/// The arithmetic run at the start of `text`, unless a word is glued to it.
fn head(text: &str) -> Option<&str> {
    let end = text
        .char_indices()
        .find(|&(_, c)| !is_arith(c))
        .map_or(text.len(), |(i, _)| i);
    let after = text[end..].chars().next();
    if after.is_some_and(|c| c.is_alphanumeric() || "\\{_".contains(c))
        && !text[..end].ends_with(' ')
    {
        return None;
    }
    let run = text[..end]
        .trim()
        .trim_end_matches([',', '.', ' ', ':', ';']);
    (!run.is_empty()).then_some(run)
}

fn whole(text: &str) -> Option<&str> {
    text.chars().all(is_arith).then(|| text.trim())
}

/// Evaluates both sides; records a claim when both are plain arithmetic and at
/// least one has an operator.
fn compare(left: &str, right: &str, check: &mut ArithmeticCheck) {
    let (Some(l), Some(r)) = (evaluate(left), evaluate(right)) else {
        return;
    };
    if !has_operator(left) && !has_operator(right) {
        return;
    }
    check.claims += 1;
    let (expression, value) = if has_operator(left) {
        (left, l)
    } else {
        (right, r)
    };
    check.computed.push(Computed {
        expression: expression.trim().to_owned(),
        value: value.approx,
    });
    if !equal(l, r, right) && !equal(r, l, left) {
        check.false_claims.push(format!(
            "{} = {} ({} is {})",
            left.trim(),
            right.trim(),
            left.trim(),
            show(l)
        ));
    }
}

fn evaluate(side: &str) -> Option<Num> {
    let side = side.trim();
    if !side.chars().any(|c| c.is_ascii_digit()) || side.chars().any(|c| c.is_alphabetic()) {
        return None;
    }
    let plain = THOUSANDS.replace_all(side, "$1$2");
    let plain = THOUSANDS.replace_all(&plain, "$1$2");
    if plain.contains(',') {
        return None;
    }
    let plain = plain
        .replace('$', "")
        .replace('÷', "/")
        .replace('%', "/100");
    // Plain text, not TeX: 2^10 is two to the tenth.
    let plain = POWER.replace_all(&plain, "^{$1}");
    let parsed = expr::parse(&plain)?;
    if !parsed.variables().is_empty() {
        return None;
    }
    let value = parsed.eval(&|_| f64::NAN);
    value.approx.is_finite().then_some(value)
}

/// Whether `value` equals `written`, allowing for `written_text` being rounded.
fn equal(value: Num, written: Num, written_text: &str) -> bool {
    if let (Some(a), Some(b)) = (value.exact, written.exact)
        && a == b
    {
        return true;
    }
    let decimals = written_text
        .trim()
        .rsplit_once('.')
        .filter(|(whole, frac)| {
            !frac.is_empty()
                && frac.chars().all(|c| c.is_ascii_digit())
                && whole.chars().last().is_some_and(|c| c.is_ascii_digit())
        })
        .map_or(0, |(_, frac)| frac.len() as i32);
    let tolerance = if decimals > 0 {
        0.5 * 10f64.powi(-decimals)
    } else {
        0.0
    };
    let scale = value.approx.abs().max(written.approx.abs()).max(1.0);
    (value.approx - written.approx).abs() <= tolerance + 1e-9 * scale
}

fn show(n: Num) -> String {
    match n.exact {
        Some(r) if r.is_integer() => r.numer().to_string(),
        Some(r) => format!("{}/{}", r.numer(), r.denom()),
        None => format!("{:.6}", n.approx),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(step: &str) -> (usize, usize) {
        let c = check_arithmetic(step);
        (c.claims, c.false_claims.len())
    }

    #[test]
    fn true_and_false_equations() {
        assert_eq!(claims("So she has 3 + 4 = 7 apples."), (1, 0));
        assert_eq!(claims("So she has 3 + 4 = 8 apples."), (1, 1));
        assert_eq!(claims("Total: 12 * 7 = 84"), (1, 0));
        assert_eq!(claims("Then 84 / 4 = 21.\n"), (1, 0));
        assert_eq!(claims("6 - 10 = -4"), (1, 0));
        assert_eq!(claims("2^10 = 1024 and (3 + 5) * 2 = 16"), (2, 0));
    }

    #[test]
    fn chains() {
        assert_eq!(claims("2 + 4 = 5 + 1 = 6"), (2, 0));
        assert_eq!(claims("2 + 3 = 5 + 1 = 6"), (2, 1));
        assert_eq!(
            claims("The cost is 3 * 4 + 2 = 12 + 2 = 14 dollars"),
            (2, 0)
        );
    }

    #[test]
    fn gsm8k_annotations() {
        assert_eq!(
            claims("She sold 48/2 = <<48/2=24>>24 clips in May."),
            (2, 0)
        );
        assert_eq!(claims("Natalia sold <<48+24=72>>72 clips."), (1, 0));
        assert_eq!(claims("He earns <<12*50=500>>500."), (1, 1));
    }

    #[test]
    fn percentages_fractions_money_and_times() {
        assert_eq!(claims("20% of 50 = 10"), (1, 0));
        assert_eq!(claims("20% of 50 = 12"), (1, 1));
        assert_eq!(claims("50 * 20% = 10"), (1, 0));
        assert_eq!(claims("3/4 * 8 = 6"), (1, 0));
        assert_eq!(claims("1/2 + 1/3 = 5/6"), (1, 0));
        assert_eq!(claims("$1,200 - $200 = $1,000"), (1, 0));
        assert_eq!(claims("3 x 4 = 12 and 5 × 6 = 30 and 8 ÷ 2 = 4"), (3, 0));
        assert_eq!(claims("3 x 4 = 13"), (1, 1));
    }

    #[test]
    fn rounding_to_the_written_decimals() {
        assert_eq!(claims("10/3 = 3.33"), (1, 0));
        assert_eq!(claims("10/3 = 3.3"), (1, 0));
        assert_eq!(claims("10/3 = 3.4"), (1, 1));
        assert_eq!(claims("10/3 = 3"), (1, 1));
        assert_eq!(claims("2.5 * 4 = 10.0"), (1, 0));
    }

    #[test]
    fn not_claims() {
        assert_eq!(claims("Let x = 5."), (0, 0));
        assert_eq!(claims("3x + 2 = 11, so x = 3"), (0, 0));
        assert_eq!(claims("The answer is 7."), (0, 0));
        assert_eq!(claims("7 = 7"), (0, 0));
        assert_eq!(claims("Step 2: if a == b then 3 + 3 == 7"), (0, 0));
        assert_eq!(claims("apples = 3 + 4"), (0, 0));
        assert_eq!(claims("f(2) = 2 + 3 = 5"), (1, 0));
        assert_eq!(claims("\\frac{1}{2} = 0.5"), (0, 0));
    }

    #[test]
    fn the_calculator_fills_in_results() {
        assert_eq!(calculate("She has 45 - 17 =").as_deref(), Some(" 28"));
        assert_eq!(calculate("She has 45 - 17 = ").as_deref(), Some("28"));
        assert_eq!(calculate("Tom has 3 * 4 =").as_deref(), Some(" 12"));
        assert_eq!(calculate("3 x 4 + 2 =").as_deref(), Some(" 14"));
        assert_eq!(calculate("(12 + 3) * 2 =").as_deref(), Some(" 30"));
        assert_eq!(calculate("So 28 / 8 =").as_deref(), Some(" 3.5"));
        assert_eq!(calculate("10 / 3 =").as_deref(), Some(" 3.33"));
        assert_eq!(calculate("He pays $3.50 * 4 =").as_deref(), Some(" 14"));
        assert_eq!(calculate("20% of 50 =").as_deref(), Some(" 10"));
        assert_eq!(calculate("6 - 10 =").as_deref(), Some(" -4"));
        assert_eq!(calculate("So, 30 - 10 =").as_deref(), Some(" 20"));
        assert_eq!(calculate("In all: 1,200 + 30 =").as_deref(), Some(" 1230"));
        // A chain goes on from the previous result.
        assert_eq!(calculate("3 * 4 + 2 = 12 + 2 =").as_deref(), Some(" 14"));
        assert_eq!(
            calculate("First line 2 + 2 = 4.\nThen 4 * 5 =").as_deref(),
            Some(" 20")
        );
        // Nothing to calculate: no operator, words, comparisons, a finished claim.
        assert_eq!(calculate("The total = "), None);
        assert_eq!(calculate("He has 12 ="), None);
        assert_eq!(calculate("x + 2 ="), None);
        assert_eq!(calculate("if a == "), None);
        assert_eq!(calculate("3 + 4 = 7"), None);
        assert_eq!(calculate("5 / 0 ="), None);
        // What it writes, the check accepts.
        for text in ["45 - 17 =", "10 / 3 =", "28 / 8 ="] {
            let step = format!("{text}{}", calculate(text).unwrap());
            assert!(check_arithmetic(&step).holds(), "{step}");
        }
    }
}
