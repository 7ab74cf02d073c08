//! `evolve solve`: one question, one strategy; the answer and the reasoning
//! behind it, and with `--show-tree` every candidate the strategy weighed.

use std::process::ExitCode;

use evolve_pipeline::TestTime;

use super::Output;
use super::eval::{parse_strategy, set_up};
use crate::cli::SolveArgs;

pub fn run(args: SolveArgs, out: Output) -> anyhow::Result<ExitCode> {
    let strategy = parse_strategy(&args.strategy)?;
    if strategy.needs_scorer() && args.test_time.ppm.is_none() {
        anyhow::bail!("{strategy} scores steps: give it a PPM with --ppm");
    }
    if matches!(strategy, evolve_strategy::Strategy::Auto { .. }) {
        anyhow::bail!(
            "auto needs its calibration table from the database: use `evolve eval --strategy auto@B`"
        );
    }
    let (pipeline, engine) = set_up(&args.test_time)?;
    out.status(format!(
        "solving with {strategy} ({})",
        engine.path().display()
    ));
    let mut test_time = TestTime::new(&engine, &pipeline, args.test_time.ppm.as_deref())?;
    let outcome = test_time.solve(&strategy, &args.question, 0, None)?;
    let grade = |answer: Option<&str>| -> &'static str {
        match (&args.gold, answer) {
            (Some(gold), Some(a)) if test_time.grade(a, gold) => "  (correct)",
            (Some(_), _) => "  (wrong)",
            (None, _) => "",
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&outcome)?);
        return Ok(ExitCode::SUCCESS);
    }
    if args.show_tree {
        for (i, candidate) in outcome.candidates.iter().enumerate() {
            let mark = if Some(i) == outcome.chosen { "*" } else { " " };
            println!(
                "{mark} candidate {} of {}: answer {}{}, score {}, {} tokens",
                i + 1,
                outcome.candidates.len(),
                candidate.answer.as_deref().unwrap_or("none"),
                grade(candidate.answer.as_deref()),
                candidate
                    .score
                    .map(|s| format!("{s:+.3}"))
                    .unwrap_or_else(|| "-".into()),
                candidate.tokens
            );
            for (depth, step) in candidate.steps.iter().enumerate() {
                let text = step.trim_end().replace('\n', "\n  |     ");
                println!("  |- {:>2}. {text}", depth + 1);
            }
            println!();
        }
    } else {
        println!("{}", outcome.response().trim_end());
        println!();
    }
    println!(
        "answer: {}{}",
        outcome.answer.as_deref().unwrap_or("(none stated)"),
        grade(outcome.answer.as_deref())
    );
    let c = &outcome.compute;
    println!(
        "{}: {} candidates, {} tokens generated in {} policy calls, {} steps scored, {:.1} s",
        outcome.strategy,
        outcome.candidates.len(),
        c.generated_tokens,
        c.policy_calls,
        c.scored,
        c.seconds
    );
    Ok(ExitCode::SUCCESS)
}
