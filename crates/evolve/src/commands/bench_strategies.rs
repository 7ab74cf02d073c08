//! `evolve bench strategies`: what each test-time strategy costs on real
//! questions, and whether k samples share their prompt (cost well under k
//! single decodes).

use std::path::Path;
use std::process::ExitCode;

use evolve_pipeline::TestTime;
use evolve_strategy::Strategy;

use super::eval::{parse_strategy, set_up};
use super::open;
use crate::cli::BenchStrategiesArgs;
use crate::table;

pub async fn run(db: &Path, args: BenchStrategiesArgs) -> anyhow::Result<ExitCode> {
    let baseline = Strategy::Majority { k: 1 };
    let mut strategies = vec![baseline];
    for name in &args.strategy {
        let s = parse_strategy(name)?;
        if !strategies.contains(&s) {
            strategies.push(s);
        }
    }
    if let Some(s) = strategies.iter().find(|s| s.needs_scorer())
        && args.test_time.ppm.is_none()
    {
        anyhow::bail!("{s} scores steps: give it a PPM with --ppm");
    }
    let store = open(db).await?;
    let mut problems = store.problems(&args.dataset, None).await?;
    store.close().await;
    if problems.is_empty() {
        anyhow::bail!(
            "dataset {} has no problems: import it with `evolve data import {}`",
            args.dataset,
            args.dataset
        );
    }
    problems.truncate(args.questions.max(1));
    let (pipeline, engine) = set_up(&args.test_time)?;
    let mut test_time = TestTime::new(&engine, &pipeline, args.test_time.ppm.as_deref())?;
    println!(
        "{} questions of {} with {} ({} threads)",
        problems.len(),
        args.dataset,
        engine.path().display(),
        rayon::current_num_threads()
    );
    let mut rows = Vec::new();
    let mut baseline_seconds = None;
    for strategy in &strategies {
        let (mut tokens, mut calls, mut seconds, mut correct) = (0usize, 0usize, 0.0f64, 0usize);
        for problem in &problems {
            let outcome = test_time.solve(strategy, &problem.question, problem.id as u64, None)?;
            tokens += outcome.compute.generated_tokens;
            calls += outcome.compute.policy_calls;
            seconds += outcome.compute.seconds;
            correct += usize::from(
                outcome
                    .answer
                    .as_deref()
                    .is_some_and(|a| test_time.grade(a, &problem.gold_answer)),
            );
        }
        let n = problems.len() as f64;
        let per_question = seconds / n;
        if *strategy == baseline {
            baseline_seconds = Some(per_question);
        }
        let samples = match *strategy {
            Strategy::Majority { k } if k > 1 => Some(k),
            Strategy::BestOfN { n, .. } => Some(n),
            _ => None,
        };
        let against = match (samples, baseline_seconds) {
            (Some(k), Some(one)) if one > 0.0 => format!("{:.2}", per_question / (k as f64 * one)),
            _ => "-".into(),
        };
        rows.push(vec![
            strategy.to_string(),
            format!("{correct}/{}", problems.len()),
            format!("{:.0}", tokens as f64 / n),
            format!("{:.1}", calls as f64 / n),
            format!("{per_question:.2}"),
            format!("{:.1}", tokens as f64 / seconds.max(1e-9)),
            against,
        ]);
    }
    print!(
        "{}",
        table::render(
            &[
                "strategy",
                "correct",
                "tokens/question",
                "policy calls/question",
                "s/question",
                "tokens/s",
                "time / (k x maj@1)",
            ]
            .map(String::from),
            &rows,
            &[false, true, true, true, true, true, true],
        )
    );
    Ok(ExitCode::SUCCESS)
}
