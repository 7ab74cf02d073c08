//! `evolve bench strategies`: what each test-time strategy costs on real
//! questions, whether k samples share their prompt (cost well under k single
//! decodes), and what solving questions in shared batches (as `evolve eval`
//! does) saves over one at a time.

use std::path::Path;
use std::process::ExitCode;

use evolve_pipeline::{TestTime, questions_per_batch};
use evolve_strategy::{Outcome, Strategy};

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
        let mut alone = Totals::default();
        for problem in &problems {
            let outcome = test_time.solve(strategy, &problem.question, problem.id as u64, None)?;
            alone.add(&test_time, &outcome, &problem.gold_answer);
        }
        let Totals {
            tokens,
            calls,
            seconds,
            correct,
        } = alone;
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
            (Some(k), Some(one)) if one > 0.0 => {
                format!("{:.2}", per_question / (k as f64 * one))
            }
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
        // What `evolve eval` does: the questions' solutions in shared batches.
        let per_batch = questions_per_batch(strategy).min(problems.len());
        if per_batch > 1 {
            let mut batched = Totals::default();
            for batch in problems.chunks(per_batch) {
                let questions: Vec<(&str, u64)> = batch
                    .iter()
                    .map(|p| (p.question.as_str(), p.id as u64))
                    .collect();
                let outcomes = test_time.solve_many(strategy, &questions, None)?;
                for (problem, outcome) in batch.iter().zip(&outcomes) {
                    batched.add(&test_time, outcome, &problem.gold_answer);
                }
            }
            let batched_per_question = batched.seconds / n;
            rows.push(vec![
                format!("{strategy}, {per_batch} questions at once"),
                format!("{}/{}", batched.correct, problems.len()),
                format!("{:.0}", batched.tokens as f64 / n),
                format!("{:.1}", batched.calls as f64 / n),
                format!("{batched_per_question:.2}"),
                format!("{:.1}", batched.tokens as f64 / batched.seconds.max(1e-9)),
                format!("{:.2}", batched_per_question / per_question.max(1e-9)),
            ]);
        }
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
                "time ratio",
            ]
            .map(String::from),
            &rows,
            &[false, true, true, true, true, true, true],
        )
    );
    println!(
        "time ratio: a row of k samples against k x maj@1; a batched row against the same strategy one question at a time"
    );
    Ok(ExitCode::SUCCESS)
}

/// A strategy's totals over the benchmark's questions.
#[derive(Default)]
struct Totals {
    tokens: usize,
    calls: usize,
    seconds: f64,
    correct: usize,
}

impl Totals {
    fn add(&mut self, test_time: &TestTime<'_>, outcome: &Outcome, gold: &str) {
        self.tokens += outcome.compute.generated_tokens;
        self.calls += outcome.compute.policy_calls;
        self.seconds += outcome.compute.seconds;
        self.correct += usize::from(
            outcome
                .answer
                .as_deref()
                .is_some_and(|a| test_time.grade(a, gold)),
        );
    }
}
