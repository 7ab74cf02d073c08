//! `evolve search`: MCTS trees for a dataset's problems, stored as they finish,
//! with a progress bar and a summary.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use evolve_lm::Engine;
use evolve_pipeline::{
    PipelineConfig, SearchJob, SearchProgress, SearchSummary, TreeReport, run_search,
};
use evolve_store::Problem;
use indicatif::ProgressBar;

use super::{Output, model_path, open, weight_format};
use crate::cli::SearchArgs;

pub async fn run(db: &Path, args: SearchArgs, out: Output) -> anyhow::Result<ExitCode> {
    let mut pipeline = PipelineConfig::load(&args.pipeline)?;
    apply_overrides(&mut pipeline, &args)?;
    let store = open(db).await?;
    let path = model_path(&args.model)?;
    let engine = Engine::load(
        &path,
        weight_format(&args.model)?,
        &candle_core::Device::Cpu,
    )
    .with_context(|| format!("loading {}", path.display()))?;
    let s = &pipeline.search;
    out.status(format!(
        "searching {} with {} ({} steps, {} rollouts x {} candidates, c = {}), round {} of pipeline {}",
        args.dataset,
        path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default(),
        s.step_format,
        s.rollouts,
        s.candidates,
        s.c,
        args.round,
        pipeline.name
    ));
    let job = SearchJob {
        dataset: args.dataset.clone(),
        split: args.split.clone(),
        skip: 0,
        limit: args.limit,
        shuffle: args.shuffle,
        revisit: 0,
        round: args.round,
        ppm: args.ppm.clone(),
        // A rerun with a smaller --limit keeps the trees it no longer reaches.
        drop_outside_pool: false,
    };
    let mut progress = Progress::new(out);
    let summary = run_search(&store, &engine, &pipeline, &job, &mut progress).await;
    progress.bar.finish_and_clear();
    let summary = summary?;
    print_summary(&summary, &pipeline, args.round);
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

fn apply_overrides(pipeline: &mut PipelineConfig, args: &SearchArgs) -> anyhow::Result<()> {
    let s = &mut pipeline.search;
    if let Some(format) = &args.step_format {
        s.step_format = format.parse().map_err(|e: String| anyhow::anyhow!(e))?;
    }
    macro_rules! set {
        ($($field:ident),*) => { $(if let Some(v) = args.$field { s.$field = v; })* };
    }
    set!(
        rollouts,
        candidates,
        c,
        max_depth,
        max_step_tokens,
        trees_in_flight,
        temperature,
        seed
    );
    pipeline.validate().context("checking the search settings")
}

/// A progress bar on a terminal; a line per tree otherwise (logs, CI).
pub(super) struct Progress {
    pub(super) bar: ProgressBar,
    out: Output,
    started: Instant,
    todo: usize,
    done: usize,
    solved: usize,
    tokens: usize,
}

impl Progress {
    pub(super) fn new(out: Output) -> Progress {
        Progress {
            bar: super::count_bar(out, "problems"),
            out,
            started: Instant::now(),
            todo: 0,
            done: 0,
            solved: 0,
            tokens: 0,
        }
    }

    fn message(&self) -> String {
        let seconds = self.started.elapsed().as_secs_f64().max(1e-9);
        format!(
            "solved {}/{} ({:.0}%)  {:.0} tok/s",
            self.solved,
            self.done,
            100.0 * self.solved as f64 / self.done.max(1) as f64,
            self.tokens as f64 / seconds
        )
    }
}

impl SearchProgress for Progress {
    fn start(&mut self, todo: usize, stored: usize) {
        self.todo = todo;
        self.bar.set_length(todo as u64);
        if stored > 0 {
            self.out.status(format!(
                "{stored} problems already have a tree in this round; skipping them"
            ));
        }
        self.bar.enable_steady_tick(Duration::from_millis(500));
    }

    fn tokens(&mut self, tokens: usize) {
        self.tokens += tokens;
        self.bar.set_message(self.message());
    }

    fn tree(&mut self, report: &TreeReport) {
        tracing::info!(
            problem = report.problem_id,
            solved = report.solved,
            nodes = report.nodes,
            tokens = report.tokens,
            seconds = report.seconds,
            status = report.status,
            "tree stored"
        );
        self.done += 1;
        self.solved += usize::from(report.solved);
        self.bar.inc(1);
        self.bar.set_message(self.message());
        if self.bar.is_hidden() {
            let elapsed = self.started.elapsed().as_secs_f64();
            let eta = elapsed / self.done as f64 * (self.todo - self.done) as f64;
            self.out.status(format!(
                "[{}/{}] problem {}: {}, {} nodes, {} tokens, {:.1} s  |  {}  ETA {:.0} s",
                self.done,
                self.todo,
                report.problem_id,
                if report.solved {
                    "solved"
                } else {
                    "not solved"
                },
                report.nodes,
                report.tokens,
                report.seconds,
                self.message(),
                eta
            ));
        }
    }

    fn skipped(&mut self, problem: &Problem, reason: &str) {
        tracing::warn!(problem = problem.id, external_id = %problem.external_id, reason, "problem skipped");
        self.bar.suspend(|| {
            self.out.status(format!(
                "warning: skipping problem {} ({}): {reason}",
                problem.id, problem.external_id
            ))
        });
    }
}

fn print_summary(summary: &SearchSummary, pipeline: &PipelineConfig, round: i64) {
    let n = summary.searched.max(1) as f64;
    println!(
        "round {round} of pipeline {} (round id {}): {} problems searched, {} already stored, {} skipped",
        pipeline.name, summary.round_id, summary.searched, summary.already_stored, summary.skipped
    );
    println!(
        "solve rate          {}/{} = {:.1}% (problems with at least one correct leaf)",
        summary.solved,
        summary.searched,
        100.0 * summary.solve_rate()
    );
    println!(
        "generated tokens    {:.0} per problem ({} in all, {:.1} tokens/s)",
        summary.tokens as f64 / n,
        summary.tokens,
        summary.tokens as f64 / summary.wall_seconds.max(1e-9)
    );
    println!(
        "time                {:.1} s per problem of wall time ({:.1} s per tree while {} grow at once); {:.1} problems/hour",
        summary.wall_seconds / n,
        summary.tree_seconds / n,
        pipeline.search.trees_in_flight,
        summary.problems_per_hour()
    );
    println!(
        "prefix-cache hit    {:.1}% of context tokens ({} of {}) came from cached keys/values",
        100.0 * summary.policy.cache_hit_rate(),
        summary.policy.cached_tokens,
        summary.policy.context_tokens
    );
    println!(
        "step checks         {} checked, {} failed{}",
        summary.checked_steps,
        summary.failed_steps,
        if summary.timed_out > 0 {
            format!("; {} trees timed out", summary.timed_out)
        } else {
            String::new()
        }
    );
    if summary.ppm_scored > 0 {
        println!(
            "PPM                 {} new steps scored in {:.1} s ({:.0} ms a step); their values started from the scores",
            summary.ppm_scored,
            summary.ppm_seconds,
            1000.0 * summary.ppm_seconds / summary.ppm_scored as f64
        );
    }
}
