//! `evolve status`: each pipeline's rounds with their phases, counts, models,
//! time and held-out accuracy so far.

use std::path::Path;
use std::process::ExitCode;

use evolve_pipeline::{Phase, PipelineConfig};
use evolve_store::{PhaseRecord, RoundRecord, Store};
use serde_json::{Value, json};

use super::open;
use crate::cli::StatusArgs;

pub async fn run(db: &Path, args: StatusArgs) -> anyhow::Result<ExitCode> {
    let store = open(db).await?;
    // A pipeline is named by its built-in name, a file, or the name stored with its rounds.
    let only = args.pipeline.as_deref().map(|p| {
        PipelineConfig::load(p)
            .map(|c| c.name)
            .unwrap_or_else(|_| p.to_owned())
    });
    let rounds: Vec<RoundRecord> = store
        .all_rounds()
        .await?
        .into_iter()
        .filter(|r| r.plan.is_some())
        .filter(|r| only.as_ref().is_none_or(|p| &r.pipeline == p))
        .collect();
    if rounds.is_empty() {
        match &only {
            Some(p) => {
                anyhow::bail!("pipeline {p} has no rounds yet; run `evolve round --pipeline {p}`")
            }
            None => anyhow::bail!("no rounds yet; run `evolve round`"),
        }
    }
    let mut table = Vec::new();
    let mut phase_rows = Vec::new();
    for round in &rounds {
        let phases = store.round_phases(round.id).await?;
        let row = round_row(&store, round, &phases).await?;
        if args.json {
            println!("{row}");
            continue;
        }
        table.push(
            [
                &round.pipeline,
                &round.number.to_string(),
                &round.status,
                &round.phase,
                row["pool"].as_str().unwrap_or("-"),
                &row["sft_rows"].to_string(),
                &row["pairs"].to_string(),
                row["policy"].as_str().unwrap_or("-"),
                row["ppm"].as_str().unwrap_or("-"),
                &format!("{:.0}", row["seconds"].as_f64().unwrap_or(0.0)),
            ]
            .map(|s| s.replace("null", "-")),
        );
        for phase in &phases {
            phase_rows.push(phase_row(round, phase));
        }
    }
    if !args.json {
        print!(
            "{}",
            crate::table::render(
                &[
                    "pipeline",
                    "round",
                    "status",
                    "phase",
                    "pool solved",
                    "SFT rows",
                    "pairs",
                    "policy searched -> trained",
                    "PPM searched -> trained",
                    "seconds",
                ]
                .map(String::from),
                &table.into_iter().map(Vec::from).collect::<Vec<_>>(),
                &[
                    false, true, false, false, true, true, true, false, false, true
                ],
            )
        );
        println!();
        print!(
            "{}",
            crate::table::render(
                &[
                    "pipeline", "round", "phase", "status", "attempts", "seconds", "figures"
                ]
                .map(String::from),
                &phase_rows,
                &[false, true, false, false, true, true, false],
            )
        );
        let mut pipelines: Vec<&str> = rounds.iter().map(|r| r.pipeline.as_str()).collect();
        pipelines.dedup();
        for pipeline in pipelines {
            println!();
            super::round::print_accuracy(&store, pipeline).await?;
        }
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

fn phase_of(name: &str) -> Option<Phase> {
    Phase::ALL.into_iter().find(|p| p.name() == name)
}

fn phase_row(round: &RoundRecord, phase: &PhaseRecord) -> Vec<String> {
    let detail: Value = serde_json::from_str(&phase.detail).unwrap_or_default();
    let figures = match (phase_of(&phase.phase), detail.get("error")) {
        (_, Some(error)) => format!("error: {}", error.as_str().unwrap_or("?")),
        (Some(p), None) if phase.status != "running" => super::round::summary(p, &detail),
        _ => String::new(),
    };
    vec![
        round.pipeline.clone(),
        round.number.to_string(),
        phase.phase.clone(),
        phase.status.clone(),
        phase.attempts.to_string(),
        format!("{:.0}", phase.seconds),
        figures,
    ]
}

/// A round's counts and models, as JSON (printed as is with --json).
async fn round_row(
    store: &Store,
    round: &RoundRecord,
    phases: &[PhaseRecord],
) -> anyhow::Result<Value> {
    let detail = |name: &str| -> Value {
        phases
            .iter()
            .find(|p| p.phase == name)
            .and_then(|p| serde_json::from_str(&p.detail).ok())
            .unwrap_or_default()
    };
    let (trees, solved) = store.round_solve_counts(round.id).await?;
    let name = async |id: Option<i64>| -> anyhow::Result<Option<String>> {
        Ok(match id {
            Some(id) => store.model(id).await?.map(|m| {
                Path::new(&m.path)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or(m.path)
            }),
            None => None,
        })
    };
    let pair = |a: Option<String>, b: Option<String>| match (a, b) {
        (None, None) => None,
        (a, b) => Some(format!(
            "{} -> {}",
            a.unwrap_or_else(|| "none".into()),
            b.unwrap_or_else(|| "-".into())
        )),
    };
    let export = detail("export");
    Ok(json!({
        "pipeline": round.pipeline,
        "round": round.number,
        "status": round.status,
        "phase": round.phase,
        "trees": trees,
        "solved": solved,
        "pool": format!("{solved}/{trees}"),
        "sft_rows": export["sft"]["rows"],
        "pairs": export["pairs"]["rows"],
        "policy": pair(name(round.policy_model_id).await?, name(round.trained_policy_id).await?),
        "ppm": pair(name(round.ppm_model_id).await?, name(round.trained_ppm_id).await?),
        "seconds": phases.iter().map(|p| p.seconds).sum::<f64>(),
        "phases": phases.iter().map(|p| json!({
            "phase": p.phase,
            "status": p.status,
            "attempts": p.attempts,
            "seconds": p.seconds,
            "detail": serde_json::from_str::<Value>(&p.detail).unwrap_or_default(),
        })).collect::<Vec<_>>(),
    }))
}
