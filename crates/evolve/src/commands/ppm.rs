//! `evolve ppm score`: a PPM's scores for steps or pairs, JSONL in and out.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use anyhow::{Context, bail};
use evolve_train::Ppm;

use super::Output;
use crate::cli::PpmScoreArgs;

pub fn score(args: PpmScoreArgs, out: Output) -> anyhow::Result<ExitCode> {
    let ppm = Ppm::load(&args.ppm)?;
    let tokenizer = ppm.backbone.text()?.0.clone();
    let (name, input): (String, Box<dyn BufRead>) = match &args.file {
        Some(path) if path.as_os_str() != "-" => (
            path.display().to_string(),
            Box::new(std::io::BufReader::new(
                std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?,
            )),
        ),
        _ => ("standard input".into(), Box::new(std::io::stdin().lock())),
    };
    let mut rows: Vec<serde_json::Map<String, serde_json::Value>> = Vec::new();
    let mut sequences: Vec<Vec<u32>> = Vec::new();
    for (n, line) in input.lines().enumerate() {
        let at = || format!("{name} line {}", n + 1);
        let line = line.with_context(at)?;
        if line.trim().is_empty() {
            continue;
        }
        let row: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&line).with_context(|| format!("{}: not a JSON object", at()))?;
        let text = |key: &str| row.get(key).and_then(|v| v.as_str());
        let Some(prompt) = text("prompt") else {
            bail!("{}: no \"prompt\" string", at());
        };
        let sides: Vec<&str> = match (text("step"), text("chosen"), text("rejected")) {
            (Some(step), _, _) => vec![step],
            (None, Some(chosen), Some(rejected)) => vec![chosen, rejected],
            _ => bail!("{}: needs \"step\", or \"chosen\" and \"rejected\"", at()),
        };
        for side in sides {
            sequences.push(
                tokenizer
                    .encode(&format!("{prompt}{side}"))
                    .with_context(at)?,
            );
        }
        rows.push(row);
    }
    let scores = ppm.score(&sequences, args.batch_size)?;
    let mut scores = scores.into_iter();
    let (mut pairs, mut right, mut labeled, mut agree) = (0, 0, 0, 0);
    let stdout = std::io::stdout();
    let mut writer = std::io::BufWriter::new(stdout.lock());
    for mut row in rows {
        if row.get("step").and_then(|v| v.as_str()).is_some() {
            let s = scores.next().expect("a score per sequence");
            if let Some(label) = row.get("label").and_then(|v| v.as_bool()) {
                labeled += 1;
                agree += usize::from((s > 0.0) == label);
            }
            row.insert("score".into(), serde_json::json!(s));
        } else {
            let (c, r) = (
                scores.next().expect("chosen"),
                scores.next().expect("rejected"),
            );
            pairs += 1;
            right += usize::from(c > r);
            row.insert("chosen_score".into(), serde_json::json!(c));
            row.insert("rejected_score".into(), serde_json::json!(r));
        }
        serde_json::to_writer(&mut writer, &row)?;
        writer.write_all(b"\n")?;
    }
    writer.flush()?;
    if pairs > 0 {
        out.status(format!(
            "{pairs} pairs: the chosen side scores higher in {right} ({:.1}%)",
            100.0 * right as f64 / pairs as f64
        ));
    }
    if labeled > 0 {
        out.status(format!(
            "{labeled} labeled steps: score > 0 agrees with the label in {agree} ({:.1}%)",
            100.0 * agree as f64 / labeled as f64
        ));
    }
    Ok(ExitCode::SUCCESS)
}
