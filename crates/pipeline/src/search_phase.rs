//! The search phase of a round: MCTS with the local policy over a dataset's
//! problems, each finished tree stored at once in its own transaction, so a
//! killed run loses only the trees in flight and a rerun skips stored ones.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, bail};
use evolve_lm::{Engine, WeightFormat};
use evolve_search::{
    BoxError, Config, FinishedTree, Mcts, Observer, SearchProblem, StepCheck, TreeStatus,
};
use evolve_store::{NewModel, NewNode, NewTree, Problem, Round, Store};

use crate::config::{PipelineConfig, StepFormat};
use crate::model_hash::{ppm_sha256, sha256_file};
use crate::policy::{EnginePolicy, PolicyStats};
use crate::ppm_scorer::PpmScorer;
use crate::steps::StepChecker;

/// What to search.
#[derive(Debug, Clone)]
pub struct SearchJob {
    /// Dataset name.
    pub dataset: String,
    /// `pool`, `held-out`, or `None` for the pool of a split dataset (all of an unsplit one).
    pub split: Option<String>,
    /// Problems passed over first (in import order, or `shuffle`'s).
    pub skip: usize,
    /// The first N problems only (after `skip`).
    pub limit: Option<usize>,
    /// Take the problems in an order shuffled with this seed.
    pub shuffle: Option<u64>,
    /// Also search up to this many of the problems `skip` passes over that no
    /// earlier round of the pipeline solved, chosen in a seeded order so that
    /// they mix the kinds of problem earlier rounds searched.
    pub revisit: usize,
    /// Round number within the pipeline.
    pub round: i64,
    /// A trained PPM (GGUF, head beside it) whose scores start new children's values.
    pub ppm: Option<std::path::PathBuf>,
    /// Delete the round's trees of this dataset's problems that are no longer
    /// in the job's pool: a round redone from its search with a narrower pool
    /// exports only its pool. Off, stored trees are never deleted.
    pub drop_outside_pool: bool,
}

/// One stored tree, for progress reports.
#[derive(Debug, Clone, PartialEq)]
pub struct TreeReport {
    /// The problem's id.
    pub problem_id: i64,
    /// Some leaf is correct.
    pub solved: bool,
    /// Tokens generated.
    pub tokens: usize,
    /// Nodes in the tree.
    pub nodes: usize,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// `done` or `timeout`.
    pub status: &'static str,
}

/// Receives progress while the search runs.
pub trait SearchProgress {
    /// `todo` problems will be searched; `stored` already have a tree in this round.
    fn start(&mut self, _todo: usize, _stored: usize) {}
    /// Tokens were generated.
    fn tokens(&mut self, _tokens: usize) {}
    /// A tree was stored.
    fn tree(&mut self, _report: &TreeReport) {}
    /// A problem was skipped (and recorded as a failed tree).
    fn skipped(&mut self, _problem: &Problem, _reason: &str) {}
}

/// What a search run did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchSummary {
    /// The round's id.
    pub round_id: i64,
    /// Trees grown and stored by this run.
    pub searched: usize,
    /// Problems that already had a tree in the round.
    pub already_stored: usize,
    /// Trees deleted because their problem left the pool (`drop_outside_pool`).
    pub dropped: usize,
    /// Problems skipped (no gold answer).
    pub skipped: usize,
    /// Trees with a correct leaf.
    pub solved: usize,
    /// Trees stopped by the per-tree time limit.
    pub timed_out: usize,
    /// Tokens generated.
    pub tokens: usize,
    /// Sum of the trees' own wall-clock seconds.
    pub tree_seconds: f64,
    /// Wall-clock seconds of the whole run.
    pub wall_seconds: f64,
    /// Engine counters.
    pub policy: PolicyStats,
    /// Steps whose check failed.
    pub failed_steps: usize,
    /// Steps checked.
    pub checked_steps: usize,
    /// Steps the PPM scored (0 without one).
    pub ppm_scored: usize,
    /// Seconds the PPM took.
    pub ppm_seconds: f64,
}

impl SearchSummary {
    /// Trees with a correct leaf, over trees grown.
    pub fn solve_rate(&self) -> f64 {
        ratio(self.solved as f64, self.searched as f64)
    }

    /// Problems searched per hour of wall-clock time.
    pub fn problems_per_hour(&self) -> f64 {
        ratio(self.searched as f64 * 3600.0, self.wall_seconds)
    }
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

/// Runs the search phase of round `job.round` of `pipeline` on `engine`.
///
/// The round is created on first use with the pipeline's search settings, the
/// prompts and the model's hash; a rerun with other settings is refused, so a
/// round never mixes trees grown differently.
pub async fn run_search(
    store: &Store,
    engine: &Engine,
    pipeline: &PipelineConfig,
    job: &SearchJob,
    progress: &mut dyn SearchProgress,
) -> anyhow::Result<SearchSummary> {
    let started = Instant::now();
    let settings = &pipeline.search;
    let format = settings.step_format;
    let prompts = pipeline.formats.get(format).clone();

    let round = open_search_round(
        store,
        pipeline,
        job.round,
        engine.path(),
        job.ppm.as_deref(),
    )
    .await?;
    let mut scorer = match &job.ppm {
        Some(path) => Some(PpmScorer::load(path, WeightFormat::Auto, &prompts.system)?),
        None => None,
    };

    let problems = store.problems(&job.dataset, None).await?;
    let split = match &job.split {
        Some(split) => Some(split.clone()),
        None if problems.iter().any(|p| p.split.is_some()) => Some("pool".to_owned()),
        None => None,
    };
    let of_dataset: HashSet<i64> = problems.iter().map(|p| p.id).collect();
    let problems: Vec<Problem> = problems
        .into_iter()
        .filter(|p| split.is_none() || p.split == split)
        .collect();
    let solved_before = if job.revisit > 0 {
        store.solved_before(&pipeline.name, job.round).await?
    } else {
        HashSet::new()
    };
    let problems = pool_of_job(problems, job, &solved_before);
    let mut stored = store.searched_problems(round.id).await?;
    let mut dropped = 0;
    if job.drop_outside_pool {
        let pool: HashSet<i64> = problems.iter().map(|p| p.id).collect();
        let outside: Vec<i64> = stored
            .iter()
            .copied()
            .filter(|id| of_dataset.contains(id) && !pool.contains(id))
            .collect();
        if !outside.is_empty() {
            dropped = store.delete_trees(round.id, &outside).await?;
            for id in &outside {
                stored.remove(id);
            }
        }
    }
    let (done, todo): (Vec<Problem>, Vec<Problem>) =
        problems.into_iter().partition(|p| stored.contains(&p.id));
    let mut summary = SearchSummary {
        round_id: round.id,
        already_stored: done.len(),
        dropped,
        ..SearchSummary::default()
    };
    progress.start(todo.len(), done.len());

    let mut searchable = Vec::new();
    for problem in todo {
        if problem.gold_answer.trim().is_empty() {
            let reason = "the problem has no gold answer";
            store
                .insert_tree(&NewTree {
                    round_id: round.id,
                    problem_id: problem.id,
                    status: "failed".into(),
                    seed: settings.seed as i64,
                    rollouts: 0,
                    solved: false,
                    seconds: 0.0,
                    tokens: 0,
                    note: Some(reason.into()),
                    nodes: Vec::new(),
                })
                .await?;
            progress.skipped(&problem, reason);
            summary.skipped += 1;
        } else {
            searchable.push(SearchProblem {
                key: problem.id as u64,
                question: problem.question,
                gold: problem.gold_answer,
            });
        }
    }

    let checker = StepChecker::for_pipeline(pipeline)?;
    let mut policy = EnginePolicy::new(engine, prompts.clone(), settings.sampling());
    let config = Config {
        rollouts: settings.rollouts,
        candidates: settings.candidates,
        c: settings.c,
        max_depth: settings.max_depth,
        max_path_tokens: settings.max_path_tokens,
        max_errors_in_a_row: prompts.max_errors_in_a_row,
        seed: settings.seed,
        trees_in_flight: settings.trees_in_flight,
        max_seconds: settings.max_seconds_per_tree,
        score_leaves: false,
    };
    let handle = tokio::runtime::Handle::current();
    let mut storing = Storing {
        store,
        handle: &handle,
        round_id: round.id,
        seed: settings.seed,
        progress,
        summary: &mut summary,
    };
    // The search is CPU-bound and synchronous; each finished tree is written
    // from inside it, on this runtime.
    tokio::task::block_in_place(|| {
        Mcts {
            policy: &mut policy,
            verifier: &checker,
            scorer: scorer
                .as_mut()
                .map(|s| s as &mut dyn evolve_search::StepScorer),
            config,
        }
        // A stop request ends the queue: the trees in flight finish and are stored.
        .run(
            searchable
                .into_iter()
                .take_while(|_| !crate::interrupt::stop_requested()),
            &mut storing,
        )
    })?;
    summary.policy = policy.stats;
    if let Some(scorer) = &scorer {
        summary.ppm_scored = scorer.scored;
        summary.ppm_seconds = scorer.seconds;
    }
    summary.wall_seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

struct Storing<'a> {
    store: &'a Store,
    handle: &'a tokio::runtime::Handle,
    round_id: i64,
    seed: u64,
    progress: &'a mut dyn SearchProgress,
    summary: &'a mut SearchSummary,
}

impl<S> Observer<S> for Storing<'_> {
    fn expanded(&mut self, tokens: usize) {
        self.summary.tokens += tokens;
        self.progress.tokens(tokens);
    }

    fn finished(&mut self, finished: FinishedTree<S>) -> Result<(), BoxError> {
        let tree = &finished.tree;
        let nodes: Vec<NewNode> = tree
            .nodes()
            .iter()
            .map(|n| NewNode {
                parent: n.parent,
                depth: n.depth as i64,
                step_text: n.text.clone(),
                code: n.code.clone(),
                exec_output: n.output.clone(),
                step_check: n.check.as_ref().map(|c| match c {
                    StepCheck::Ok => "ok".to_owned(),
                    StepCheck::Error => "error".to_owned(),
                }),
                visits: i64::from(n.visits),
                value_sum: n.value_sum,
                q: n.q(),
                prior: n.prior,
                ppm_score: n.prior,
                terminal: n.terminal,
                extracted_answer: n.answer.clone(),
                correct: n.correct,
                tokens: n.tokens as i64,
                logprob: (n.parent.is_some()).then_some(n.logprob),
                duplicates: i64::from(n.duplicates),
            })
            .collect();
        let status = match finished.status {
            TreeStatus::Done => "done",
            TreeStatus::Timeout => "timeout",
        };
        let record = NewTree {
            round_id: self.round_id,
            problem_id: finished.problem.key as i64,
            status: status.into(),
            seed: self.seed as i64,
            rollouts: i64::from(finished.rollouts),
            solved: tree.solved(),
            seconds: finished.seconds,
            tokens: finished.generated_tokens as i64,
            note: None,
            nodes,
        };
        self.handle.block_on(self.store.insert_tree(&record))?;
        let summary = &mut *self.summary;
        summary.searched += 1;
        summary.solved += usize::from(record.solved);
        summary.timed_out += usize::from(finished.status == TreeStatus::Timeout);
        summary.tree_seconds += finished.seconds;
        summary.checked_steps += tree.nodes().iter().filter(|n| n.check.is_some()).count();
        summary.failed_steps += tree
            .nodes()
            .iter()
            .filter(|n| n.check == Some(StepCheck::Error))
            .count();
        self.progress.tree(&TreeReport {
            problem_id: record.problem_id,
            solved: record.solved,
            tokens: finished.generated_tokens,
            nodes: tree.nodes().len(),
            seconds: finished.seconds,
            status,
        });
        Ok(())
    }
}

/// The settings a round's trees are grown with, as `rounds.config` holds
/// them: search settings, prompts, the policy's hash and the PPM's.
pub fn search_round_config(
    pipeline: &PipelineConfig,
    policy: &Path,
    ppm: Option<&Path>,
) -> anyhow::Result<serde_json::Value> {
    let settings = &pipeline.search;
    let mut config = serde_json::json!({
        "search": settings,
        "prompts": pipeline.formats.get(settings.step_format),
        "model_sha256": sha256_file(policy)?,
    });
    if settings.step_format == StepFormat::Code {
        config["sandbox"] = serde_json::to_value(&pipeline.sandbox)?;
    }
    if let Some(ppm) = ppm {
        config["ppm_sha256"] = ppm_sha256(ppm)?.into();
    }
    Ok(config)
}

/// Round `number` of `pipeline` for trees grown by `policy` (and `ppm`):
/// created with [`search_round_config`], or reopened when its stored settings
/// are the same; other settings are refused, naming what differs.
pub async fn open_search_round(
    store: &Store,
    pipeline: &PipelineConfig,
    number: i64,
    policy: &Path,
    ppm: Option<&Path>,
) -> anyhow::Result<Round> {
    let config = search_round_config(pipeline, policy, ppm)?;
    let model_sha = config["model_sha256"]
        .as_str()
        .expect("a hash was just written")
        .to_owned();
    open_round(store, policy, ppm, pipeline, number, &config, &model_sha).await
}

/// The settings in `config` (from [`search_round_config`]) that differ from
/// those `round` grew its trees with, as dotted keys.
pub(crate) fn search_settings_changed(
    round: &Round,
    pipeline: &str,
    config: &serde_json::Value,
    ppm: Option<&Path>,
) -> anyhow::Result<Vec<String>> {
    let number = round.number;
    let stored: serde_json::Value = serde_json::from_str(&round.config)
        .with_context(|| format!("reading the settings of round {number} of {pipeline}"))?;
    let mut differ = differences(&stored, config, "");
    // A round an older build started holds its PPM's GGUF hash alone.
    if let (Some(ppm), Some(stored)) = (ppm, stored["ppm_sha256"].as_str())
        && differ.iter().any(|d| d == "ppm_sha256")
        && sha256_file(ppm)? == stored
    {
        differ.retain(|d| d != "ppm_sha256");
    }
    Ok(differ)
}

/// The round to store trees in: created with `config`, or reopened when its
/// stored settings are the same.
async fn open_round(
    store: &Store,
    policy: &Path,
    ppm: Option<&Path>,
    pipeline: &PipelineConfig,
    number: i64,
    config: &serde_json::Value,
    model_sha: &str,
) -> anyhow::Result<Round> {
    if let Some(round) = store.round(&pipeline.name, number).await? {
        let differ = search_settings_changed(&round, &pipeline.name, config, ppm)?;
        if !differ.is_empty() {
            bail!(
                "round {number} of pipeline {} was searched with other settings ({}); \
                 pass another --round to search with these",
                pipeline.name,
                differ.join(", ")
            );
        }
        return Ok(round);
    }
    let path = policy;
    let model_id = store
        .register_model(&NewModel {
            role: "policy".into(),
            round: 0,
            name: path.file_stem().map(|s| s.to_string_lossy().into_owned()),
            path: path.display().to_string(),
            format: "gguf".into(),
            sha256: model_sha.to_owned(),
        })
        .await?;
    Ok(store
        .create_round(&pipeline.name, number, &config.to_string(), Some(model_id))
        .await?)
}

/// The problems `job` searches, of its dataset's `problems` in import order:
/// `skip` passed over, the next `limit`, then up to `revisit` of the passed-over
/// ones that are not in `solved_before`.
pub(crate) fn pool_of_job(
    mut problems: Vec<Problem>,
    job: &SearchJob,
    solved_before: &HashSet<i64>,
) -> Vec<Problem> {
    if let Some(seed) = job.shuffle {
        shuffle(&mut problems, seed);
    }
    let mut earlier: Vec<Problem> = problems.drain(..job.skip.min(problems.len())).collect();
    if let Some(limit) = job.limit {
        problems.truncate(limit);
    }
    if job.revisit > 0 {
        earlier.retain(|p| !solved_before.contains(&p.id));
        shuffle(&mut earlier, REVISIT_SEED);
        problems.extend(earlier.into_iter().take(job.revisit));
    }
    problems
}

/// The order unsolved problems are revisited in: fixed, so that a resumed
/// round picks the same ones.
const REVISIT_SEED: u64 = 0x5e_a4c4;

/// Orders `problems` by a hash of `seed` and each one's dataset-given id:
/// the same order on every machine and build, whatever ids the database gave.
pub(crate) fn shuffle(problems: &mut [Problem], seed: u64) {
    use sha2::{Digest, Sha256};
    problems.sort_by_cached_key(|p| {
        let mut hasher = Sha256::new();
        hasher.update(seed.to_le_bytes());
        hasher.update(p.external_id.as_bytes());
        <[u8; 32]>::from(hasher.finalize())
    });
}

/// Dotted paths of the keys whose values differ.
pub(crate) fn differences(a: &serde_json::Value, b: &serde_json::Value, at: &str) -> Vec<String> {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeMap<&String, ()> = x.keys().chain(y.keys()).map(|k| (k, ())).collect();
            keys.into_keys()
                .flat_map(|k| {
                    let path = if at.is_empty() {
                        k.clone()
                    } else {
                        format!("{at}.{k}")
                    };
                    differences(
                        x.get(k).unwrap_or(&Value::Null),
                        y.get(k).unwrap_or(&Value::Null),
                        &path,
                    )
                })
                .collect()
        }
        _ if a == b => Vec::new(),
        _ => vec![at.to_owned()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(n: usize) -> Vec<Problem> {
        (0..n)
            .map(|i| Problem {
                id: i as i64 + 1,
                external_id: i.to_string(),
                question: format!("question {i}"),
                gold_answer: i.to_string(),
                reference_solution: None,
                level: None,
                subject: None,
                split: Some("pool".into()),
            })
            .collect()
    }

    fn ids(problems: &[Problem]) -> Vec<&str> {
        problems.iter().map(|p| p.external_id.as_str()).collect()
    }

    #[test]
    fn a_shuffled_pool_is_a_seeded_permutation_of_it() {
        let mut a = problems(200);
        shuffle(&mut a, 0);
        let mut sorted = ids(&a);
        sorted.sort_by_key(|id| id.parse::<usize>().unwrap());
        assert_eq!(sorted, ids(&problems(200)));
        assert_ne!(ids(&a), ids(&problems(200)));
        // The first slice samples the whole pool, not its start.
        let late = a[..40]
            .iter()
            .filter(|p| p.external_id.parse::<usize>().unwrap() >= 100)
            .count();
        assert!((10..=30).contains(&late), "{late} of 40");
        // The order follows the dataset's ids, not the database's, nor the input order.
        let mut b = problems(200);
        b.reverse();
        for p in &mut b {
            p.id += 1000;
        }
        shuffle(&mut b, 0);
        assert_eq!(ids(&a), ids(&b));
        let mut c = problems(200);
        shuffle(&mut c, 1);
        assert_ne!(ids(&a), ids(&c));
    }

    #[test]
    fn a_round_revisits_earlier_unsolved_problems_mixed_and_the_same_each_time() {
        let job = SearchJob {
            dataset: "d".into(),
            split: None,
            skip: 100,
            limit: Some(20),
            shuffle: None,
            revisit: 30,
            drop_outside_pool: false,
            round: 3,
            ppm: None,
        };
        let db_ids = |pool: Vec<Problem>| pool.iter().map(|p| p.id).collect::<Vec<i64>>();
        // Problems 1-30 and 51-60 were solved by earlier rounds.
        let solved: HashSet<i64> = (1..=30).chain(51..=60).collect();
        let pool = db_ids(pool_of_job(problems(200), &job, &solved));
        assert_eq!(pool.len(), 50);
        assert_eq!(pool[..20], (101..=120).collect::<Vec<i64>>()[..]);
        let revisited = &pool[20..];
        assert!(
            revisited
                .iter()
                .all(|id| *id <= 100 && !solved.contains(id))
        );
        // Drawn from the whole of the earlier pools, not their start.
        assert!(revisited.iter().any(|id| *id > 60), "{revisited:?}");
        // A resumed round takes the same ones.
        assert_eq!(pool, db_ids(pool_of_job(problems(200), &job, &solved)));
        // Without revisits the round is its slice alone.
        let plain = SearchJob { revisit: 0, ..job };
        assert_eq!(pool_of_job(problems(200), &plain, &solved).len(), 20);
    }
}
