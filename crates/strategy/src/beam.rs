//! Step-level search against the PPM: beam search (one group of `width`
//! beams) and DVTS (many groups of one beam), with optional lookahead.

use evolve_search::{Policy, StepVerifier};

use crate::outcome::Outcome;
use crate::paths::Path;
use crate::solver::{Solver, StrategyError};
use crate::spec::{Aggregate, Selection};

struct Group<S> {
    alive: Vec<Path<S>>,
    finished: usize,
}

impl<P: Policy, V: StepVerifier> Solver<'_, P, V> {
    /// `groups` independent searches, each keeping its `width` best unfinished
    /// paths after every step, each path proposing `candidates` next steps (the
    /// first step: `width x candidates` from the root). A group stops once
    /// `width` of its paths have finished or none is left. Every finished path
    /// is a candidate; the answer is a PPM-weighted vote over them (Snell et
    /// al.'s "best-of-N weighted").
    pub(crate) fn beam(
        &mut self,
        groups: usize,
        width: usize,
        candidates: usize,
        lookahead: usize,
        question: &str,
        key: u64,
    ) -> Result<Outcome, StrategyError> {
        let root = self.root(question)?;
        let mut searches: Vec<Group<P::State>> = (0..groups)
            .map(|g| {
                let mut start = root.clone();
                start.key = g as u64;
                Group {
                    alive: vec![start],
                    finished: 0,
                }
            })
            .collect();
        let mut finished: Vec<Path<P::State>> = Vec::new();
        loop {
            let active: Vec<usize> = (0..searches.len())
                .filter(|&g| !searches[g].alive.is_empty() && searches[g].finished < width)
                .collect();
            if active.is_empty() {
                break;
            }
            let mut owners = Vec::new();
            let mut items: Vec<(&Path<P::State>, usize)> = Vec::new();
            for &g in &active {
                for path in &searches[g].alive {
                    let n = if path.steps.is_empty() {
                        width * candidates
                    } else {
                        candidates
                    };
                    owners.push(g);
                    items.push((path, n));
                }
            }
            let children = self.extend(question, key, &items, false)?;
            drop(items);
            let mut by_group: Vec<Vec<Path<P::State>>> = vec![Vec::new(); searches.len()];
            for (g, these) in owners.into_iter().zip(children) {
                by_group[g].extend(these);
            }
            let mut all: Vec<&mut Path<P::State>> = by_group.iter_mut().flatten().collect();
            self.rank_scores(question, key, &mut all, lookahead)?;
            for (g, children) in by_group.into_iter().enumerate() {
                if !active.contains(&g) {
                    continue;
                }
                let search = &mut searches[g];
                let (done, mut open): (Vec<_>, Vec<_>) = children.into_iter().partition(|p| p.done);
                search.finished += done.len();
                finished.extend(done);
                // Highest score first; the sort is stable, so ties keep proposal order.
                open.sort_by(|a, b| {
                    let score = |p: &Path<P::State>| p.score(Aggregate::Last).unwrap_or(f64::MIN);
                    score(b).total_cmp(&score(a))
                });
                open.truncate(width);
                search.alive = open;
            }
        }
        Ok(self.pick(finished, Aggregate::Last, Selection::Weighted, true))
    }

    /// Scores each path's last step; with `lookahead`, an unfinished path's
    /// score is the PPM's after `lookahead` more greedy steps (the rollout is
    /// thrown away, its compute counted).
    fn rank_scores(
        &mut self,
        question: &str,
        key: u64,
        paths: &mut [&mut Path<P::State>],
        lookahead: usize,
    ) -> Result<(), StrategyError> {
        if lookahead == 0 {
            return self.score(question, paths, false);
        }
        let mut rollouts: Vec<(usize, Path<P::State>)> = paths
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.done)
            .map(|(i, p)| (i, (**p).clone()))
            .collect();
        for _ in 0..lookahead {
            let live: Vec<usize> = (0..rollouts.len())
                .filter(|&r| !rollouts[r].1.done)
                .collect();
            if live.is_empty() {
                break;
            }
            let items: Vec<(&Path<P::State>, usize)> =
                live.iter().map(|&r| (&rollouts[r].1, 1)).collect();
            let next = self.extend(question, key, &items, true)?;
            for (r, mut children) in live.into_iter().zip(next) {
                rollouts[r].1 = children.remove(0);
            }
        }
        {
            let mut ends: Vec<&mut Path<P::State>> = rollouts.iter_mut().map(|(_, p)| p).collect();
            self.score(question, &mut ends, false)?;
        }
        let done: Vec<usize> = (0..paths.len()).filter(|&i| paths[i].done).collect();
        {
            let mut finished: Vec<&mut Path<P::State>> = Vec::new();
            for (i, p) in paths.iter_mut().enumerate() {
                if done.contains(&i) {
                    finished.push(&mut **p);
                }
            }
            self.score(question, &mut finished, false)?;
        }
        for (i, rollout) in rollouts {
            let last = paths[i].scores.len() - 1;
            paths[i].scores[last] = rollout.score(Aggregate::Last);
        }
        Ok(())
    }
}
