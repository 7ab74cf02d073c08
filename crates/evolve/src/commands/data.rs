//! `evolve data import | list | split`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use evolve_data::{Format, GenericFields, STANDARD_SETS, read_problems, standard_set};
use evolve_store::NewDataset;

use super::{Output, open};
use crate::cli::{ImportArgs, ListArgs, SplitArgs};
use crate::table;

/// One file to import under one dataset name.
struct ImportJob {
    name: String,
    path: PathBuf,
    format: Format,
    expected: Option<usize>,
    broken_lines: &'static [usize],
}

pub async fn import(db: &Path, args: ImportArgs, out: Output) -> anyhow::Result<ExitCode> {
    let jobs = import_jobs(&args)?;
    let store = open(db).await?;
    for job in jobs {
        let problems = read_problems(&job.path, &job.format, job.broken_lines)?;
        for line in job.broken_lines {
            out.status(format!(
                "{}: skipped line {line}, which has no usable problem in the published set",
                job.name
            ));
        }
        if let Some(expected) = job.expected.filter(|&e| e != problems.len()) {
            out.status(format!(
                "warning: {} has {} problems where the standard set has {expected}; is the download complete?",
                job.path.display(),
                problems.len()
            ));
        }
        let dataset = NewDataset {
            name: job.name.clone(),
            format: job.format.name().to_owned(),
            source: Some(job.path.display().to_string()),
        };
        let report = store
            .import_problems(&dataset, &problems)
            .await
            .with_context(|| {
                format!(
                    "importing {} (nothing from this file was stored)",
                    job.path.display()
                )
            })?;
        out.status(format!(
            "{}: {} problems ({} added, {} already stored)",
            job.name,
            report.added + report.unchanged,
            report.added,
            report.unchanged
        ));
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

fn import_jobs(args: &ImportArgs) -> anyhow::Result<Vec<ImportJob>> {
    if let Some(path) = &args.file {
        let format_name = args.format.as_deref().unwrap_or_default();
        let format = match Format::from_name(format_name) {
            Some(Format::Generic(_)) => Format::Generic(GenericFields {
                question: args.question_field.clone(),
                answer: args.answer_field.clone(),
                solution: args.solution_field.clone(),
                id: args.id_field.clone(),
                level: args.level_field.clone(),
                subject: args.subject_field.clone(),
            }),
            Some(format) => format,
            None => bail!(
                "unknown format {format_name:?}; expected one of gsm8k, math, math500, svamp, mawps, asdiv, generic"
            ),
        };
        let name = match &args.name {
            Some(name) => name.clone(),
            None => path
                .file_stem()
                .and_then(|s| s.to_str())
                .with_context(|| {
                    format!(
                        "cannot name a dataset after {}; pass --name",
                        path.display()
                    )
                })?
                .to_owned(),
        };
        return Ok(vec![ImportJob {
            name,
            path: path.clone(),
            format,
            expected: None,
            broken_lines: &[],
        }]);
    }

    let names: Vec<&str> = if args.all {
        STANDARD_SETS.iter().map(|s| s.name).collect()
    } else if args.sets.is_empty() {
        bail!(
            "name the sets to import ({}), or pass --all, or --file PATH --format FORMAT",
            standard_names()
        );
    } else {
        args.sets.iter().map(String::as_str).collect()
    };
    let data_dir = args.data_dir.clone().unwrap_or_else(evolve_data::data_dir);
    if !data_dir.is_dir() {
        bail!(
            "benchmark data not found at {}; run scripts/fetch-data.sh first (or set EVOLVE_CACHE / --data-dir)",
            data_dir.display()
        );
    }
    names
        .into_iter()
        .map(|name| {
            let set = standard_set(name).with_context(|| {
                format!(
                    "no standard set named {name:?}; known sets: {}",
                    standard_names()
                )
            })?;
            Ok(ImportJob {
                name: set.name.to_owned(),
                path: data_dir.join(set.file),
                format: set.format.clone(),
                expected: Some(set.problems),
                broken_lines: set.broken_lines,
            })
        })
        .collect()
}

fn standard_names() -> String {
    STANDARD_SETS
        .iter()
        .map(|s| s.name)
        .collect::<Vec<_>>()
        .join(", ")
}

pub async fn list(db: &Path, args: ListArgs) -> anyhow::Result<ExitCode> {
    let store = open(db).await?;
    let datasets = store.list_datasets().await?;
    store.close().await;
    if args.json {
        for d in &datasets {
            let row = serde_json::json!({
                "type": "dataset",
                "name": d.name,
                "format": d.format,
                "problems": d.problems,
                "pool": d.pool,
                "held_out": d.held_out,
                "split_seed": d.split_seed,
                "source": d.source,
            });
            println!("{row}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let header: Vec<String> = [
        "dataset", "format", "problems", "pool", "held-out", "seed", "source",
    ]
    .map(String::from)
    .into();
    let rows: Vec<Vec<String>> = datasets
        .iter()
        .map(|d| {
            let split = |n: i64| {
                if d.split_seed.is_some() {
                    n.to_string()
                } else {
                    "-".into()
                }
            };
            vec![
                d.name.clone(),
                d.format.clone(),
                d.problems.to_string(),
                split(d.pool),
                split(d.held_out),
                d.split_seed
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "-".into()),
                d.source.clone().unwrap_or_default(),
            ]
        })
        .collect();
    print!(
        "{}",
        table::render(
            &header,
            &rows,
            &[false, false, true, true, true, true, false]
        )
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn split(db: &Path, args: SplitArgs, out: Output) -> anyhow::Result<ExitCode> {
    let store = open(db).await?;
    let total = store.problems(&args.dataset, None).await?.len();
    let held_out = match (args.held_out, args.held_out_fraction) {
        (Some(n), _) => n,
        (None, Some(f)) if f > 0.0 && f < 1.0 => (total as f64 * f).round() as usize,
        (None, Some(f)) => bail!("--held-out-fraction must be between 0 and 1, got {f}"),
        (None, None) => bail!("pass --held-out N or --held-out-fraction F"),
    };
    if held_out == 0 {
        bail!("holding out 0 problems of {} is not a split", args.dataset);
    }
    let report = store
        .split_dataset(&args.dataset, held_out, args.seed, args.force)
        .await?;
    store.close().await;
    let what = if report.changed {
        "split"
    } else {
        "already split"
    };
    out.status(format!(
        "{}: {what} into {} pool and {} held-out problems (seed {}; see problems.split)",
        args.dataset, report.pool, report.held_out, args.seed
    ));
    Ok(ExitCode::SUCCESS)
}
