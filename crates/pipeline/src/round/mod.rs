//! One self-evolution round end to end: search → export → train the policy →
//! train the PPM → evaluate. Each phase is recorded in `round_phases` as it
//! starts and ends, so a rerun after a crash or Ctrl-C resumes at the first
//! phase that did not finish (and the search, inside it, at the first problem
//! without a stored tree). Round r + 1 starts from the models round r trained.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use evolve_lm::WeightFormat;
use evolve_store::{NewModel, RoundRecord, Store};
use evolve_train::TrainProgress;
use serde_json::{Value, json};
use tracing::info;

use crate::config::PipelineConfig;
use crate::eval_phase::EvalProgress;
use crate::interrupt;
use crate::model_hash::{matches_registered, model_sha256};
use crate::problem_sets::prepare_problem_sets;
use crate::search_phase::{SearchProgress, differences, open_search_round, search_round_config};

mod phases;
mod redo;

pub use redo::Redo;

/// The phases of a round, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// MCTS over the pool.
    Search,
    /// SFT trajectories and preference pairs from the trees.
    Export,
    /// The next policy, fine-tuned on the SFT rows.
    TrainPolicy,
    /// The next PPM, trained on the pairs.
    TrainPpm,
    /// The new models on the held-out sets.
    Eval,
}

impl Phase {
    /// Every phase, in the order a round runs them.
    pub const ALL: [Phase; 5] = [
        Phase::Search,
        Phase::Export,
        Phase::TrainPolicy,
        Phase::TrainPpm,
        Phase::Eval,
    ];

    /// The name stored in `round_phases.phase`.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Search => "search",
            Phase::Export => "export",
            Phase::TrainPolicy => "train-policy",
            Phase::TrainPpm => "train-ppm",
            Phase::Eval => "eval",
        }
    }

    /// The phase stored as `name` in `round_phases.phase`.
    pub fn from_name(name: &str) -> Option<Phase> {
        Phase::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The first phase that reads the pipeline setting at dotted path `key`
    /// (`train.policy.lr`): a round redone from a later phase keeps what
    /// earlier ones made with the setting as it was. Sections a phase shares
    /// with the search (`[data]`, `[formats]`, `[models]`) count as the search's.
    fn first_reader(key: &str) -> Phase {
        let under = |section: &str| key == section || key.starts_with(&format!("{section}."));
        if under("export") {
            Phase::Export
        } else if under("train.policy") {
            Phase::TrainPolicy
        } else if under("train.ppm") {
            Phase::TrainPpm
        } else if under("eval") {
            Phase::Eval
        } else {
            Phase::Search
        }
    }

    /// Whether Ctrl-C can stop it cleanly (else the process exits and the
    /// phase starts over on resume).
    pub fn stops_cleanly(self) -> bool {
        matches!(self, Phase::Search | Phase::Eval)
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Receives what a round does, for progress bars and logs.
pub trait RoundObserver {
    /// A line worth showing (datasets imported, a phase already done).
    fn note(&mut self, _line: &str) {}
    /// A phase starts (`attempt` 1 the first time).
    fn phase_started(&mut self, _round: i64, _phase: Phase, _attempt: i64) {}
    /// A phase ended with `status` (`done`, `skipped`, `interrupted`).
    fn phase_finished(&mut self, _round: i64, _phase: Phase, _status: &str, _detail: &Value) {}
    /// Progress of the search.
    fn search(&mut self) -> &mut dyn SearchProgress;
    /// Progress of a training phase.
    fn train(&mut self, phase: Phase) -> &mut dyn TrainProgress;
    /// Progress of one evaluation run (`what` names policy, dataset and strategy).
    fn eval(&mut self, what: &str) -> &mut dyn EvalProgress;
}

/// Which round to run, and where its files go.
#[derive(Debug, Clone)]
pub struct RoundJob {
    /// The round number (`None`: the first unfinished round, else the next one).
    pub round: Option<i64>,
    /// Run the round again even if it finished (it must be the newest round).
    pub redo: Option<Redo>,
    /// The folder for the round's exports and models.
    pub run_dir: PathBuf,
}

/// How a round ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoundOutcome {
    /// Every phase finished.
    Finished(i64),
    /// Ctrl-C stopped it cleanly in this phase; a rerun resumes there.
    Stopped(i64, Phase),
}

/// The round `evolve round` runs next for `pipeline`: `requested`, checked,
/// or the first unfinished round, or the one after the newest.
pub async fn choose_round(
    store: &Store,
    pipeline: &PipelineConfig,
    requested: Option<i64>,
) -> anyhow::Result<i64> {
    let rounds = store.pipeline_rounds(&pipeline.name).await?;
    let number = match requested {
        Some(n) if n < 1 => bail!("rounds are numbered from 1"),
        Some(n) => n,
        None => rounds
            .iter()
            .find(|r| r.status != "done")
            .map(|r| r.number)
            .unwrap_or_else(|| rounds.last().map_or(1, |r| r.number + 1)),
    };
    if number > 1 {
        match rounds.iter().find(|r| r.number == number - 1) {
            Some(previous) if previous.status == "done" => {}
            Some(_) => bail!(
                "round {} of {} has not finished; run it first (`evolve round --pipeline {}`)",
                number - 1,
                pipeline.name,
                pipeline.name
            ),
            None => bail!(
                "round {number} of {} needs the models of round {}, which was never run",
                pipeline.name,
                number - 1
            ),
        }
    }
    Ok(number)
}

/// The models a round starts from.
#[derive(Debug, Clone)]
pub(super) struct Inputs {
    policy: PathBuf,
    ppm: Option<PathBuf>,
}

/// Everything a phase needs.
pub(super) struct Ctx<'a> {
    store: &'a Store,
    /// The pipeline as written (evaluation uses its `[search]` every round, so
    /// runs of different rounds compare like with like).
    pipeline: &'a PipelineConfig,
    /// The pipeline with this round's search settings.
    round_pipeline: PipelineConfig,
    number: i64,
    round_id: i64,
    inputs: Inputs,
    run_dir: PathBuf,
    weights: WeightFormat,
}

/// Runs (or resumes) one round of `pipeline`.
pub async fn run_round(
    store: &Store,
    pipeline: &PipelineConfig,
    job: &RoundJob,
    observer: &mut dyn RoundObserver,
) -> anyhow::Result<RoundOutcome> {
    pipeline
        .validate_round()
        .with_context(|| format!("pipeline {}", pipeline.name))?;
    let weights: WeightFormat = pipeline
        .models
        .weights
        .parse()
        .map_err(|e: String| anyhow::anyhow!("[models] weights: {e}"))?;
    prepare_problem_sets(store, pipeline, &mut |line| observer.note(&line)).await?;
    let number = choose_round(store, pipeline, job.round).await?;
    let rounds = store.pipeline_rounds(&pipeline.name).await?;
    let inputs = inputs(store, pipeline, &rounds, number).await?;
    let mut round_pipeline = pipeline.clone();
    round_pipeline.search = pipeline.search_for_round(number);
    let plan = plan(pipeline)?;

    if let Some(existing) = rounds.iter().find(|r| r.number == number) {
        if let Some(redo) = job.redo {
            if let Some(later) = rounds.iter().find(|r| r.number > number) {
                bail!(
                    "round {} of {} was built on round {number}; only the newest round can be redone",
                    later.number,
                    pipeline.name
                );
            }
            // Hashing the policy for the search settings is only needed
            // where the search's trees are regrown or kept.
            let search_config =
                || search_round_config(&round_pipeline, &inputs.policy, inputs.ppm.as_deref());
            match redo {
                Redo::Over => {
                    store
                        .reset_round(existing.id, &search_config()?.to_string())
                        .await?;
                    observer.note(&format!(
                        "round {number}: its trees and phases were cleared (--redo)"
                    ));
                }
                Redo::From(from) => {
                    let config = match from {
                        Phase::Search => Some(search_config()?),
                        _ => None,
                    };
                    let search = config.as_ref().map(|config| redo::SearchNow {
                        config,
                        ppm: inputs.ppm.as_deref(),
                    });
                    redo::redo_from(store, pipeline, existing, &plan, from, search).await?;
                    observer.note(&format!(
                        "round {number}: its phases from {from} on were cleared (--redo-from); what earlier phases stored is kept"
                    ));
                }
            }
        } else if existing.status == "done" {
            bail!(
                "round {number} of {} has finished; pass --redo to run it again",
                pipeline.name
            );
        } else if let Some(stored) = &existing.plan {
            let stored = stored_plan(stored)
                .with_context(|| format!("reading the plan of round {number}"))?;
            let differ = differences(&stored, &plan, "");
            if !differ.is_empty() {
                bail!(
                    "round {number} of {} was started with other settings ({}); restore them to resume, or pass --redo to start the round over",
                    pipeline.name,
                    differ.join(", ")
                );
            }
        }
    } else if job.redo.is_some() {
        bail!(
            "round {number} of {} has not run; there is nothing to redo",
            pipeline.name
        );
    }

    let round = open_search_round(
        store,
        &round_pipeline,
        number,
        &inputs.policy,
        inputs.ppm.as_deref(),
    )
    .await?;
    let policy_id = register(store, "policy", &inputs.policy).await?;
    let ppm_id = match &inputs.ppm {
        Some(path) => Some(register(store, "ppm", path).await?),
        None => None,
    };
    store
        .set_round_plan(round.id, &plan.to_string(), policy_id, ppm_id)
        .await?;
    std::fs::create_dir_all(&job.run_dir)
        .with_context(|| format!("creating {}", job.run_dir.display()))?;
    info!(
        round = number,
        pipeline = %pipeline.name,
        policy = %inputs.policy.display(),
        ppm = ?inputs.ppm,
        "round starts"
    );

    let ctx = Ctx {
        store,
        pipeline,
        round_pipeline,
        number,
        round_id: round.id,
        inputs,
        run_dir: job.run_dir.clone(),
        weights,
    };
    for phase in Phase::ALL {
        let phases = store.round_phases(round.id).await?;
        let record = phases.iter().find(|p| p.phase == phase.name());
        if let Some(record) = record.filter(|r| r.status == "done" || r.status == "skipped") {
            observer.note(&format!(
                "round {number}: {phase} already {} ({:.0} s)",
                record.status, record.seconds
            ));
            continue;
        }
        let attempt = record.map_or(1, |r| r.attempts + 1);
        store.start_phase(round.id, phase.name()).await?;
        info!(round = number, %phase, attempt, "phase starts");
        observer.phase_started(number, phase, attempt);
        interrupt::set_graceful(phase.stops_cleanly());
        let started = Instant::now();
        let result = match phase {
            Phase::Search => phases::search(&ctx, observer).await,
            Phase::Export => phases::export(&ctx).await,
            Phase::TrainPolicy => phases::train_next_policy(&ctx, observer).await,
            Phase::TrainPpm => phases::train_next_ppm(&ctx, observer).await,
            Phase::Eval => phases::evaluate(&ctx, observer).await,
        };
        interrupt::set_graceful(false);
        let seconds = started.elapsed().as_secs_f64();
        let (status, detail) = match result {
            Ok(Done::Done(detail)) if interrupt::stop_requested() => ("interrupted", detail),
            Ok(Done::Done(detail)) => ("done", detail),
            Ok(Done::Skipped(detail)) => ("skipped", detail),
            Err(err) => {
                let detail = json!({ "error": format!("{err:#}") });
                store
                    .finish_phase(
                        round.id,
                        phase.name(),
                        "failed",
                        seconds,
                        &detail.to_string(),
                    )
                    .await?;
                info!(round = number, %phase, error = %format!("{err:#}"), "phase failed");
                return Err(err.context(format!("round {number}, phase {phase}")));
            }
        };
        store
            .finish_phase(round.id, phase.name(), status, seconds, &detail.to_string())
            .await?;
        info!(round = number, %phase, status, seconds, detail = %detail, "phase ends");
        observer.phase_finished(number, phase, status, &detail);
        if status == "interrupted" {
            return Ok(RoundOutcome::Stopped(number, phase));
        }
    }
    store.finish_round(round.id).await?;
    info!(round = number, "round finished");
    Ok(RoundOutcome::Finished(number))
}

/// What a phase did: its figures, or why it had nothing to do.
pub(super) enum Done {
    Done(Value),
    Skipped(Value),
}

/// The pipeline as stored with its rounds: everything but the thread count,
/// which changes the speed and not the result.
fn plan(pipeline: &PipelineConfig) -> anyhow::Result<Value> {
    let mut plan = serde_json::to_value(pipeline)?;
    if let Some(models) = plan.get_mut("models").and_then(Value::as_object_mut) {
        models.remove("threads");
    }
    Ok(plan)
}

/// A stored plan as this build reads it: a plan stored by an older build
/// lacks the settings added since, which take this build's defaults, so that
/// an upgrade can resume a round.
fn stored_plan(text: &str) -> anyhow::Result<Value> {
    let stored: Value = serde_json::from_str(text)?;
    Ok(serde_json::from_value::<PipelineConfig>(stored.clone())
        .ok()
        .and_then(|p| plan(&p).ok())
        .unwrap_or(stored))
}

/// The pipeline's first policy: `[models] policy`, or the fetched default model.
pub fn first_policy(pipeline: &PipelineConfig) -> anyhow::Result<PathBuf> {
    let path = match &pipeline.models.policy {
        Some(path) => path.clone(),
        None => evolve_data::cache_dir().join(evolve_lm::DEFAULT_MODEL),
    };
    if !path.is_file() {
        if pipeline.models.policy.is_none() {
            bail!(
                "the default model is not at {}; run scripts/fetch-model.sh (or set [models] policy)",
                path.display()
            );
        }
        bail!(
            "[models] policy {} of pipeline {} is not a file",
            path.display(),
            pipeline.name
        );
    }
    Ok(path)
}

/// The policy and PPM round `number` starts from: the pipeline's first policy
/// for round 1; else what round `number - 1` trained, or, where it trained
/// nothing, what it started from.
async fn inputs(
    store: &Store,
    pipeline: &PipelineConfig,
    rounds: &[RoundRecord],
    number: i64,
) -> anyhow::Result<Inputs> {
    if number == 1 {
        return Ok(Inputs {
            policy: first_policy(pipeline)?,
            ppm: None,
        });
    }
    let previous = rounds
        .iter()
        .find(|r| r.number == number - 1)
        .context("the previous round")?;
    let path_of = async |id: Option<i64>, what: &str| -> anyhow::Result<Option<PathBuf>> {
        let Some(id) = id else { return Ok(None) };
        let model = store.model(id).await?.with_context(|| {
            format!(
                "round {} names {what} model {id}, which is not in the database",
                previous.number
            )
        })?;
        let path = PathBuf::from(&model.path);
        if !path.is_file() {
            bail!(
                "the {what} of round {} of {}, {}, is missing; restore it or redo that round",
                previous.number,
                pipeline.name,
                path.display()
            );
        }
        if !matches_registered(&model.role, &path, &model.sha256)? {
            bail!(
                "the {what} of round {} of {}, {}, changed since it was registered (sha256 differs); restore it or redo that round",
                previous.number,
                pipeline.name,
                path.display()
            );
        }
        Ok(Some(path))
    };
    let policy = match path_of(previous.trained_policy_id, "policy").await? {
        Some(path) => path,
        None => path_of(previous.policy_model_id, "policy")
            .await?
            .context("the previous round names no policy")?,
    };
    let ppm = if pipeline.round.ppm_search && number >= pipeline.round.ppm_search_from {
        match path_of(previous.trained_ppm_id, "PPM").await? {
            Some(path) => Some(path),
            None => path_of(previous.ppm_model_id, "PPM").await?,
        }
    } else {
        None
    };
    Ok(Inputs { policy, ppm })
}

async fn register(store: &Store, role: &str, path: &Path) -> anyhow::Result<i64> {
    Ok(store
        .register_model(&NewModel {
            role: role.into(),
            round: 0,
            name: path.file_stem().map(|s| s.to_string_lossy().into_owned()),
            path: std::path::absolute(path)
                .unwrap_or_else(|_| path.to_owned())
                .display()
                .to_string(),
            format: "gguf".into(),
            sha256: model_sha256(role, path)?,
        })
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_setting_belongs_to_the_first_phase_that_reads_it() {
        let pipeline = PipelineConfig::load("mawps").unwrap();
        let mut changed = plan(&pipeline).unwrap();
        changed["train"]["policy"]["lr"] = 1e-3.into();
        changed["eval"]["limit"] = 5.into();
        changed["data"]["revisit_unsolved"] = 3.into();
        changed["export"]["sft_per_problem"] = 9.into();
        let readers: Vec<(String, Phase)> = differences(&plan(&pipeline).unwrap(), &changed, "")
            .into_iter()
            .map(|key| {
                let phase = Phase::first_reader(&key);
                (key, phase)
            })
            .collect();
        assert_eq!(
            readers,
            [
                ("data.revisit_unsolved".to_owned(), Phase::Search),
                ("eval.limit".to_owned(), Phase::Eval),
                ("export.sft_per_problem".to_owned(), Phase::Export),
                ("train.policy.lr".to_owned(), Phase::TrainPolicy),
            ]
        );
        // A section whose name starts like another's is not that one.
        assert_eq!(Phase::first_reader("evaluation"), Phase::Search);
        assert_eq!(Phase::from_name("train-ppm"), Some(Phase::TrainPpm));
        assert_eq!(Phase::from_name("training"), None);
    }

    #[test]
    fn a_plan_from_an_older_build_resumes_with_the_new_defaults() {
        let pipeline = PipelineConfig::load("mawps").unwrap();
        let mut old = plan(&pipeline).unwrap();
        // Settings a newer build added, at their defaults in this pipeline.
        old["export"].as_object_mut().unwrap().remove("few_shot");
        old["formats"]["code"]
            .as_object_mut()
            .unwrap()
            .remove("grounded");
        old["data"].as_object_mut().unwrap().remove("pool_limit");
        let read = stored_plan(&old.to_string()).unwrap();
        let differ = differences(&read, &plan(&pipeline).unwrap(), "");
        assert!(differ.is_empty(), "{differ:?}");
        // A setting that really differs is still found.
        old["search"]["rollouts"] = 3.into();
        let read = stored_plan(&old.to_string()).unwrap();
        assert_eq!(
            differences(&read, &plan(&pipeline).unwrap(), ""),
            ["search.rollouts"]
        );
        // An older build searched the pool in import order, not in a
        // shuffled pipeline's order: resuming its round would mix the two.
        let mut shuffled = pipeline.clone();
        shuffled.data.pool_shuffle = Some(0);
        let mut old = plan(&shuffled).unwrap();
        old["data"].as_object_mut().unwrap().remove("pool_shuffle");
        let read = stored_plan(&old.to_string()).unwrap();
        assert_eq!(
            differences(&read, &plan(&shuffled).unwrap(), ""),
            ["data.pool_shuffle"]
        );
    }
}
