//! Pulling the final answer out of a model's response or a reference solution.

use std::sync::LazyLock;

use regex::Regex;

/// The final answer a response commits to, or `None` when it gives none.
///
/// In order of trust: the last `\boxed{…}` (or `\fbox{…}`), the text after the last
/// `#### ` (GSM8K style), a "the answer is …" / "Answer: …" statement, else the
/// last number in the text.
pub fn extract_answer(response: &str) -> Option<String> {
    extract_final_answer(response).or_else(|| last_number(response))
}

/// The answer a text explicitly commits to: `\boxed{…}`, `#### …` or "the answer
/// is …", without falling back to the last number (so a step that merely
/// computes something does not end a solution).
pub fn extract_final_answer(response: &str) -> Option<String> {
    if let Some(boxed) = extract_boxed(response) {
        return Some(boxed);
    }
    if let Some((_, after)) = response.rsplit_once("####") {
        let line = after.trim_start().lines().next().unwrap_or("").trim();
        if !line.is_empty() {
            return Some(line.to_owned());
        }
    }
    extract_stated(response)
}

/// The content of the last complete `\boxed{…}` or `\fbox{…}`, nested braces included.
pub fn extract_boxed(text: &str) -> Option<String> {
    let mut search_end = text.len();
    while let Some(start) = ["\\boxed", "\\fbox"]
        .iter()
        .filter_map(|cmd| text[..search_end].rfind(cmd).map(|i| (i, cmd.len())))
        .max()
    {
        let (at, len) = start;
        if let Some(content) = box_argument(&text[at + len..]) {
            return Some(content.trim().to_owned());
        }
        // A box cut off by the token limit: try the one before it.
        search_end = at;
    }
    None
}

fn box_argument(rest: &str) -> Option<&str> {
    let trimmed = rest.trim_start();
    if let Some(inner) = trimmed.strip_prefix('{') {
        let mut depth = 1usize;
        for (i, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(&inner[..i]);
                    }
                }
                _ => {}
            }
        }
        return None;
    }
    // `\boxed 5`: the argument runs to the end of the math span or line.
    if trimmed.len() == rest.len() {
        return None;
    }
    let end = trimmed.find(['$', '\n']).unwrap_or(trimmed.len());
    let arg = trimmed[..end].trim();
    (!arg.is_empty()).then_some(arg)
}

static STATED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?:final answer|the answer|answer)\s*(?:is|:|=)\s*:?\s*([^\n]+)")
        .expect("valid regex")
});
static MATH_SPAN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\$\$?([^$]+)\$\$?|\\\((.+?)\\\)").expect("valid regex"));

/// The answer of an "the answer is …" or "Answer: …" sentence (the last one).
fn extract_stated(text: &str) -> Option<String> {
    let captured = STATED.captures_iter(text).last()?.get(1)?.as_str();
    let answer = match MATH_SPAN.captures(captured) {
        Some(span) => span.get(1).or_else(|| span.get(2))?.as_str(),
        None => {
            // End at the first sentence break, keeping decimal points such as 3.5.
            let end = captured.find(". ").unwrap_or(captured.len());
            &captured[..end]
        }
    };
    let answer = answer
        .trim_matches(|c: char| c.is_whitespace() || c == '*')
        .trim_end_matches(['.', ',', ';', '!'])
        .trim();
    (!answer.is_empty()).then(|| answer.to_owned())
}

static NUMBER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:/\d+)?|-?\.\d+").expect("valid regex")
});

fn last_number(text: &str) -> Option<String> {
    NUMBER
        .find_iter(text)
        .last()
        .map(|m| m.as_str().replace(',', ""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_box_wins_and_nested_braces_survive() {
        assert_eq!(
            extract_answer("so \\boxed{1} then \\boxed{\\frac{1}{2}}.").as_deref(),
            Some("\\frac{1}{2}")
        );
        assert_eq!(extract_answer("$\\boxed 5$").as_deref(), Some("5"));
        assert_eq!(
            extract_answer("\\boxed{3} and \\boxed{\\frac{1}{").as_deref(),
            Some("3")
        );
    }

    #[test]
    fn gsm8k_marker_statement_and_last_number() {
        assert_eq!(
            extract_answer("16 - 3 = 13\n#### 1,300").as_deref(),
            Some("1,300")
        );
        assert_eq!(
            extract_answer("So the answer is 42. I hope so.").as_deref(),
            Some("42")
        );
        assert_eq!(
            extract_answer("The final answer is $\\frac{3}{4}$. Done").as_deref(),
            Some("\\frac{3}{4}")
        );
        assert_eq!(extract_answer("Answer: 3.5").as_deref(), Some("3.5"));
        assert_eq!(
            extract_answer("She has 3 apples, then 1,250 more").as_deref(),
            Some("1250")
        );
        assert_eq!(extract_answer("no digits here"), None);
    }
}
