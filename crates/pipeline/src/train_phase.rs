//! The training phase: the next policy fine-tuned on an SFT file, saved as
//! GGUF and registered with the model and data it came from.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use evolve_store::{NewModel, Store, StoredExport, Training};
use evolve_train::{
    Method, Ppm, PpmSettings, SaveFormat, SftSettings, TrainModel, TrainProgress, TrainReport,
    read_pairs,
};

use crate::model_hash::{model_sha256, sha256_file};

/// A policy fine-tuning run.
#[derive(Debug, Clone)]
pub struct PolicyTraining {
    /// The GGUF policy to start from.
    pub base: PathBuf,
    /// The SFT JSONL.
    pub data: PathBuf,
    /// Where the new policy goes [default: `models/policy-rROUND.gguf`].
    pub out: Option<PathBuf>,
    /// The round the new policy belongs to (default: one after the round its
    /// data was exported from, else 1).
    pub round: Option<i64>,
    /// What trains.
    pub method: Method,
    /// Optimisation settings.
    pub settings: SftSettings,
    /// Longest sequence, in tokens; longer rows are cut.
    pub max_len: usize,
    /// How the saved file holds its weights.
    pub save_format: SaveFormat,
    /// Average the fine-tuned weights with another model's (see
    /// [`evolve_train::average_gguf`]); the fine-tune alone is kept beside
    /// `out` as `NAME.finetuned.gguf`.
    pub average_with: Option<AverageWith>,
    /// Fine-tunes to train, with seeds `settings.seed`, `settings.seed + 1`,
    /// ..., and average uniformly (a model soup; see
    /// [`evolve_train::soup_gguf`]) before any `average_with`: 1 is a plain
    /// fine-tune. Each one is kept as `NAME.seedS.gguf`.
    pub soup: usize,
}

/// The model a new policy is averaged with, and its weight.
#[derive(Debug, Clone, PartialEq)]
pub struct AverageWith {
    /// A GGUF model of the same architecture (a round's previous policy).
    pub model: PathBuf,
    /// Its weight in the average, between 0 and 1.
    pub weight: f64,
}

/// What a training run (policy or PPM) produced.
#[derive(Debug, Clone)]
pub struct TrainedModel {
    /// Figures of the run (held-out metric: loss for a policy, pair accuracy for a PPM).
    pub report: TrainReport,
    /// Rows read from the data file.
    pub rows: usize,
    /// Rows cut to the length limit (a PPM's pairs lose their prompt's start).
    pub truncated: usize,
    /// The export the data file came from, if evolve wrote it.
    pub export: Option<StoredExport>,
    /// The new model's row.
    pub model_id: i64,
    /// Its round.
    pub round: i64,
    /// Its file.
    pub path: PathBuf,
}

/// Fine-tunes `job.base` on `job.data`, writes `job.out` and registers it.
pub async fn train_policy(
    store: &Store,
    job: &PolicyTraining,
    progress: &mut dyn TrainProgress,
) -> Result<TrainedModel> {
    let data_sha256 = sha256_file(&job.data)?;
    let export = store.export_by_sha256(&data_sha256).await?;
    let round = job
        .round
        .or(export.as_ref().map(|e| e.round + 1))
        .unwrap_or(1);
    let out = job
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("models/policy-r{round}.gguf")));
    let finetuned = job.average_with.as_ref().map(|_| finetuned_path(&out));
    if let Some(with) = &job.average_with {
        evolve_train::check_average(&job.base, &with.model, with.weight)?;
    }
    if job.soup == 0 {
        bail!("a policy soup of 0 fine-tunes: train 1 or more");
    }
    // The fine-tune, or the soup of several, before any average.
    let unaveraged = finetuned.clone().unwrap_or_else(|| out.clone());
    let seeds: Vec<u64> = (0..job.soup as u64)
        .map(|k| job.settings.seed + k)
        .collect();
    let members: Vec<PathBuf> = match seeds.as_slice() {
        [_] => vec![unaveraged.clone()],
        _ => seeds.iter().map(|s| soup_member_path(&out, *s)).collect(),
    };
    let (rows, truncated, reports) = tokio::task::block_in_place(|| -> Result<_> {
        // The rows are read once; each seed starts from a fresh copy of the base.
        let mut fresh = Some(TrainModel::load(&job.base)?);
        let (tokenizer, template) = fresh.as_ref().expect("just loaded").text()?;
        let (examples, truncated) =
            evolve_train::read_sft(&job.data, tokenizer, template, job.max_len)?;
        let mut reports = Vec::with_capacity(seeds.len());
        for (seed, member) in seeds.iter().zip(&members) {
            let mut model = match fresh.take() {
                Some(model) => model,
                None => TrainModel::load(&job.base)?,
            };
            let settings = SftSettings {
                seed: *seed,
                ..job.settings.clone()
            };
            model.prepare(job.method, settings.seed)?;
            reports.push(evolve_train::train_sft(
                &model, &examples, &settings, progress,
            )?);
            model.save_gguf(member, job.save_format)?;
        }
        if members.len() > 1 {
            let refs: Vec<&Path> = members.iter().map(PathBuf::as_path).collect();
            evolve_train::soup_gguf(&refs, &unaveraged)?;
        }
        if let Some(with) = &job.average_with {
            evolve_train::average_gguf(&unaveraged, &with.model, with.weight, &out)?;
        }
        Ok((examples.len(), truncated, reports))
    })?;
    let report = reports[0].clone();
    let averaged = match (&job.average_with, &finetuned) {
        (Some(with), Some(finetuned)) => serde_json::json!({
            "finetuned": absolute(finetuned),
            "with": absolute(&with.model),
            "with_sha256": sha256_file(&with.model)?,
            "weight": with.weight,
        }),
        _ => serde_json::Value::Null,
    };
    let soup = match members.len() {
        1 => serde_json::Value::Null,
        _ => serde_json::json!(
            seeds
                .iter()
                .zip(&members)
                .zip(&reports)
                .map(|((seed, path), report)| serde_json::json!({
                    "seed": seed,
                    "path": absolute(path),
                    "report": report,
                }))
                .collect::<Vec<_>>()
        ),
    };

    let model_id = register(
        store,
        "policy",
        &job.base,
        &out,
        round,
        export.as_ref(),
        &job.data,
        data_sha256,
        serde_json::json!({
            "method": evolve_train::bench::describe(job.method),
            "settings": job.settings,
            "max_len": job.max_len,
            "rows": rows,
            "truncated": truncated,
            "report": report,
            "soup": soup,
            "averaged": averaged,
        }),
    )
    .await?;
    Ok(TrainedModel {
        report,
        rows,
        truncated,
        export,
        model_id,
        round,
        path: out,
    })
}

/// Where a soup keeps its fine-tune of seed `seed`: `NAME.seedS.gguf` beside
/// `out`.
pub fn soup_member_path(out: &Path, seed: u64) -> PathBuf {
    out.with_extension(format!("seed{seed}.gguf"))
}

/// Registers `base` (if new) and `out`, the model trained from it on `data`.
#[allow(clippy::too_many_arguments)]
async fn register(
    store: &Store,
    role: &str,
    base: &Path,
    out: &Path,
    round: i64,
    export: Option<&StoredExport>,
    data: &Path,
    data_sha256: String,
    metrics: serde_json::Value,
) -> Result<i64> {
    let base_id = store
        .register_model(&NewModel {
            role: "policy".into(),
            round: export.map_or(0, |e| e.round),
            name: file_stem(base),
            path: absolute(base),
            format: "gguf".into(),
            sha256: sha256_file(base)?,
        })
        .await?;
    let model_id = store
        .register_model(&NewModel {
            role: role.into(),
            round,
            name: file_stem(out),
            path: absolute(out),
            format: "gguf".into(),
            sha256: model_sha256(role, out)?,
        })
        .await?;
    store
        .record_training(
            model_id,
            &Training {
                parent_id: Some(base_id),
                export_id: export.map(|e| e.id),
                data_path: absolute(data),
                data_sha256,
                metrics: metrics.to_string(),
            },
        )
        .await?;
    Ok(model_id)
}

/// A PPM training run.
#[derive(Debug, Clone)]
pub struct PpmTraining {
    /// The GGUF model whose backbone the PPM starts from (rStar-Math: the
    /// round's fine-tuned policy).
    pub base: PathBuf,
    /// The pairs JSONL.
    pub data: PathBuf,
    /// Where the PPM goes [default: `models/ppm-rROUND.gguf`, head beside it].
    pub out: Option<PathBuf>,
    /// Its round (default: one after the round its data was exported from).
    pub round: Option<i64>,
    /// What trains in the backbone (the head always does).
    pub method: Method,
    /// Optimisation settings.
    pub settings: PpmSettings,
    /// Longest sequence, in tokens; longer prompts lose their start.
    pub max_len: usize,
    /// How the saved backbone holds its weights.
    pub save_format: SaveFormat,
}

/// Trains a PPM from `job.base` on `job.data`, writes it and registers it.
pub async fn train_ppm(
    store: &Store,
    job: &PpmTraining,
    progress: &mut dyn TrainProgress,
) -> Result<TrainedModel> {
    let data_sha256 = sha256_file(&job.data)?;
    let export = store.export_by_sha256(&data_sha256).await?;
    let round = job
        .round
        .or(export.as_ref().map(|e| e.round + 1))
        .unwrap_or(1);
    let out = job
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("models/ppm-r{round}.gguf")));
    let (rows, truncated, report) = tokio::task::block_in_place(|| -> Result<_> {
        let mut ppm = Ppm::new(TrainModel::load(&job.base)?)?;
        let tokenizer = ppm.backbone.text()?.0.clone();
        let (pairs, truncated) = read_pairs(&job.data, &tokenizer, job.max_len)?;
        ppm.prepare(job.method, job.settings.seed)?;
        let report = evolve_train::train_ppm(&ppm, &pairs, &job.settings, progress)?;
        ppm.save(&out, job.save_format)?;
        Ok((pairs.len(), truncated, report))
    })?;
    let model_id = register(
        store,
        "ppm",
        &job.base,
        &out,
        round,
        export.as_ref(),
        &job.data,
        data_sha256,
        serde_json::json!({
            "method": evolve_train::bench::describe(job.method),
            "settings": job.settings,
            "max_len": job.max_len,
            "rows": rows,
            "truncated": truncated,
            "score": "tanh(r), r the value head's output at the last token",
            "report": report,
        }),
    )
    .await?;
    Ok(TrainedModel {
        report,
        rows,
        truncated,
        export,
        model_id,
        round,
        path: out,
    })
}

/// Where a policy averaged into `out` keeps its fine-tune alone:
/// `NAME.finetuned.gguf` beside it.
pub fn finetuned_path(out: &Path) -> PathBuf {
    out.with_extension("finetuned.gguf")
}

fn file_stem(path: &Path) -> Option<String> {
    path.file_stem().map(|s| s.to_string_lossy().into_owned())
}

pub(crate) fn absolute(path: &Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_owned())
        .display()
        .to_string()
}

/// The default learning rate of a PPM: the head alone takes larger steps.
pub fn default_ppm_lr(method: Method) -> f64 {
    if method == Method::Frozen { 1e-3 } else { 1e-4 }
}

/// The default learning rate of a method: LoRA adapters take larger steps.
pub fn default_lr(method: Method) -> f64 {
    match method {
        Method::Lora { .. } => 1e-3,
        _ => 2e-5,
    }
}
