//! The five phases of a round, each reading what the phases before it
//! recorded and returning its own figures for `round_phases`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use evolve_export::{Destination, ExportJob, Format, Prompter, RoundPrompts, Rules};
use evolve_lm::{Engine, WeightFormat};
use evolve_store::Store;
use evolve_strategy::Strategy;
use evolve_train::{PpmSettings, SaveFormat, SftSettings};
use serde_json::{Value, json};
use tracing::info;

use super::{Ctx, Done, Phase, RoundObserver, first_policy};
use crate::eval_phase::{EvalJob, run_eval};
use crate::interrupt;
use crate::round_settings::{PairKind, TrainData, TrainFrom};
use crate::search_phase::{SearchJob, run_search};
use crate::train_phase::{
    AverageWith, PolicyTraining, PpmTraining, TrainedModel, absolute, default_lr, default_ppm_lr,
    train_policy, train_ppm,
};

fn load_engine(path: &Path, weights: WeightFormat) -> anyhow::Result<Engine> {
    Engine::load(path, weights, &candle_core::Device::Cpu)
        .with_context(|| format!("loading {}", path.display()))
}

pub(super) async fn search(
    ctx: &Ctx<'_>,
    observer: &mut dyn RoundObserver,
) -> anyhow::Result<Done> {
    let engine = load_engine(&ctx.inputs.policy, ctx.weights)?;
    let mut datasets = Vec::new();
    let (skip, limit) = ctx.pipeline.data.pool_slice(ctx.number);
    for dataset in &ctx.pipeline.data.pool {
        let job = SearchJob {
            dataset: dataset.clone(),
            split: None,
            skip,
            limit,
            shuffle: ctx.pipeline.data.pool_shuffle,
            revisit: ctx.pipeline.data.revisit_of_round(ctx.number),
            round: ctx.number,
            ppm: ctx.inputs.ppm.clone(),
            // A normal run or resume has the pool its plan stored, so this
            // drops trees only after `--redo-from search` narrowed the pool.
            drop_outside_pool: true,
        };
        let summary = run_search(
            ctx.store,
            &engine,
            &ctx.round_pipeline,
            &job,
            observer.search(),
        )
        .await
        .with_context(|| format!("searching {dataset}"))?;
        datasets.push(json!({
            "dataset": dataset,
            "searched": summary.searched,
            "already_stored": summary.already_stored,
            "dropped": summary.dropped,
            "skipped": summary.skipped,
            "solved": summary.solved,
            "tokens": summary.tokens,
            "seconds": summary.wall_seconds,
            "ppm_scored": summary.ppm_scored,
        }));
        if interrupt::stop_requested() {
            break;
        }
    }
    let (trees, solved) = ctx.store.round_solve_counts(ctx.round_id).await?;
    Ok(Done::Done(json!({
        "trees": trees,
        "solved": solved,
        "solve_rate": if trees > 0 { solved as f64 / trees as f64 } else { 0.0 },
        "policy": ctx.inputs.policy.display().to_string(),
        "ppm": ctx.inputs.ppm.as_ref().map(|p| p.display().to_string()),
        "datasets": datasets,
    })))
}

pub(super) async fn export(ctx: &Ctx<'_>) -> anyhow::Result<Done> {
    let settings = &ctx.pipeline.export;
    let round = ctx
        .store
        .round(&ctx.pipeline.name, ctx.number)
        .await?
        .context("the round being run")?;
    let prompts = RoundPrompts::from_round_config(&round.config)?;
    let template = evolve_lm::read_chat_template(&ctx.inputs.policy).with_context(|| {
        format!(
            "reading the chat template of {}",
            ctx.inputs.policy.display()
        )
    })?;
    let prompter = Prompter {
        system: settings.system.then_some(prompts.system),
        examples: if settings.few_shot {
            prompts.examples
        } else {
            Vec::new()
        },
        template: Some(template),
    };
    let pairs_format = match settings.pairs {
        PairKind::Steps => Format::StepPairs,
        PairKind::Solutions => Format::SolutionPairs,
    };
    let jobs = [
        (
            "sft",
            Format::Messages,
            Rules {
                max_per_problem: Some(settings.sft_per_problem),
                min_q: settings.sft_min_q,
                computed_answer: settings.sft_computed_answer,
                fewest_claims: settings.sft_fewest_claims,
                all_numbers_used: settings.sft_all_numbers_used,
                ..Rules::default()
            },
        ),
        (
            "pairs",
            pairs_format,
            Rules {
                max_per_problem: settings.pairs_per_problem,
                min_q: None,
                min_margin: settings.pair_margin,
                min_edit_distance: settings.pair_edit_distance,
                ..Rules::default()
            },
        ),
    ];
    let mut detail = json!({});
    for (kind, format, rules) in jobs {
        let path = ctx.run_dir.join(format!("r{}-{kind}.jsonl", ctx.number));
        let summary = evolve_export::export(
            ctx.store,
            &ExportJob {
                format,
                round: round.clone(),
                dataset: None,
                destination: Destination::parse(&path),
                rules,
                prompter: prompter.clone(),
                // An empty export is a result (no problem solved), not an error:
                // training is then skipped and the round goes on.
                write_empty: true,
            },
        )
        .await?;
        detail[kind] = json!({
            "rows": summary.rows,
            "problems": summary.problems,
            "trees": summary.trees,
            "path": std::path::absolute(&path).unwrap_or(path).display().to_string(),
            "export_id": summary.export_id,
            "summary": summary.line(),
        });
    }
    Ok(Done::Done(detail))
}

/// The figures a phase of this round stored.
async fn phase_detail(store: &Store, round_id: i64, phase: Phase) -> anyhow::Result<Value> {
    let phases = store.round_phases(round_id).await?;
    let record = phases
        .iter()
        .find(|p| p.phase == phase.name())
        .with_context(|| format!("round {round_id} has no {phase} phase"))?;
    serde_json::from_str(&record.detail)
        .with_context(|| format!("reading the {phase} figures of round {round_id}"))
}

/// The path and row count of the `kind` export (`sft` or `pairs`) in round
/// `number`'s export figures.
fn export_file<'a>(detail: &'a Value, kind: &str, number: i64) -> anyhow::Result<(&'a str, u64)> {
    let path = detail[kind]["path"]
        .as_str()
        .with_context(|| format!("the {kind} export's path of round {number}"))?;
    Ok((path, detail[kind]["rows"].as_u64().unwrap_or(0)))
}

/// The export to train on (`kind` is `sft` or `pairs`): this round's, or with
/// `data = "all"` every round's so far, concatenated; and its row count.
async fn training_data(
    ctx: &Ctx<'_>,
    kind: &str,
    data: TrainData,
) -> anyhow::Result<(PathBuf, u64)> {
    if data == TrainData::Round {
        let exported = phase_detail(ctx.store, ctx.round_id, Phase::Export).await?;
        let (path, rows) = export_file(&exported, kind, ctx.number)?;
        return Ok((PathBuf::from(path), rows));
    }
    let mut all = Vec::new();
    let mut total = 0;
    for round in ctx.store.pipeline_rounds(&ctx.pipeline.name).await? {
        if round.number > ctx.number {
            continue;
        }
        let detail = phase_detail(ctx.store, round.id, Phase::Export).await?;
        let (path, rows) = export_file(&detail, kind, round.number)?;
        let text = std::fs::read(path).with_context(|| {
            format!(
                "reading the {kind} export of round {} ({path}) for data = \"all\"",
                round.number
            )
        })?;
        all.extend_from_slice(&text);
        total += rows;
    }
    let path = ctx
        .run_dir
        .join(format!("r{}-{kind}-all.jsonl", ctx.number));
    std::fs::write(&path, all).with_context(|| format!("writing {}", path.display()))?;
    Ok((path, total))
}

pub(super) async fn train_next_policy(
    ctx: &Ctx<'_>,
    observer: &mut dyn RoundObserver,
) -> anyhow::Result<Done> {
    let settings = &ctx.pipeline.train.policy;
    let (from, data) = settings.schedule(ctx.number)?;
    let (data, rows) = training_data(ctx, "sft", data).await?;
    if rows < settings.min_rows as u64 {
        return Ok(Done::Skipped(json!({
            "reason": format!("{rows} SFT rows, fewer than [train.policy] min_rows = {}; the round keeps the policy it searched with", settings.min_rows),
            "rows": rows,
        })));
    }
    let method = settings.method()?;
    let base = match from {
        TrainFrom::Previous => ctx.inputs.policy.clone(),
        TrainFrom::Base => first_policy(ctx.pipeline)?,
    };
    let average = settings.average_previous_of(ctx.number)?;
    let soup = settings.soup_of(ctx.number)?;
    let job = PolicyTraining {
        base: base.clone(),
        data,
        out: Some(ctx.run_dir.join(format!("policy-r{}.gguf", ctx.number))),
        round: Some(ctx.number),
        method,
        settings: SftSettings {
            epochs: settings.epochs,
            lr: settings.lr.unwrap_or(default_lr(method)),
            warmup: settings.warmup,
            batch_size: settings.batch_size,
            grad_accum: settings.grad_accum,
            held_out: settings.held_out,
            seed: settings.seed,
            ..SftSettings::default()
        },
        max_len: settings.max_seq_len,
        save_format: SaveFormat::Q8_0,
        average_with: (average > 0.0).then(|| AverageWith {
            model: ctx.inputs.policy.clone(),
            weight: average,
        }),
        soup,
    };
    let trained = train_policy(ctx.store, &job, observer.train(Phase::TrainPolicy)).await?;
    record_trained(ctx, "policy", &trained, &base).await
}

/// Notes `trained` as the round's `role` model; its figures.
async fn record_trained(
    ctx: &Ctx<'_>,
    role: &str,
    trained: &TrainedModel,
    base: &Path,
) -> anyhow::Result<Done> {
    ctx.store
        .set_trained_model(ctx.round_id, role, trained.model_id)
        .await?;
    Ok(Done::Done(json!({
        "model_id": trained.model_id,
        "path": absolute(&trained.path),
        "base": absolute(base),
        "rows": trained.rows,
        "truncated": trained.truncated,
        "report": trained.report,
    })))
}

pub(super) async fn train_next_ppm(
    ctx: &Ctx<'_>,
    observer: &mut dyn RoundObserver,
) -> anyhow::Result<Done> {
    let settings = &ctx.pipeline.train.ppm;
    if !settings.enabled {
        return Ok(Done::Skipped(
            json!({ "reason": "[train.ppm] enabled = false" }),
        ));
    }
    let (data, rows) = training_data(ctx, "pairs", settings.data).await?;
    if rows < settings.min_pairs as u64 {
        return Ok(Done::Skipped(json!({
            "reason": format!("{rows} preference pairs, fewer than [train.ppm] min_pairs = {}; the round keeps the PPM it searched with", settings.min_pairs),
            "rows": rows,
        })));
    }
    let base = new_policy(ctx).await?;
    let method = settings.method()?;
    let job = PpmTraining {
        base: base.clone(),
        data,
        out: Some(ctx.run_dir.join(format!("ppm-r{}.gguf", ctx.number))),
        round: Some(ctx.number),
        method,
        settings: PpmSettings {
            epochs: settings.epochs,
            lr: settings.lr.unwrap_or(default_ppm_lr(method)),
            warmup: settings.warmup,
            batch_size: settings.batch_size,
            grad_accum: settings.grad_accum,
            held_out: settings.held_out,
            seed: settings.seed,
        },
        max_len: settings.max_seq_len,
        save_format: SaveFormat::Q8_0,
    };
    let trained = train_ppm(ctx.store, &job, observer.train(Phase::TrainPpm)).await?;
    record_trained(ctx, "ppm", &trained, &base).await
}

/// The policy this round ends with: the one it trained, else the one it started from.
async fn new_policy(ctx: &Ctx<'_>) -> anyhow::Result<PathBuf> {
    trained_model(ctx, "policy")
        .await
        .map(|p| p.unwrap_or_else(|| ctx.inputs.policy.clone()))
}

/// The file of the model (`policy` or `ppm`) this round trained, if any.
async fn trained_model(ctx: &Ctx<'_>, role: &str) -> anyhow::Result<Option<PathBuf>> {
    let round = ctx
        .store
        .pipeline_rounds(&ctx.pipeline.name)
        .await?
        .into_iter()
        .find(|r| r.id == ctx.round_id)
        .context("the round being run")?;
    let id = if role == "policy" {
        round.trained_policy_id
    } else {
        round.trained_ppm_id
    };
    let Some(id) = id else { return Ok(None) };
    let model = ctx
        .store
        .model(id)
        .await?
        .with_context(|| format!("model {id}"))?;
    Ok(Some(PathBuf::from(model.path)))
}

pub(super) async fn evaluate(
    ctx: &Ctx<'_>,
    observer: &mut dyn RoundObserver,
) -> anyhow::Result<Done> {
    let strategies: Vec<Strategy> = ctx
        .pipeline
        .eval
        .strategies
        .iter()
        .map(|s| s.parse::<Strategy>().map_err(anyhow::Error::from))
        .collect::<anyhow::Result<_>>()?;
    let policy = new_policy(ctx).await?;
    let ppm = match trained_model(ctx, "ppm").await? {
        Some(ppm) => Some(ppm),
        None => ctx.inputs.ppm.clone(),
    };
    let mut models = Vec::new();
    if ctx.number == 1 && ctx.pipeline.eval.base {
        models.push((0, ctx.inputs.policy.clone(), None));
    }
    models.push((ctx.number, policy, ppm));
    let mut runs = Vec::new();
    'models: for (round, policy, ppm) in models {
        let engine = load_engine(&policy, ctx.weights)?;
        for dataset in ctx.pipeline.eval_datasets() {
            for strategy in &strategies {
                if strategy.needs_scorer() && ppm.is_none() {
                    observer.note(&format!(
                        "round {round}: {strategy} needs a PPM and this round has none; left out"
                    ));
                    continue;
                }
                let what = format!("round {round} policy, {dataset}, {strategy}");
                let job = EvalJob {
                    dataset: dataset.clone(),
                    split: None,
                    limit: ctx.pipeline.eval.limit_of(strategy),
                    strategy: *strategy,
                    ppm: ppm.clone().filter(|_| strategy.needs_scorer()),
                };
                let summary =
                    run_eval(ctx.store, &engine, ctx.pipeline, &job, observer.eval(&what))
                        .await
                        .with_context(|| format!("evaluating {what}"))?;
                let t = &summary.totals;
                info!(round, dataset = %dataset, strategy = %strategy, questions = t.questions, correct = t.correct, "evaluated");
                runs.push(json!({
                    "round": round,
                    "policy": absolute(&policy),
                    "dataset": dataset,
                    "strategy": strategy.to_string(),
                    "evaluation_id": t.id,
                    "questions": t.questions,
                    "correct": t.correct,
                    "accuracy": t.accuracy(),
                    "tokens_per_question": t.tokens_per_question(),
                }));
                if interrupt::stop_requested() {
                    break 'models;
                }
            }
        }
    }
    Ok(Done::Done(json!({ "runs": runs })))
}
