//! Running a finished round again: over from the start, or from one phase on,
//! keeping what the phases before it stored as long as the settings they read
//! are the ones the round ran with.

use std::path::Path;

use anyhow::{Context, bail};
use evolve_store::{RoundRecord, Store};
use serde_json::Value;

use super::{Phase, stored_plan};
use crate::config::PipelineConfig;
use crate::search_phase::{differences, search_settings_changed};

/// How a finished round is run again (it must be the newest round).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redo {
    /// From the start: its trees are deleted and grown again.
    Over,
    /// From this phase on, keeping what the phases before it stored. From
    /// the search, the round keeps the trees of the problems still in its
    /// pool and grows trees for the problems new to it (a widened
    /// `[data] pool_per_round`); trees of problems that left the pool are
    /// deleted.
    From(Phase),
}

/// `[data]` settings that only say how many problems a round takes: the one
/// search-phase setting a redo that keeps the trees may change.
const POOL_SIZE_KEYS: [&str; 3] = [
    "data.pool_per_round",
    "data.pool_limit",
    "data.revisit_unsolved",
];

/// Settings the search of a round redone from `Search` would grow new trees
/// with: `config` (from [`search_round_config`](crate::search_round_config))
/// and the PPM it names.
pub(super) struct SearchNow<'a> {
    pub config: &'a Value,
    pub ppm: Option<&'a Path>,
}

/// Clears the phases of `round` from `from` on, after checking that no
/// setting the phases before `from` read differs from the round's stored
/// plan. From the search, `search` must match what the round's trees were
/// grown with, and only the round's own pool size may have changed.
pub(super) async fn redo_from(
    store: &Store,
    pipeline: &PipelineConfig,
    round: &RoundRecord,
    plan: &Value,
    from: Phase,
    search: Option<SearchNow<'_>>,
) -> anyhow::Result<()> {
    let number = round.number;
    if let Some(search) = search {
        let searched = store
            .round(&pipeline.name, number)
            .await?
            .with_context(|| format!("round {number} of {}", pipeline.name))?;
        let differ = search_settings_changed(&searched, &pipeline.name, search.config, search.ppm)?;
        if !differ.is_empty() {
            bail!(
                "round {number} of {} grew its trees with other settings ({}); restore them to keep the trees, or pass --redo to grow them again",
                pipeline.name,
                differ.join(", ")
            );
        }
    }
    if let Some(stored) = &round.plan {
        let stored =
            stored_plan(stored).with_context(|| format!("reading the plan of round {number}"))?;
        let differ = differences(&stored, plan, "");
        let pool_changed = differ
            .iter()
            .any(|key| POOL_SIZE_KEYS.contains(&key.as_str()));
        let earlier: Vec<String> = differ
            .into_iter()
            .filter(|key| {
                let reader = Phase::first_reader(key);
                reader < from
                    || (reader == Phase::Search && !POOL_SIZE_KEYS.contains(&key.as_str()))
            })
            .collect();
        if !earlier.is_empty() {
            let read_by = if from == Phase::Search {
                "which its search read (a redo that keeps the trees may change only [data] pool sizes)".to_owned()
            } else {
                format!("which phases before {from} read")
            };
            bail!(
                "round {number} of {} ran with other settings ({}), {read_by}; restore them, or pass --redo to run the round again from the start",
                pipeline.name,
                earlier.join(", ")
            );
        }
        if pool_changed {
            check_earlier_pools(&stored, pipeline, number)?;
        }
    }
    let phases: Vec<&str> = Phase::ALL
        .into_iter()
        .filter(|p| *p >= from)
        .map(Phase::name)
        .collect();
    store.reset_phases(round.id, &phases).await?;
    Ok(())
}

/// A round's pool starts after the problems earlier rounds took: a redo may
/// change how many the round itself takes, not how many earlier rounds took,
/// or its pool would overlap theirs or leave a gap.
fn check_earlier_pools(
    stored: &Value,
    pipeline: &PipelineConfig,
    number: i64,
) -> anyhow::Result<()> {
    let stored = serde_json::from_value::<PipelineConfig>(stored.clone()).with_context(|| {
        format!("reading the pool sizes round {number} ran with; pass --redo to run it again from the start")
    })?;
    let (was, now) = (
        stored.data.pool_slice(number).0,
        pipeline.data.pool_slice(number).0,
    );
    if was != now {
        bail!(
            "[data] pool_per_round now gives rounds before round {number} {now} problems, not the {was} they searched; change only round {number}'s entry (or later ones), or pass --redo to run the round again from the start"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::round_settings::PerRound;

    #[test]
    fn a_redo_that_keeps_the_trees_may_change_only_the_rounds_own_pool_size() {
        let pipeline = PipelineConfig::load("mawps").unwrap();
        let stored = super::super::plan(&pipeline).unwrap();
        let sizes = |sizes: Vec<usize>| {
            let mut changed = pipeline.clone();
            changed.data.pool_per_round = Some(PerRound::ByRound(sizes));
            changed
        };
        // mawps.toml takes 120, 160, then 220.
        check_earlier_pools(&stored, &sizes(vec![120, 160, 300]), 3).unwrap();
        check_earlier_pools(&stored, &sizes(vec![120, 160]), 3).unwrap();
        let err = check_earlier_pools(&stored, &sizes(vec![120, 200, 220]), 3)
            .unwrap_err()
            .to_string();
        assert!(err.contains("280") && err.contains("320"), "{err}");
        // Round 1 passes over nothing, whatever the sizes.
        check_earlier_pools(&stored, &sizes(vec![60]), 1).unwrap();
        let plain = PipelineConfig {
            data: crate::DataSettings {
                pool_per_round: None,
                revisit_unsolved: None,
                ..pipeline.data.clone()
            },
            ..pipeline.clone()
        };
        let err = check_earlier_pools(&stored, &plain, 2)
            .unwrap_err()
            .to_string();
        assert!(err.contains("120"), "{err}");
    }
}
