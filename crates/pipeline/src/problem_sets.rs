//! The round's problem sets: standard sets it names are imported when the
//! database lacks them, and a held-out set that is also searched is split
//! (seeded, as `evolve data split` does), so a round never measures a model on
//! the problems it was trained on.

use anyhow::{Context, bail};
use evolve_data::{read_problems, standard_set};
use evolve_store::{NewDataset, Store};

use crate::config::PipelineConfig;

/// Imports and splits what the round needs; `note` hears what was done.
pub async fn prepare_problem_sets(
    store: &Store,
    pipeline: &PipelineConfig,
    note: &mut dyn FnMut(String),
) -> anyhow::Result<()> {
    let stored = store.list_datasets().await?;
    let mut names: Vec<&String> = Vec::new();
    for name in pipeline.data.pool.iter().chain(pipeline.eval_datasets()) {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    for name in names {
        if stored.iter().any(|d| &d.name == name) {
            continue;
        }
        let Some(set) = standard_set(name) else {
            bail!(
                "dataset {name} is not in the database and is not a standard set; import it with `evolve data import --file FILE --format FORMAT --name {name}`"
            );
        };
        let data_dir = evolve_data::data_dir();
        let path = data_dir.join(set.file);
        if !path.is_file() {
            bail!(
                "dataset {name} is not in the database and its file {} is missing; run scripts/fetch-data.sh first",
                path.display()
            );
        }
        let problems = read_problems(&path, &set.format, set.broken_lines)?;
        let report = store
            .import_problems(
                &NewDataset {
                    name: set.name.to_owned(),
                    format: set.format.name().to_owned(),
                    source: Some(path.display().to_string()),
                },
                &problems,
            )
            .await
            .with_context(|| format!("importing {}", path.display()))?;
        note(format!("imported {name}: {} problems", report.added));
    }

    for name in pipeline.eval_datasets() {
        if !pipeline.data.pool.contains(name) {
            continue;
        }
        let problems = store.problems(name, None).await?;
        let split = problems.iter().any(|p| p.split.is_some());
        match &pipeline.data.split {
            Some(s) => {
                let report = store
                    .split_dataset(name, s.held_out, s.seed, false)
                    .await
                    .with_context(|| format!("splitting {name} as [data] split says"))?;
                if report.changed {
                    note(format!(
                        "split {name}: {} pool, {} held out (seed {})",
                        report.pool, report.held_out, s.seed
                    ));
                }
            }
            None if split => {}
            None => bail!(
                "{name} is both searched and held out but is not split; add [data] split = {{ held_out = N }} or run `evolve data split {name} --held-out N`"
            ),
        }
    }
    Ok(())
}
