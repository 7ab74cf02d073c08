//! `evolve eval`: strategies over a dataset, graded and stored, a progress bar
//! and a summary per strategy; `--calibrate` learns auto's table. Also the
//! set-up `evolve solve` shares: the pipeline, the policy engine.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use evolve_lm::Engine;
use evolve_pipeline::{
    CalibrationJob, EvalJob, EvalProgress, PipelineConfig, QuestionReport, calibration_strategies,
    run_calibration, run_eval,
};
use evolve_strategy::Strategy;
use indicatif::ProgressBar;

use super::{Output, model_path, open, weight_format};
use crate::cli::{EvalArgs, ModelArgs, TestTimeArgs};

/// The pipeline with the command line's overrides, and the policy engine.
pub fn set_up(args: &TestTimeArgs) -> anyhow::Result<(PipelineConfig, Engine)> {
    let mut pipeline = PipelineConfig::load(&args.pipeline)?;
    if let Some(t) = args.temperature {
        pipeline.search.temperature = t;
    }
    if let Some(seed) = args.seed {
        pipeline.search.seed = seed;
    }
    if let Some(depth) = args.max_depth {
        pipeline.search.max_depth = depth;
    }
    if let Some(tokens) = args.max_step_tokens {
        pipeline.search.max_step_tokens = tokens;
    }
    pipeline
        .validate()
        .context("checking the pipeline's settings")?;
    let model = ModelArgs {
        model: args.policy.clone(),
        weights: args.weights.clone(),
    };
    let path = model_path(&model)?;
    let engine = Engine::load(&path, weight_format(&model)?, &candle_core::Device::Cpu)
        .with_context(|| format!("loading {}", path.display()))?;
    Ok((pipeline, engine))
}

/// Parses strategy names, naming the bad one.
pub fn parse_strategy(name: &str) -> anyhow::Result<Strategy> {
    Ok(name.parse::<Strategy>()?)
}

pub async fn run(db: &Path, args: EvalArgs, out: Output) -> anyhow::Result<ExitCode> {
    let strategies: Vec<Strategy> = args
        .strategy
        .iter()
        .map(|s| parse_strategy(s))
        .collect::<anyhow::Result<_>>()?;
    if let Some(s) = strategies.iter().find(|s| s.needs_scorer())
        && args.test_time.ppm.is_none()
        && !args.calibrate
    {
        anyhow::bail!("{s} scores steps: give it a PPM with --ppm");
    }
    let store = open(db).await?;
    let (pipeline, engine) = set_up(&args.test_time)?;
    if args.calibrate {
        return calibrate(&store, &engine, &pipeline, &args, out).await;
    }
    let mut rows = Vec::new();
    for strategy in strategies {
        out.status(format!(
            "evaluating {strategy} on {}{} with {}{}",
            args.dataset,
            args.split
                .as_deref()
                .map(|s| format!("/{s}"))
                .unwrap_or_default(),
            engine.path().display(),
            args.test_time
                .ppm
                .as_deref()
                .map(|p| format!(" and PPM {}", p.display()))
                .unwrap_or_default()
        ));
        let job = EvalJob {
            dataset: args.dataset.clone(),
            split: args.split.clone(),
            limit: args.limit,
            strategy,
            ppm: args.test_time.ppm.clone(),
        };
        let mut progress = Progress::new(out, "questions");
        let summary = run_eval(&store, &engine, &pipeline, &job, &mut progress).await;
        progress.bar.finish_and_clear();
        let summary = summary?;
        let t = &summary.totals;
        out.status(format!(
            "{strategy}: {} graded now, {} by an earlier run{}; {:.1} tokens/s",
            summary.graded,
            summary.already,
            if summary.skipped > 0 {
                format!(", {} without a gold answer left out", summary.skipped)
            } else {
                String::new()
            },
            summary.tokens_per_second
        ));
        rows.push(vec![
            t.strategy.clone(),
            t.questions.to_string(),
            format!("{}", t.correct),
            format!("{:.1}%", 100.0 * t.accuracy()),
            format!("{:.0}", t.tokens_per_question()),
            format!("{:.1}", t.seconds / t.questions.max(1) as f64),
            format!("{:.0}", summary.tokens_per_second),
            t.id.to_string(),
        ]);
    }
    print!(
        "{}",
        crate::table::render(
            &[
                "strategy",
                "questions",
                "correct",
                "accuracy",
                "tokens/question",
                "s/question",
                "tokens/s",
                "evaluation id",
            ]
            .map(String::from),
            &rows,
            &[false, true, true, true, true, true, true, true],
        )
    );
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

async fn calibrate(
    store: &evolve_store::Store,
    engine: &Engine,
    pipeline: &PipelineConfig,
    args: &EvalArgs,
    out: Output,
) -> anyhow::Result<ExitCode> {
    let ppm = args
        .test_time
        .ppm
        .clone()
        .context("--calibrate bins questions by the PPM's scores: give it --ppm")?;
    let names: Vec<String> = args
        .budgets
        .iter()
        .flat_map(|&b| calibration_strategies(b))
        .map(|s| s.to_string())
        .collect();
    out.status(format!(
        "calibrating auto on {} (budgets {:?}; strategies {})",
        args.dataset,
        args.budgets,
        names.join(", ")
    ));
    let job = CalibrationJob {
        dataset: args.dataset.clone(),
        split: args.split.clone(),
        limit: args.limit,
        budgets: args.budgets.clone(),
        probe: args.probe,
        ppm,
    };
    let mut progress = Progress::new(out, "questions");
    let table = run_calibration(store, engine, pipeline, &job, &mut progress).await;
    progress.bar.finish_and_clear();
    let table = table?;
    println!(
        "difficulty bins by mean PPM score of {} samples; cut points {:?}",
        table.probe,
        table
            .thresholds
            .iter()
            .map(|t| format!("{t:.3}"))
            .collect::<Vec<_>>()
    );
    let rows: Vec<Vec<String>> = table
        .rows
        .iter()
        .map(|row| {
            std::iter::once(row.budget.to_string())
                .chain(
                    row.strategies
                        .iter()
                        .zip(&row.accuracy)
                        .map(|(s, a)| format!("{s} ({:.0}%)", 100.0 * a)),
                )
                .collect()
        })
        .collect();
    print!(
        "{}",
        crate::table::render(
            &[
                "budget",
                "bin 0 (easiest)",
                "bin 1",
                "bin 2",
                "bin 3",
                "bin 4 (hardest)"
            ]
            .map(String::from),
            &rows,
            &[true],
        )
    );
    Ok(ExitCode::SUCCESS)
}

/// A progress bar on a terminal; a line per question otherwise.
pub struct Progress {
    pub bar: ProgressBar,
    out: Output,
    started: Instant,
    todo: usize,
    done: usize,
    correct: usize,
    tokens: usize,
}

impl Progress {
    pub fn new(out: Output, unit: &str) -> Progress {
        Progress {
            bar: super::count_bar(out, unit),
            out,
            started: Instant::now(),
            todo: 0,
            done: 0,
            correct: 0,
            tokens: 0,
        }
    }

    fn message(&self) -> String {
        let seconds = self.started.elapsed().as_secs_f64().max(1e-9);
        format!(
            "correct {}/{} ({:.0}%)  {:.0} tok/s",
            self.correct,
            self.done,
            100.0 * self.correct as f64 / self.done.max(1) as f64,
            self.tokens as f64 / seconds
        )
    }
}

impl EvalProgress for Progress {
    fn start(&mut self, todo: usize, done: usize) {
        self.todo = todo;
        self.bar.set_length(todo as u64);
        if done > 0 {
            self.out.status(format!(
                "{done} questions already graded by an earlier run; skipping them"
            ));
        }
        self.bar.enable_steady_tick(Duration::from_millis(500));
    }

    fn question(&mut self, report: &QuestionReport) {
        tracing::info!(
            problem = report.problem_id,
            strategy = %report.strategy,
            answer = report.answer.as_deref().unwrap_or(""),
            correct = report.correct,
            tokens = report.tokens,
            seconds = report.seconds,
            "question graded"
        );
        self.done += 1;
        self.correct += usize::from(report.correct);
        self.tokens += report.tokens;
        self.bar.inc(1);
        self.bar.set_message(self.message());
        if self.bar.is_hidden() {
            self.out.status(format!(
                "[{}/{}] problem {}: {} ({}), {} tokens, {:.1} s  |  {}",
                self.done,
                self.todo,
                report.problem_id,
                if report.correct { "correct" } else { "wrong" },
                report.answer.as_deref().unwrap_or("no answer"),
                report.tokens,
                report.seconds,
                self.message(),
            ));
        }
    }
}
