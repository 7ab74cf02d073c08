//! Whether a word problem's step computes with numbers it has: a small policy
//! that writes `19 + 18 = 37` when the question has no 19 reaches the gold
//! answer by luck, and its solution teaches the next policy to invent numbers.

use std::sync::LazyLock;

use regex::Regex;

use crate::arithmetic::{ArithmeticCheck, THOUSANDS};

static NUMBER: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\d+(?:\.\d+)?").unwrap());
/// A number standing alone, not the digits of a word such as `mp3`.
static QUESTION_NUMBER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b\d+(?:\.\d+)?\b").unwrap());
/// Where a sentence or line ends: a claim computes only with what its own
/// sentence wrote.
static SENTENCE_END: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"[.:;?!]\s|\n").unwrap());
static WORD: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"[A-Za-z]+").unwrap());
/// A number written after an `=`: the results a step states for itself.
static RESULT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"=\s*\$?\s*-?(\d+(?:\.\d+)?)").unwrap());

/// The operands of `check`'s claims that are neither in `known` (the question
/// and the earlier steps) nor results that `step` states after an `=`, each as
/// `19 in 19 + 18`. Numbers count when written in digits (`1,200`, `3.5`) or
/// words (`two`, `twenty-five`, `dozen`, `twice`, `half`); a unit in the text
/// brings its conversions (`hours`: 60 and 24, `week`: 7, `%`: 100).
pub fn ungrounded_operands(step: &str, check: &ArithmeticCheck, known: &str) -> Vec<String> {
    let mut have = numbers_in(known);
    have.extend(numbers_in_words(step));
    have.extend(
        RESULT
            .captures_iter(&without_separators(step))
            .filter_map(|caps| caps[1].parse::<f64>().ok()),
    );
    let mut missing = Vec::new();
    for computed in &check.computed {
        let plain = without_separators(&computed.expression);
        for operand in NUMBER.find_iter(&plain) {
            let Ok(value) = operand.as_str().parse::<f64>() else {
                continue;
            };
            if !have.iter().any(|&h| same(h, value)) {
                missing.push(format!("{} in {}", operand.as_str(), computed.expression));
            }
        }
    }
    missing
}

/// The numbers the question writes in digits (without thousands separators)
/// that no step computes with: a two-step word problem's solution uses all of
/// them, and one that leaves a number out (`13 * 5 = 65`, then `13 - 5 = 8`
/// for 13 + 5 - 10) reached the gold answer by luck. A number counts as used
/// when a step writes it before an `=` in the same sentence (`9 tickets - 4
/// tickets = 5` too, which is not a claim the calculator checks). Digits
/// inside a word (`mp3`) are not numbers of the question.
pub fn unused_question_numbers(question: &str, steps: &[&str]) -> Vec<String> {
    let mut used: Vec<f64> = Vec::new();
    for step in steps {
        for sentence in SENTENCE_END.split(&without_separators(step)) {
            // Everything before the sentence's last `=` is computed with.
            if let Some(at) = sentence.rfind('=') {
                used.extend(
                    NUMBER
                        .find_iter(&sentence[..at])
                        .filter_map(|m| m.as_str().parse::<f64>().ok()),
                );
            }
        }
    }
    let mut unused: Vec<String> = Vec::new();
    for number in QUESTION_NUMBER.find_iter(&without_separators(question)) {
        let Ok(value) = number.as_str().parse::<f64>() else {
            continue;
        };
        if !used.iter().any(|&u| same(u, value)) && !unused.iter().any(|u| u == number.as_str()) {
            unused.push(number.as_str().to_owned());
        }
    }
    unused
}

/// `text` with thousands separators dropped (twice, for `1,200,000`).
fn without_separators(text: &str) -> String {
    let once = THOUSANDS.replace_all(text, "$1$2");
    THOUSANDS.replace_all(&once, "$1$2").into_owned()
}

fn same(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// The numbers of `text`, in digits and in words.
fn numbers_in(text: &str) -> Vec<f64> {
    let plain = without_separators(text);
    let mut numbers: Vec<f64> = NUMBER
        .find_iter(&plain)
        .filter_map(|m| m.as_str().parse().ok())
        .collect();
    numbers.extend(numbers_in_words(text));
    numbers
}

/// The numbers `text` writes in words, and the conversions its units bring.
fn numbers_in_words(text: &str) -> Vec<f64> {
    let mut numbers = Vec::new();
    if text.contains('%') {
        numbers.push(100.0);
    }
    let words: Vec<String> = WORD
        .find_iter(text)
        .map(|w| w.as_str().to_ascii_lowercase())
        .collect();
    for (i, word) in words.iter().enumerate() {
        numbers.extend(word_values(word));
        // "twenty-five" and "twenty five": the tens and the units together.
        if let (Some(tens), Some(next)) = (tens(word), words.get(i + 1))
            && let Some(&units) = word_values(next).first()
            && (1.0..10.0).contains(&units)
        {
            numbers.push(tens + units);
        }
    }
    numbers
}

const UNITS: [&str; 20] = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
];
const TENS: [&str; 8] = [
    "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
];

fn tens(word: &str) -> Option<f64> {
    let i = TENS.iter().position(|&t| t == word)?;
    Some(20.0 + 10.0 * i as f64)
}

fn word_values(word: &str) -> Vec<f64> {
    if let Some(i) = UNITS.iter().position(|&u| u == word) {
        return vec![i as f64];
    }
    if let Some(t) = tens(word) {
        return vec![t];
    }
    let values: &[f64] = match word {
        "hundred" | "percent" | "cent" | "cents" | "centimeter" | "centimeters" => &[100.0],
        "thousand" | "kilogram" | "kilograms" | "kilometer" | "kilometers" => &[1000.0],
        "million" => &[1_000_000.0],
        "dozen" | "dozens" => &[12.0],
        "twice" | "double" | "doubled" | "pair" | "pairs" | "couple" => &[2.0],
        "triple" | "tripled" | "thrice" => &[3.0],
        "half" | "halves" => &[2.0, 0.5],
        "quarter" | "quarters" => &[4.0, 0.25],
        "hour" | "hours" => &[60.0, 24.0],
        "minute" | "minutes" | "seconds" => &[60.0],
        "day" | "days" | "daily" => &[24.0, 7.0, 30.0, 365.0],
        "week" | "weeks" | "weekly" => &[7.0, 52.0],
        "month" | "months" | "monthly" => &[12.0, 30.0],
        "year" | "years" | "yearly" => &[12.0, 52.0, 365.0],
        "foot" | "feet" => &[12.0, 3.0],
        "yard" | "yards" => &[3.0],
        "dollar" | "dollars" => &[100.0],
        "meter" | "meters" => &[100.0, 1000.0],
        _ => &[],
    };
    values.to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check_arithmetic;

    fn ungrounded(step: &str, known: &str) -> Vec<String> {
        ungrounded_operands(step, &check_arithmetic(step), known)
    }

    #[test]
    fn operands_from_the_question_and_earlier_steps_are_grounded() {
        let question = "Henry had 11 dollars. He got 18 more but spent 10 on a game.";
        assert!(ungrounded("He has 11 + 18 = 29 dollars.", question).is_empty());
        let known = format!("{question}\nHe has 11 + 18 = 29 dollars.");
        assert!(ungrounded("Then 29 - 10 = 19 are left.", &known).is_empty());
        // A chain computes on with what it stated.
        assert!(ungrounded("11 + 18 = 29 - 10 = 19", question).is_empty());
    }

    #[test]
    fn invented_numbers_are_not() {
        let question = "Henry had 11 dollars. He got 18 more but spent 10 on a game.";
        assert_eq!(
            ungrounded("Now we have 19 + 18 = 37.", question),
            vec!["19 in 19 + 18"]
        );
        assert_eq!(
            ungrounded("The equation must be 18 + 1 = 19.", question),
            vec!["1 in 18 + 1"]
        );
    }

    #[test]
    fn numbers_in_words_and_units() {
        let question = "Zoe bought two coloring books with twenty-five pictures each.";
        assert!(ungrounded("She has 2 * 25 = 50 pictures.", question).is_empty());
        assert!(ungrounded("A dozen is 3 * 12 = 36.", "He has 3 dozen eggs.").is_empty());
        assert!(ungrounded("She works 2 * 60 = 120 minutes.", "She works 2 hours.").is_empty());
        assert!(ungrounded("20% of 50 = 10", "20% of the 50 apples are red.").is_empty());
        assert!(ungrounded("$1,200 - $200 = $1,000", "It cost $1,200; he paid $200.").is_empty());
        assert_eq!(
            ungrounded("3 * 7 = 21", "He has 3 cats."),
            vec!["7 in 3 * 7"]
        );
    }

    #[test]
    fn every_number_of_the_question_must_be_computed_with() {
        let question = "A pet store had 13 siamese cats and 5 house cats. They sold 10 cats.";
        let lucky = [
            "They sold 13 * 5 = 65 cats.",
            "They have 13 - 5 = 8 cats left.",
        ];
        assert_eq!(unused_question_numbers(question, &lucky), vec!["10"]);
        let direct = [
            "They had 13 + 5 = 18 cats.",
            "They have 18 - 10 = 8 cats left.",
        ];
        assert!(unused_question_numbers(question, &direct).is_empty());
        // A chain, and units between the numbers, use them too.
        assert!(unused_question_numbers(question, &["13 + 5 - 10 = 8"]).is_empty());
        let worded = ["He had 13 cats + 5 cats = 18 cats. Then 18 cats - 10 cats = 8 cats."];
        assert!(unused_question_numbers(question, &worded).is_empty());
        // A number mentioned outside the sentence of an `=` is not computed with.
        let mentioned = ["They sold 10 cats. They have 13 - 5 = 8 cats left."];
        assert_eq!(unused_question_numbers(question, &mentioned), vec!["10"]);
    }

    #[test]
    fn digits_inside_words_and_separators() {
        let question = "Zoe had 15 songs on her mp3 player, deleted 8 and added 1,200.";
        let steps = ["15 - 8 = 7 songs.", "7 + 1,200 = 1,207 songs."];
        assert!(unused_question_numbers(question, &steps).is_empty());
        assert_eq!(
            unused_question_numbers(question, &["15 - 8 = 7 songs."]),
            vec!["1200"]
        );
    }
}
