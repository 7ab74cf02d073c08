//! Answer checking for evolve: pull the final answer out of a response and decide
//! whether it equals the known (gold) answer.
//!
//! [`grade`] does both. [`extract_answer`] finds the answer (`\boxed{}`, `#### N`,
//! "the answer is …", the last number); [`answers_equal`] normalises both sides
//! (units, `\text{}`, `%`, degrees, `\dfrac`, thousands separators, mixed
//! numbers, `x =` prefixes) and compares them as numbers (exact rationals where
//! possible, relative tolerance 1e-4 otherwise), expressions (evaluated at sample
//! points), tuples, intervals, matrices, multiple-choice letters or text. The
//! behaviour follows llm-math's `math_equal`/`strip_string`, except that a bare
//! number never equals itself times 100 unless one side carries a percent sign.
#![deny(missing_docs)]

pub use crate::arithmetic::{ArithmeticCheck, Computed, calculate, check_arithmetic};
pub use crate::equal::answers_equal;
pub use crate::extract::{extract_answer, extract_boxed, extract_final_answer};
pub use crate::grounding::{ungrounded_operands, unused_question_numbers};
pub use crate::normalize::{Normalized, normalize};
pub use crate::rational::Rational;

mod answer;
pub mod arithmetic;
mod equal;
pub mod expr;
mod extract;
mod grounding;
mod normalize;
mod rational;
pub mod sandbox;

/// The verdict on one response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grade {
    /// The answer found in the response, as written.
    pub answer: Option<String>,
    /// Whether it equals the gold answer.
    pub correct: bool,
}

/// Extracts the answer of `response` and compares it with `gold`.
pub fn grade(response: &str, gold: &str) -> Grade {
    let answer = extract_answer(response);
    let correct = answer.as_deref().is_some_and(|a| answers_equal(a, gold));
    Grade { answer, correct }
}
