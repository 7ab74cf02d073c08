//! `evolve grade`: grade any model's responses with evolve's answer checker.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use serde_json::Value;

use super::Output;
use crate::cli::GradeArgs;

pub fn run(args: GradeArgs, out: Output) -> anyhow::Result<ExitCode> {
    let (name, reader): (String, Box<dyn Read>) = match &args.input {
        Some(path) if path.as_os_str() != "-" => (
            path.display().to_string(),
            Box::new(
                std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?,
            ),
        ),
        _ => ("<stdin>".to_owned(), Box::new(std::io::stdin())),
    };

    // Grade everything before writing anything, so a bad line leaves no half-written output.
    let mut graded = Vec::new();
    let (mut total, mut correct) = (0usize, 0usize);
    for (index, line) in BufReader::new(reader).lines().enumerate() {
        let at = || format!("{name}:{}", index + 1);
        let line = line.with_context(|| format!("reading {}", at()))?;
        if line.trim().is_empty() {
            continue;
        }
        let mut row: serde_json::Map<String, Value> = serde_json::from_str(&line)
            .with_context(|| format!("{}: expected a JSON object", at()))?;
        let response = text_field(&row, "response").with_context(at)?;
        let gold = text_field(&row, "gold").with_context(at)?;
        let grade = evolve_verify::grade(&response, &gold);
        total += 1;
        correct += usize::from(grade.correct);
        row.insert(
            "extracted".into(),
            grade.answer.map(Value::String).unwrap_or(Value::Null),
        );
        row.insert("correct".into(), Value::Bool(grade.correct));
        graded.push(Value::Object(row).to_string());
    }

    let mut text = graded.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    match &args.output {
        Some(path) => write_atomically(path, &text)?,
        None => std::io::stdout()
            .lock()
            .write_all(text.as_bytes())
            .context("writing standard output")?,
    }
    let accuracy = if total > 0 {
        100.0 * correct as f64 / total as f64
    } else {
        0.0
    };
    out.status(format!(
        "graded {total} responses: {correct} correct ({accuracy:.1}%)"
    ));
    Ok(ExitCode::SUCCESS)
}

/// A field that must be present: text as is, a number as written.
fn text_field(row: &serde_json::Map<String, Value>, field: &str) -> anyhow::Result<String> {
    match row.get(field) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(other) => bail!("field {field:?} should be text or a number, found {other}"),
        None => bail!("missing field {field:?}"),
    }
}

fn write_atomically(path: &PathBuf, text: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp-evolve");
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
}
