//! Step checks for the two step formats: arithmetic claims of text steps, and
//! the Python of code steps run in the sandbox.

use evolve_export::output_block;
use evolve_search::{End, StepCheck, StepInput, StepVerifier, Verdict};
use evolve_verify::sandbox::Sandbox;
use evolve_verify::{
    answers_equal, check_arithmetic, extract_answer, extract_final_answer, ungrounded_operands,
};

use crate::config::{FormatPrompts, StepFormat};

/// The stop string that ends a step of each format.
pub fn delimiter(format: StepFormat) -> &'static str {
    match format {
        StepFormat::Text => "\n\n",
        // The closing fence of the step's code block.
        StepFormat::Code => "\n```\n",
    }
}

/// Checks steps of one format and grades answers with evolve-verify.
#[derive(Debug)]
pub struct StepChecker {
    format: StepFormat,
    sandbox: Option<Sandbox>,
    word_problem: WordProblemChecks,
}

/// Checks of text steps beyond true arithmetic, for word problems.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WordProblemChecks {
    /// Arithmetic uses only numbers of the question and earlier results.
    pub grounded: bool,
    /// Claims may come out negative.
    pub negative_results: bool,
}

impl Default for WordProblemChecks {
    fn default() -> WordProblemChecks {
        WordProblemChecks {
            grounded: false,
            negative_results: true,
        }
    }
}

impl WordProblemChecks {
    /// The checks `prompts` turn on.
    pub fn of(prompts: &FormatPrompts) -> WordProblemChecks {
        WordProblemChecks {
            grounded: prompts.grounded,
            negative_results: prompts.negative_results,
        }
    }
}

impl StepChecker {
    /// The checker of the pipeline's step format (code steps get a sandbox
    /// with the pipeline's limits).
    pub fn for_pipeline(pipeline: &crate::config::PipelineConfig) -> anyhow::Result<StepChecker> {
        Ok(match pipeline.search.step_format {
            StepFormat::Text => StepChecker::text()
                .with_word_problem_checks(WordProblemChecks::of(&pipeline.formats.text)),
            StepFormat::Code => StepChecker::code(anyhow::Context::context(
                Sandbox::new(pipeline.sandbox.limits()),
                "code steps need the Python sandbox",
            )?),
        })
    }

    /// A checker for text steps.
    pub fn text() -> StepChecker {
        StepChecker {
            format: StepFormat::Text,
            sandbox: None,
            word_problem: WordProblemChecks::default(),
        }
    }

    /// The same checker, failing text steps that `checks` refuse.
    pub fn with_word_problem_checks(mut self, checks: WordProblemChecks) -> StepChecker {
        self.word_problem = checks;
        self
    }

    /// A checker for code steps, running them in `sandbox`.
    pub fn code(sandbox: Sandbox) -> StepChecker {
        StepChecker {
            format: StepFormat::Code,
            sandbox: Some(sandbox),
            word_problem: WordProblemChecks::default(),
        }
    }

    fn check_text(&self, step: &StepInput<'_>) -> Verdict {
        let arithmetic = check_arithmetic(step.text);
        let mut faults = Vec::new();
        if !arithmetic.holds() {
            faults.push(format!("false: {}", arithmetic.false_claims.join("; ")));
        }
        if self.word_problem.grounded {
            let known = std::iter::once(step.question)
                .chain(step.path.iter().copied())
                .collect::<Vec<_>>()
                .join("\n");
            let invented = ungrounded_operands(step.text, &arithmetic, &known);
            if !invented.is_empty() {
                faults.push(format!("not in the question: {}", invented.join("; ")));
            }
        }
        if !self.word_problem.negative_results {
            let negative: Vec<String> = arithmetic
                .computed
                .iter()
                .filter(|c| c.value < 0.0)
                .map(|c| c.expression.clone())
                .collect();
            if !negative.is_empty() {
                faults.push(format!("negative: {}", negative.join("; ")));
            }
        }
        Verdict {
            check: (arithmetic.claims > 0).then(|| {
                if faults.is_empty() {
                    StepCheck::Ok
                } else {
                    StepCheck::Error
                }
            }),
            output: (!faults.is_empty()).then(|| faults.join("; ")),
            ..Verdict::default()
        }
    }

    fn check_code(&self, step: &StepInput<'_>) -> Verdict {
        let Some(code) = code_block(step.text) else {
            // A step in words: its arithmetic can still be checked.
            return self.check_text(step);
        };
        let sandbox = self.sandbox.as_ref().expect("code steps have a sandbox");
        let run = sandbox.run(&program(&step.path_code, &code));
        let (check, output) = match run.error() {
            None => (StepCheck::Ok, run.stdout.trim_end().to_owned()),
            Some(error) => (StepCheck::Error, error),
        };
        Verdict {
            check: Some(check),
            code: Some(code),
            // The exports write the same block after the step (see evolve-export).
            context: Some(output_block(&output)),
            output: Some(output),
            ..Verdict::default()
        }
    }
}

impl StepVerifier for StepChecker {
    fn check(&self, step: &StepInput<'_>) -> Verdict {
        let mut verdict = match self.format {
            StepFormat::Text => self.check_text(step),
            StepFormat::Code => self.check_code(step),
        };
        verdict.answer = extract_final_answer(step.text).map(|a| last_side(&a));
        verdict.is_final = verdict.answer.is_some();
        if verdict.answer.is_none() && (step.end != End::Delimiter || step.last) {
            // The solution ends here anyway: take what it last computed.
            verdict.answer = extract_answer(step.text)
                .or_else(|| verdict.output.as_deref().and_then(extract_answer))
                .map(|a| last_side(&a));
        }
        verdict
    }

    fn grade(&self, answer: &str, gold: &str) -> bool {
        answers_equal(answer, gold)
    }
}

/// "10 * 35 = 350" states 350: the answer is what follows the last `=`.
fn last_side(answer: &str) -> String {
    match answer.rsplit_once('=') {
        Some((_, right)) if !right.trim().is_empty() => right.trim().to_owned(),
        _ => answer.to_owned(),
    }
}

/// The Python code of a step: its first fenced block (```python or bare ```).
pub fn code_block(step: &str) -> Option<String> {
    let start = step.find("```")?;
    let after = &step[start + 3..];
    let body_start = after.find('\n')? + 1;
    let language = after[..body_start].trim();
    if !(language.is_empty() || language.eq_ignore_ascii_case("python") || language == "py") {
        return None;
    }
    let body = &after[body_start..];
    let body = match body.find("```") {
        Some(end) => &body[..end],
        None => body,
    };
    let code = body.trim_end();
    (!code.trim().is_empty()).then(|| code.to_owned())
}

/// The program run for a step: the path's earlier code with its output
/// suppressed (it was shown after those steps), then the step's own code.
pub fn program(earlier: &[&str], code: &str) -> String {
    if earlier.is_empty() {
        return format!("{code}\n");
    }
    let mut program = String::from(
        "import sys as _evolve_sys, io as _evolve_io\n_evolve_out = _evolve_sys.stdout\n_evolve_sys.stdout = _evolve_io.StringIO()\n",
    );
    for block in earlier {
        program.push_str(block);
        program.push('\n');
    }
    program.push_str("_evolve_sys.stdout = _evolve_out\n");
    program.push_str(code);
    program.push('\n');
    program
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input<'a>(text: &'a str, path_code: Vec<&'a str>, end: End) -> StepInput<'a> {
        StepInput {
            question: "q",
            path: Vec::new(),
            path_code,
            text,
            end,
            last: false,
        }
    }

    #[test]
    fn text_steps_check_arithmetic_and_find_answers() {
        let checker = StepChecker::text();
        let v = checker.check(&input(
            "He has 3 * 4 = 12 apples.\n\n",
            vec![],
            End::Delimiter,
        ));
        assert_eq!(v.check, Some(StepCheck::Ok));
        assert!(!v.is_final);
        let v = checker.check(&input(
            "He has 3 * 4 = 13 apples.\n\n",
            vec![],
            End::Delimiter,
        ));
        assert_eq!(v.check, Some(StepCheck::Error));
        assert!(v.output.unwrap().contains("3 * 4 = 13"));
        let v = checker.check(&input("The answer is \\boxed{10}.", vec![], End::EndOfTurn));
        assert!(v.is_final);
        assert_eq!(v.answer.as_deref(), Some("10"));
        assert_eq!(v.check, None);
        let v = checker.check(&input(
            "So the answer is 10 * 35 = 350.",
            vec![],
            End::EndOfTurn,
        ));
        assert_eq!(v.answer.as_deref(), Some("350"));
        // A solution cut off by the token limit is graded on what it computed last.
        let v = checker.check(&input("so 7 apples remain and then", vec![], End::Length));
        assert_eq!(v.answer.as_deref(), Some("7"));
        assert!(!v.is_final);
    }

    #[test]
    fn word_problem_checks_fail_invented_numbers_and_negative_counts() {
        let question = "Henry had 11 dollars. He got 18 more but spent 10 on a game.";
        let step = |text: &'static str, path: Vec<&'static str>| StepInput {
            question,
            path,
            path_code: vec![],
            text,
            end: End::Delimiter,
            last: false,
        };
        let plain = StepChecker::text();
        let strict = StepChecker::text().with_word_problem_checks(WordProblemChecks {
            grounded: true,
            negative_results: false,
        });
        let invented = step("Now we have 19 + 18 = 37.\n\n", vec![]);
        assert_eq!(plain.check(&invented).check, Some(StepCheck::Ok));
        let v = strict.check(&invented);
        assert_eq!(v.check, Some(StepCheck::Error));
        assert_eq!(
            v.output.as_deref(),
            Some("not in the question: 19 in 19 + 18")
        );
        let negative = step("He spent 10 - 18 = -8 dollars.\n\n", vec![]);
        assert_eq!(plain.check(&negative).check, Some(StepCheck::Ok));
        let v = strict.check(&negative);
        assert_eq!(v.check, Some(StepCheck::Error));
        assert_eq!(v.output.as_deref(), Some("negative: 10 - 18"));
        // Results of earlier steps are the next step's numbers.
        let first = "He has 11 + 18 = 29 dollars.\n\n";
        assert_eq!(
            strict.check(&step(first, vec![])).check,
            Some(StepCheck::Ok)
        );
        let next = step("He has 29 - 10 = 19 left.\n\n", vec![first]);
        assert_eq!(strict.check(&next).check, Some(StepCheck::Ok));
        let wrong = step("He has 29 - 10 = 18 left.\n\n", vec![first]);
        assert_eq!(
            strict.check(&wrong).output.as_deref(),
            Some("false: 29 - 10 = 18 (29 - 10 is 19)")
        );
    }

    #[test]
    fn code_blocks() {
        assert_eq!(
            code_block("# add\n```python\nx = 1 + 2\nprint(x)\n```\n").as_deref(),
            Some("x = 1 + 2\nprint(x)")
        );
        assert_eq!(
            code_block("```\nprint(1)\n```").as_deref(),
            Some("print(1)")
        );
        assert_eq!(code_block("no code here"), None);
        assert_eq!(code_block("```text\nhello\n```"), None);
        assert_eq!(
            code_block("```python\nprint(2)").as_deref(),
            Some("print(2)")
        );
    }

    #[test]
    fn code_steps_run_with_the_path_code_and_show_only_their_output() {
        let limits = evolve_verify::sandbox::Limits {
            cpu_seconds: 1,
            ..Default::default()
        };
        let checker = StepChecker::code(Sandbox::new(limits).unwrap());
        let v = checker.check(&input(
            "# left\n```python\nleft = apples - 2\nprint(left)\n```\n",
            vec!["apples = 3 * 4\nprint(apples)"],
            End::Delimiter,
        ));
        assert_eq!(v.check, Some(StepCheck::Ok));
        assert_eq!(v.output.as_deref(), Some("10"));
        assert_eq!(v.context.as_deref(), Some("```output\n10\n```\n\n"));
        let v = checker.check(&input(
            "# oops\n```python\nprint(bananas)\n```\n",
            vec![],
            End::Delimiter,
        ));
        assert_eq!(v.check, Some(StepCheck::Error));
        assert!(v.output.unwrap().contains("NameError"));
        let v = checker.check(&input("So 3 + 4 = 8 left.\n\n", vec![], End::Delimiter));
        assert_eq!(v.check, Some(StepCheck::Error));
        let v = checker.check(&input(
            "# forever\n```python\nwhile True: pass\n```\n",
            vec![],
            End::Delimiter,
        ));
        assert_eq!(v.check, Some(StepCheck::Error));
    }
}
