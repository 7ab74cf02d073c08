//! Evaluation: a test-time strategy over a dataset's questions, graded against
//! the gold answers, each question stored as soon as it is done so that a
//! rerun with the same settings resumes; and the calibration `auto` chooses from.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use evolve_lm::{Engine, WeightFormat};
use evolve_search::StepScorer;
use evolve_store::{EvaluationSummary, NewEvaluation, NewModel, NewResult, Problem, Store};
use evolve_strategy::{AutoTable, CalibrationQuestion, Limits, Outcome, Solver, Strategy};
use sha2::{Digest, Sha256};

use crate::config::PipelineConfig;
use crate::model_hash::model_sha256;
use crate::policy::EnginePolicy;
use crate::ppm_scorer::PpmScorer;
use crate::steps::StepChecker;

/// The policy, step checks and PPM that strategies run on, set up as the
/// pipeline's search sets them up (prompts, step format, sampling).
pub struct TestTime<'e> {
    policy: EnginePolicy<'e>,
    checker: StepChecker,
    scorer: Option<PpmScorer>,
    limits: Limits,
    seed: u64,
}

impl<'e> TestTime<'e> {
    /// Strategies with `engine` as the policy and the PPM at `ppm`, if any.
    pub fn new(
        engine: &'e Engine,
        pipeline: &PipelineConfig,
        ppm: Option<&Path>,
    ) -> anyhow::Result<TestTime<'e>> {
        let settings = &pipeline.search;
        let prompts = pipeline.formats.get(settings.step_format).clone();
        let checker = StepChecker::for_pipeline(pipeline)?;
        let scorer = match ppm {
            Some(path) => Some(PpmScorer::load(path, WeightFormat::Auto, &prompts.system)?),
            None => None,
        };
        Ok(TestTime {
            policy: EnginePolicy::new(engine, prompts, settings.sampling()),
            checker,
            scorer,
            limits: Limits {
                max_depth: settings.max_depth,
                max_path_tokens: settings.max_path_tokens,
            },
            seed: settings.seed,
        })
    }

    /// Runs `strategy` on `question` (`key` seeds it; `table` serves `auto`).
    pub fn solve(
        &mut self,
        strategy: &Strategy,
        question: &str,
        key: u64,
        table: Option<&AutoTable>,
    ) -> anyhow::Result<Outcome> {
        Ok(self
            .solve_many(strategy, &[(question, key)], table)?
            .remove(0))
    }

    /// Runs `strategy` on each `(question, key)`; greedy, `maj` and `bon`
    /// decode the questions' solutions in shared batches.
    pub fn solve_many(
        &mut self,
        strategy: &Strategy,
        questions: &[(&str, u64)],
        table: Option<&AutoTable>,
    ) -> anyhow::Result<Vec<Outcome>> {
        let scorer = self.scorer.as_mut().map(|s| s as &mut dyn StepScorer);
        Ok(Solver::new(&mut self.policy, &self.checker)
            .with_scorer(scorer)
            .with_limits(self.limits)
            .with_seed(self.seed)
            .with_table(table)
            .solve_many(strategy, questions)?)
    }

    /// Whether `answer` equals `gold` (the grader of `evolve grade`).
    pub fn grade(&self, answer: &str, gold: &str) -> bool {
        evolve_search::StepVerifier::grade(&self.checker, answer, gold)
    }
}

/// Solutions decoded at once when an evaluation batches questions: enough
/// rows to keep the quantised kernels busy on a small CPU model.
const SOLUTIONS_IN_FLIGHT: usize = 32;

/// Questions solved together: sampling strategies fill
/// [`SOLUTIONS_IN_FLIGHT`]; the others (and `auto`) take one at a time.
pub fn questions_per_batch(strategy: &Strategy) -> usize {
    match *strategy {
        Strategy::Greedy | Strategy::Majority { .. } | Strategy::BestOfN { .. } => {
            (SOLUTIONS_IN_FLIGHT / strategy.budget().max(1)).max(1)
        }
        _ => 1,
    }
}

/// What to evaluate.
#[derive(Debug, Clone)]
pub struct EvalJob {
    /// Dataset name.
    pub dataset: String,
    /// `pool` or `held-out`; `None`: the held-out split of a split dataset, else all.
    pub split: Option<String>,
    /// The first N questions only.
    pub limit: Option<usize>,
    /// The strategy.
    pub strategy: Strategy,
    /// The PPM, for strategies that score steps.
    pub ppm: Option<PathBuf>,
}

/// One graded question, for progress reports.
#[derive(Debug, Clone, PartialEq)]
pub struct QuestionReport {
    /// The problem's id.
    pub problem_id: i64,
    /// The strategy that ran (for auto: its choice).
    pub strategy: String,
    /// The answer given.
    pub answer: Option<String>,
    /// Whether it was right.
    pub correct: bool,
    /// Tokens generated.
    pub tokens: usize,
    /// Seconds.
    pub seconds: f64,
}

/// Receives progress while an evaluation runs.
pub trait EvalProgress {
    /// `todo` questions will be graded; `done` already were.
    fn start(&mut self, _todo: usize, _done: usize) {}
    /// A question was graded.
    fn question(&mut self, _report: &QuestionReport) {}
}

/// What an evaluation run did.
#[derive(Debug, Clone)]
pub struct EvalSummary {
    /// The run's totals (questions graded by earlier runs included).
    pub totals: EvaluationSummary,
    /// Questions graded by this run.
    pub graded: usize,
    /// Questions an earlier run had graded.
    pub already: usize,
    /// Questions left out for having no gold answer.
    pub skipped: usize,
    /// Policy tokens per second of generation time over this run.
    pub tokens_per_second: f64,
}

/// The models of a run, registered.
struct Registered {
    policy_id: i64,
    policy_sha: String,
    ppm_id: Option<i64>,
    ppm_sha: Option<String>,
}

async fn register(
    store: &Store,
    engine: &Engine,
    ppm: Option<&Path>,
) -> anyhow::Result<Registered> {
    let register = async |role: &str, path: &Path| -> anyhow::Result<(i64, String)> {
        let sha = model_sha256(role, path)?;
        let id = store
            .register_model(&NewModel {
                role: role.into(),
                round: 0,
                name: path.file_stem().map(|s| s.to_string_lossy().into_owned()),
                path: path.display().to_string(),
                format: "gguf".into(),
                sha256: sha.clone(),
            })
            .await?;
        Ok((id, sha))
    };
    let (policy_id, policy_sha) = register("policy", engine.path()).await?;
    let (ppm_id, ppm_sha) = match ppm {
        Some(path) => {
            let (id, sha) = register("ppm", path).await?;
            (Some(id), Some(sha))
        }
        None => (None, None),
    };
    Ok(Registered {
        policy_id,
        policy_sha,
        ppm_id,
        ppm_sha,
    })
}

/// The questions of `dataset` to evaluate: `split`, or the held-out split of
/// a split dataset, or all; the first `limit`.
async fn questions(
    store: &Store,
    dataset: &str,
    split: Option<&str>,
    limit: Option<usize>,
) -> anyhow::Result<(Vec<Problem>, Option<String>)> {
    let all = store.problems(dataset, None).await?;
    if all.is_empty() {
        bail!("dataset {dataset} has no problems (see `evolve data list`)");
    }
    let split = match split {
        Some(s) => Some(s.to_owned()),
        None if all.iter().any(|p| p.split.is_some()) => Some("held-out".to_owned()),
        None => None,
    };
    let mut chosen: Vec<Problem> = all
        .into_iter()
        .filter(|p| split.is_none() || p.split == split)
        .collect();
    if chosen.is_empty() {
        bail!(
            "dataset {dataset} has no problems in split {}",
            split.as_deref().unwrap_or("-")
        );
    }
    if let Some(limit) = limit {
        chosen.truncate(limit);
    }
    Ok((chosen, split))
}

/// Evaluates `job.strategy` with `engine` as the policy. The run is keyed by
/// its settings (dataset, split, strategy, model and PPM hashes, sampling,
/// limits, prompts): the same settings resume it and grade only the questions
/// it has not graded; a larger `limit` extends it.
pub async fn run_eval(
    store: &Store,
    engine: &Engine,
    pipeline: &PipelineConfig,
    job: &EvalJob,
    progress: &mut dyn EvalProgress,
) -> anyhow::Result<EvalSummary> {
    if job.strategy.needs_scorer() && job.ppm.is_none() {
        bail!("{} scores steps: give it a PPM with --ppm", job.strategy);
    }
    // A strategy that scores nothing neither loads the PPM nor is keyed by it.
    let ppm = job.ppm.as_deref().filter(|_| job.strategy.needs_scorer());
    let models = register(store, engine, ppm).await?;
    let table = match (job.strategy, models.ppm_id) {
        (Strategy::Auto { .. }, Some(ppm_id)) => {
            let json = store
                .latest_calibration(models.policy_id, ppm_id)
                .await?
                .with_context(|| {
                    format!(
                        "auto needs a calibration table for this policy and PPM: run `evolve eval --calibrate --dataset {} --ppm ...` first",
                        job.dataset
                    )
                })?;
            Some(
                serde_json::from_str::<AutoTable>(&json)
                    .context("reading the calibration table")?,
            )
        }
        _ => None,
    };
    let (problems, split) = questions(store, &job.dataset, job.split.as_deref(), job.limit).await?;
    let settings = serde_json::json!({
        "dataset": job.dataset,
        "split": split,
        "strategy": job.strategy.to_string(),
        "policy_sha256": models.policy_sha,
        "ppm_sha256": models.ppm_sha,
        "search": pipeline.search,
        "prompts": pipeline.formats.get(pipeline.search.step_format),
    });
    let run_key = format!("{:x}", Sha256::digest(settings.to_string().as_bytes()));
    let mut config = settings.clone();
    config["policy"] = engine.path().display().to_string().into();
    if let Some(ppm) = ppm {
        config["ppm"] = ppm.display().to_string().into();
    }
    let evaluation_id = store
        .open_evaluation(&NewEvaluation {
            run_key,
            model_id: models.policy_id,
            ppm_id: models.ppm_id,
            dataset: job.dataset.clone(),
            split: split.clone(),
            strategy: job.strategy.to_string(),
            budget: job.strategy.budget() as i64,
            seed: pipeline.search.seed as i64,
            config: config.to_string(),
        })
        .await?;
    // Batches are fixed slices of the question list, so a resumed run solves
    // each remaining question in the company it would have had.
    let per_batch = questions_per_batch(&job.strategy);
    let batch_of: std::collections::HashMap<i64, usize> = problems
        .iter()
        .enumerate()
        .map(|(i, p)| (p.id, i / per_batch))
        .collect();
    let done = store.evaluated_problems(evaluation_id).await?;
    let (already, todo): (Vec<Problem>, Vec<Problem>) =
        problems.into_iter().partition(|p| done.contains(&p.id));
    let (todo, no_gold): (Vec<Problem>, Vec<Problem>) = todo
        .into_iter()
        .partition(|p| !p.gold_answer.trim().is_empty());
    progress.start(todo.len(), already.len());

    let mut test_time = TestTime::new(engine, pipeline, ppm)?;
    let (mut tokens, mut generation_seconds) = (0usize, 0.0f64);
    let mut graded = 0;
    for batch in todo.chunk_by(|a, b| batch_of[&a.id] == batch_of[&b.id]) {
        if crate::interrupt::stop_requested() {
            break;
        }
        let questions: Vec<(&str, u64)> = batch
            .iter()
            .map(|p| (p.question.as_str(), p.id as u64))
            .collect();
        let outcomes = tokio::task::block_in_place(|| {
            test_time.solve_many(&job.strategy, &questions, table.as_ref())
        })
        .with_context(|| match batch {
            [first, .., last] => format!("solving problems {} to {}", first.id, last.id),
            _ => format!("solving problem {} ({})", batch[0].id, batch[0].external_id),
        })?;
        for (problem, outcome) in batch.iter().zip(outcomes) {
            let correct = outcome
                .answer
                .as_deref()
                .is_some_and(|a| test_time.grade(a, &problem.gold_answer));
            tokens += outcome.compute.generated_tokens;
            generation_seconds += outcome.compute.seconds;
            let detail = serde_json::json!({
                "strategy": outcome.strategy,
                "difficulty_bin": outcome.difficulty_bin,
                "chosen": outcome.chosen,
                "compute": outcome.compute,
                "candidates": outcome.candidates.iter().map(|c| serde_json::json!({
                    "answer": c.answer,
                    "score": c.score,
                    "tokens": c.tokens,
                    "correct": c.answer.as_deref().is_some_and(|a| test_time.grade(a, &problem.gold_answer)),
                })).collect::<Vec<_>>(),
            });
            store
                .record_result(&NewResult {
                    evaluation_id,
                    problem_id: problem.id,
                    response: outcome.response(),
                    answer: outcome.answer.clone(),
                    correct,
                    tokens: outcome.compute.generated_tokens as i64,
                    seconds: outcome.compute.seconds,
                    detail: detail.to_string(),
                })
                .await?;
            graded += 1;
            progress.question(&QuestionReport {
                problem_id: problem.id,
                strategy: outcome.strategy.clone(),
                answer: outcome.answer,
                correct,
                tokens: outcome.compute.generated_tokens,
                seconds: outcome.compute.seconds,
            });
        }
    }
    let totals = store
        .evaluation_summary(evaluation_id)
        .await?
        .context("the evaluation just written")?;
    Ok(EvalSummary {
        totals,
        graded,
        already: already.len(),
        skipped: no_gold.len(),
        tokens_per_second: if generation_seconds > 0.0 {
            tokens as f64 / generation_seconds
        } else {
            0.0
        },
    })
}

/// What to calibrate `auto` on.
#[derive(Debug, Clone)]
pub struct CalibrationJob {
    /// Dataset name (a validation set: not the one `auto` is then measured on).
    pub dataset: String,
    /// Split; `None`: the pool of a split dataset, else all.
    pub split: Option<String>,
    /// The first N questions only.
    pub limit: Option<usize>,
    /// Budgets to learn a row for.
    pub budgets: Vec<usize>,
    /// Probe samples per question for its difficulty.
    pub probe: usize,
    /// The PPM.
    pub ppm: PathBuf,
}

/// The strategies that compete at a budget: greedy at 1; majority vote,
/// best-of-N (best and weighted), and beam search and DVTS of 4 candidates per
/// step where the budget divides.
pub fn calibration_strategies(budget: usize) -> Vec<Strategy> {
    if budget <= 1 {
        return vec![Strategy::Greedy];
    }
    let mut strategies: Vec<Strategy> = [
        format!("maj@{budget}"),
        format!("bon@{budget}"),
        format!("bon@{budget}:weighted"),
    ]
    .iter()
    .map(|s| s.parse().expect("a valid name"))
    .collect();
    if budget.is_multiple_of(4) {
        strategies.push(format!("beam@{}x4", budget / 4).parse().expect("valid"));
        if budget >= 8 {
            strategies.push(format!("dvts@{budget}x4").parse().expect("valid"));
        }
    }
    strategies
}

/// Learns `auto`'s table: each question's probe score, then every strategy of
/// every budget on it, graded; stored for this policy and PPM.
pub async fn run_calibration(
    store: &Store,
    engine: &Engine,
    pipeline: &PipelineConfig,
    job: &CalibrationJob,
    progress: &mut dyn EvalProgress,
) -> anyhow::Result<AutoTable> {
    let models = register(store, engine, Some(&job.ppm)).await?;
    let split = match &job.split {
        Some(s) => Some(s.clone()),
        None => {
            let all = store.problems(&job.dataset, None).await?;
            all.iter()
                .any(|p| p.split.is_some())
                .then(|| "pool".to_owned())
        }
    };
    let (problems, split) = questions(store, &job.dataset, split.as_deref(), job.limit).await?;
    let problems: Vec<Problem> = problems
        .into_iter()
        .filter(|p| !p.gold_answer.trim().is_empty())
        .collect();
    progress.start(problems.len(), 0);
    let mut test_time = TestTime::new(engine, pipeline, Some(&job.ppm))?;
    let mut calibration = Vec::with_capacity(problems.len());
    for problem in &problems {
        let started = Instant::now();
        let key = problem.id as u64;
        let mut results = Vec::new();
        let probe_score = tokio::task::block_in_place(|| -> anyhow::Result<f64> {
            let scorer = test_time.scorer.as_mut().map(|s| s as &mut dyn StepScorer);
            let score = Solver::new(&mut test_time.policy, &test_time.checker)
                .with_scorer(scorer)
                .with_limits(test_time.limits)
                .with_seed(test_time.seed)
                .probe_score(&problem.question, key, job.probe)?;
            for &budget in &job.budgets {
                for strategy in calibration_strategies(budget) {
                    let outcome = test_time.solve(&strategy, &problem.question, key, None)?;
                    let correct = outcome
                        .answer
                        .as_deref()
                        .is_some_and(|a| test_time.grade(a, &problem.gold_answer));
                    results.push((strategy, correct, outcome.compute.generated_tokens));
                }
            }
            Ok(score)
        })?;
        progress.question(&QuestionReport {
            problem_id: problem.id,
            strategy: "calibration".into(),
            answer: None,
            correct: results.iter().any(|r| r.1),
            tokens: results.iter().map(|r| r.2).sum(),
            seconds: started.elapsed().as_secs_f64(),
        });
        calibration.push(CalibrationQuestion {
            probe_score,
            results,
        });
    }
    let table = AutoTable::calibrate(job.probe, &calibration);
    store
        .record_calibration(
            models.policy_id,
            models.ppm_id.expect("a PPM was given"),
            &job.dataset,
            split.as_deref(),
            calibration.len() as i64,
            &serde_json::to_string(&table)?,
        )
        .await?;
    Ok(table)
}
