//! The sections of a pipeline file that `evolve round` reads beyond the search:
//! models, problem pool and held-out sets, per-round search changes, export,
//! training and evaluation settings. Every section has defaults, so a file
//! with only `[search]` and `[formats]` still serves `evolve search`.

use std::path::PathBuf;

use anyhow::bail;
use serde::{Deserialize, Serialize};

use crate::config::{SearchSettings, StepFormat};

/// The models a pipeline starts from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelSettings {
    /// The first round's policy (GGUF); `None`: the default model of
    /// scripts/fetch-model.sh.
    pub policy: Option<PathBuf>,
    /// How the policy's weights are held for search and evaluation.
    pub weights: String,
    /// Compute threads (`None`: every core; `--threads` overrides).
    pub threads: Option<usize>,
}

impl Default for ModelSettings {
    fn default() -> ModelSettings {
        ModelSettings {
            policy: None,
            weights: "auto".into(),
            threads: None,
        }
    }
}

/// Which problems a round searches and which it is measured on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataSettings {
    /// Datasets whose problems are searched (the pool split of a split dataset).
    pub pool: Vec<String>,
    /// The first N pool problems of each pool dataset, in import order.
    pub pool_limit: Option<usize>,
    /// Each round searches the next N pool problems of each pool dataset
    /// (round r: problems (r-1)N+1 to rN), so that the SFT set of all rounds
    /// grows by new problems; a list gives each round its own N (the last
    /// one serves every later round); unset, every round searches the same
    /// ones.
    pub pool_per_round: Option<PoolPerRound>,
    /// Take the pool problems in an order shuffled with this seed, not in
    /// import order: a dataset stored by kind of problem (MultiArith is)
    /// then gives every round a sample of every kind.
    pub pool_shuffle: Option<u64>,
    /// Each round also searches again up to N problems of earlier rounds'
    /// pools that no earlier round solved, now with a stronger policy
    /// (rStar-Math reruns its unsolved problems); a list gives each round its
    /// own N, the last serving later rounds. Only with `pool_per_round`.
    pub revisit_unsolved: Option<PoolPerRound>,
    /// Datasets the models are evaluated on (the held-out split of a split dataset).
    pub held_out: Vec<String>,
    /// How an unsplit held-out dataset that is also in the pool is split.
    pub split: Option<SplitSettings>,
}

impl DataSettings {
    /// Which pool problems of each dataset round `round` searches: how many to
    /// pass over and how many to take.
    pub fn pool_slice(&self, round: i64) -> (usize, Option<usize>) {
        match &self.pool_per_round {
            Some(sizes) => {
                let skip = (1..round.max(1)).map(|r| sizes.size_of_round(r)).sum();
                (skip, Some(sizes.size_of_round(round)))
            }
            None => (0, self.pool_limit),
        }
    }

    /// How many unsolved problems of earlier rounds round `round` searches
    /// again (round 1 has none to revisit).
    pub fn revisit_of_round(&self, round: i64) -> usize {
        match &self.revisit_unsolved {
            Some(sizes) if round > 1 => sizes.size_of_round(round),
            _ => 0,
        }
    }
}

/// A setting that is one value for every round, or one value per round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PerRound<T> {
    /// The same value every round.
    Every(T),
    /// Round r takes the r-th value; rounds past the list take its last.
    ByRound(Vec<T>),
}

impl<T> PerRound<T> {
    /// The values as written: one for `Every`, the list for `ByRound`.
    pub fn values(&self) -> &[T] {
        match self {
            PerRound::Every(value) => std::slice::from_ref(value),
            PerRound::ByRound(values) => values,
        }
    }
}

impl<T: Copy> PerRound<T> {
    /// The value of round `round` (1-based); `None` for an empty list.
    pub fn of_round(&self, round: i64) -> Option<T> {
        match self {
            PerRound::Every(value) => Some(*value),
            PerRound::ByRound(values) => values
                .get(round.max(1) as usize - 1)
                .or(values.last())
                .copied(),
        }
    }
}

/// `[data] pool_per_round` and `revisit_unsolved`: one number of problems
/// for every round, or one per round.
pub type PoolPerRound = PerRound<usize>;

impl PoolPerRound {
    /// How many problems round `round` (1-based) takes (0 for an empty list).
    pub fn size_of_round(&self, round: i64) -> usize {
        self.of_round(round).unwrap_or(0)
    }

    /// Whether some round would search no problem.
    pub fn has_empty_round(&self) -> bool {
        self.values().is_empty() || self.values().contains(&0)
    }
}

/// A seeded held-out split, as `evolve data split` makes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitSettings {
    /// Problems held out.
    pub held_out: usize,
    /// Split seed.
    #[serde(default)]
    pub seed: u64,
}

/// How rounds differ from one another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoundSettings {
    /// Rounds after the first start each new step's value from the previous
    /// round's PPM (rStar-Math's PPM-augmented MCTS); round 1 has none and is
    /// terminal-guided.
    pub ppm_search: bool,
    /// The first round whose search uses the previous round's PPM (2).
    /// rStar-Math's is 3: round 2 still searches terminal-guided, with the
    /// stronger policy, to train a reliable PPM.
    pub ppm_search_from: i64,
    /// Changes to `[search]` for round 1 only.
    pub first_search: SearchOverrides,
    /// Changes to `[search]` for rounds 2 and later.
    pub later_search: SearchOverrides,
}

impl Default for RoundSettings {
    fn default() -> RoundSettings {
        RoundSettings {
            ppm_search: true,
            ppm_search_from: 2,
            first_search: SearchOverrides::default(),
            later_search: SearchOverrides::default(),
        }
    }
}

/// Search settings to change; unset ones keep `[search]`'s value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[allow(missing_docs)]
pub struct SearchOverrides {
    pub step_format: Option<StepFormat>,
    pub rollouts: Option<u32>,
    pub candidates: Option<usize>,
    pub c: Option<f64>,
    pub max_depth: Option<usize>,
    pub max_step_tokens: Option<usize>,
    pub max_path_tokens: Option<usize>,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub top_k: Option<usize>,
    pub trees_in_flight: Option<usize>,
    pub seed: Option<u64>,
    pub max_seconds_per_tree: Option<f64>,
}

impl SearchOverrides {
    /// `base` with these changes.
    pub fn apply(&self, base: &SearchSettings) -> SearchSettings {
        let mut s = base.clone();
        macro_rules! set {
            ($($field:ident),*) => { $(if let Some(v) = self.$field { s.$field = v; })* };
        }
        set!(
            step_format,
            rollouts,
            candidates,
            c,
            max_depth,
            max_step_tokens,
            max_path_tokens,
            temperature,
            top_p,
            top_k,
            trees_in_flight,
            seed
        );
        if self.max_seconds_per_tree.is_some() {
            s.max_seconds_per_tree = self.max_seconds_per_tree;
        }
        s
    }
}

/// Which preference pairs the PPM trains on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PairKind {
    /// Sibling steps under a shared prefix (rStar-Math).
    Steps,
    /// Whole correct solutions against whole wrong ones.
    Solutions,
}

/// What the export phase selects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExportSettings {
    /// SFT: the top N correct trajectories of each problem.
    pub sft_per_problem: usize,
    /// SFT: lowest mean Q a trajectory may have.
    pub sft_min_q: Option<f64>,
    /// SFT: only trajectories whose steps computed their answer, not guesses.
    pub sft_computed_answer: bool,
    /// SFT: of a problem's correct trajectories only those with the fewest
    /// arithmetic claims.
    pub sft_fewest_claims: bool,
    /// SFT: only trajectories that compute with every number of the question.
    pub sft_all_numbers_used: bool,
    /// Pairs: step pairs or solution pairs.
    pub pairs: PairKind,
    /// Pairs: least Q margin.
    pub pair_margin: f64,
    /// Pairs: least edit distance in characters.
    pub pair_edit_distance: usize,
    /// Pairs: most per problem.
    pub pairs_per_problem: Option<usize>,
    /// Put the pipeline's worked examples before the question, as the search's
    /// prompt (and the evaluation's) does.
    pub few_shot: bool,
    /// Put the system prompt first.
    pub system: bool,
}

impl Default for ExportSettings {
    fn default() -> ExportSettings {
        ExportSettings {
            sft_per_problem: 2,
            sft_min_q: None,
            sft_computed_answer: false,
            sft_fewest_claims: false,
            sft_all_numbers_used: false,
            pairs: PairKind::Steps,
            pair_margin: 0.5,
            pair_edit_distance: 20,
            pairs_per_problem: None,
            few_shot: true,
            system: true,
        }
    }
}

/// Training of the next policy and PPM.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainSettings {
    /// Policy SFT.
    pub policy: PolicyTrainSettings,
    /// PPM training.
    pub ppm: PpmTrainSettings,
}

/// Which policy a round fine-tunes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrainFrom {
    /// The policy the round searched with (the previous round's).
    Previous,
    /// The pipeline's first policy, every round (rStar-Math).
    Base,
}

/// Which SFT rows a round trains on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrainData {
    /// This round's export.
    Round,
    /// The exports of this round and every earlier one, concatenated.
    All,
}

/// Policy SFT settings (see `evolve train policy --help`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[allow(missing_docs)]
pub struct PolicyTrainSettings {
    /// Which policy each round fine-tunes; a list gives each round its own.
    pub from: PerRound<TrainFrom>,
    /// Which rows each round trains on; a list gives each round its own.
    pub data: PerRound<TrainData>,
    /// The weight of the previous policy (the one the round searched with)
    /// in a weight average with the one the round fine-tuned; 0: no average.
    /// A list gives each round its own.
    pub average_previous: PerRound<f64>,
    /// Fine-tunes a round trains, each with its own seed (`seed`, `seed + 1`,
    /// ...), and averages into its policy (a model soup), before any
    /// `average_previous`; 1 is a plain fine-tune. A list gives each round
    /// its own.
    pub soup: PerRound<usize>,
    /// `lora` or `full`.
    pub method: String,
    pub lora_rank: usize,
    pub lora_alpha: Option<f64>,
    pub lora_layers: usize,
    pub epochs: usize,
    /// Peak learning rate (`None`: 1e-3 for LoRA, 2e-5 for full).
    pub lr: Option<f64>,
    pub warmup: f64,
    pub batch_size: usize,
    pub grad_accum: usize,
    pub max_seq_len: usize,
    pub held_out: f64,
    pub seed: u64,
    /// Fewer SFT rows than this: the round keeps the policy it searched with.
    pub min_rows: usize,
}

impl Default for PolicyTrainSettings {
    fn default() -> PolicyTrainSettings {
        PolicyTrainSettings {
            from: PerRound::Every(TrainFrom::Previous),
            data: PerRound::Every(TrainData::Round),
            average_previous: PerRound::Every(0.0),
            soup: PerRound::Every(1),
            method: "lora".into(),
            lora_rank: 16,
            lora_alpha: None,
            lora_layers: 15,
            epochs: 2,
            lr: None,
            warmup: 0.1,
            batch_size: 2,
            grad_accum: 4,
            max_seq_len: 512,
            held_out: 0.05,
            seed: 0,
            min_rows: 1,
        }
    }
}

/// PPM settings (see `evolve train ppm --help`); the PPM starts from the
/// round's new policy, as in rStar-Math.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[allow(missing_docs)]
pub struct PpmTrainSettings {
    /// Train a PPM at all.
    pub enabled: bool,
    /// This round's pairs, or (`all`) every round's so far.
    pub data: TrainData,
    /// `head`, `top-layers`, `lora` or `full`.
    pub method: String,
    pub top_layers: usize,
    pub lora_rank: usize,
    pub epochs: usize,
    /// Peak learning rate (`None`: 1e-3 for head, 1e-4 otherwise).
    pub lr: Option<f64>,
    pub warmup: f64,
    pub batch_size: usize,
    pub grad_accum: usize,
    pub max_seq_len: usize,
    pub held_out: f64,
    pub seed: u64,
    /// Fewer pairs than this: the round keeps the PPM it searched with.
    pub min_pairs: usize,
}

impl Default for PpmTrainSettings {
    fn default() -> PpmTrainSettings {
        PpmTrainSettings {
            enabled: true,
            data: TrainData::Round,
            method: "head".into(),
            top_layers: 4,
            lora_rank: 16,
            epochs: 2,
            lr: None,
            warmup: 0.1,
            batch_size: 2,
            grad_accum: 4,
            max_seq_len: 512,
            held_out: 0.05,
            seed: 0,
            min_pairs: 4,
        }
    }
}

/// How each round's models are measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvalSettings {
    /// Test-time strategies (see `evolve solve --help`); those that score
    /// steps use the round's PPM.
    pub strategies: Vec<String>,
    /// Datasets (`[]`: the held-out datasets of `[data]`).
    pub datasets: Vec<String>,
    /// The first N questions of each.
    pub limit: Option<usize>,
    /// Per-strategy question limits over `limit` (`{ "maj@8" = 40 }`: a vote
    /// of 8 costs 8 solutions a question).
    pub limits: std::collections::BTreeMap<String, usize>,
    /// Round 1 also measures the policy it started from, as round 0.
    pub base: bool,
}

impl Default for EvalSettings {
    fn default() -> EvalSettings {
        EvalSettings {
            strategies: vec!["greedy".into()],
            datasets: Vec::new(),
            limit: None,
            limits: Default::default(),
            base: true,
        }
    }
}

impl EvalSettings {
    /// The questions `strategy` is measured on.
    pub fn limit_of(&self, strategy: &evolve_strategy::Strategy) -> Option<usize> {
        self.limits
            .get(&strategy.to_string())
            .copied()
            .or(self.limit)
    }
}

impl PolicyTrainSettings {
    /// Which policy round `round` fine-tunes and on which rows.
    pub fn schedule(&self, round: i64) -> anyhow::Result<(TrainFrom, TrainData)> {
        match (self.from.of_round(round), self.data.of_round(round)) {
            (Some(from), Some(data)) => Ok((from, data)),
            _ => bail!("[train.policy] from or data is []: name a value for every round"),
        }
    }

    /// The weight of the previous policy in round `round`'s average (0: none).
    pub fn average_previous_of(&self, round: i64) -> anyhow::Result<f64> {
        match self.average_previous.of_round(round) {
            Some(w) if (0.0..1.0).contains(&w) => Ok(w),
            Some(w) => bail!(
                "[train.policy] average_previous is {w} for round {round}: use a weight from 0 (no average) up to, not including, 1"
            ),
            None => bail!("[train.policy] average_previous is []: name a weight for every round"),
        }
    }

    /// Checks the method and every value written per round (an empty list
    /// included), so that a bad one fails before round 1, not in its round.
    pub fn check(&self) -> anyhow::Result<()> {
        self.method()?;
        self.schedule(1)?;
        let listed = |values: usize| 1..=values.max(1) as i64;
        for round in listed(self.average_previous.values().len()) {
            self.average_previous_of(round)?;
        }
        for round in listed(self.soup.values().len()) {
            self.soup_of(round)?;
        }
        Ok(())
    }

    /// How many fine-tunes round `round` averages into its policy.
    pub fn soup_of(&self, round: i64) -> anyhow::Result<usize> {
        match self.soup.of_round(round) {
            Some(n) if n >= 1 => Ok(n),
            Some(n) => bail!(
                "[train.policy] soup is {n} for round {round}: train 1 fine-tune (no soup) or more"
            ),
            None => bail!("[train.policy] soup is []: name a count for every round"),
        }
    }

    /// The method, checked.
    pub fn method(&self) -> anyhow::Result<evolve_train::Method> {
        Ok(match self.method.as_str() {
            "lora" => evolve_train::Method::Lora {
                rank: self.lora_rank,
                alpha: self.lora_alpha.unwrap_or(2.0 * self.lora_rank as f64),
                layers: self.lora_layers,
            },
            "full" => evolve_train::Method::Full,
            other => bail!("[train.policy] method {other:?}: use lora or full"),
        })
    }
}

impl PpmTrainSettings {
    /// The method, checked.
    pub fn method(&self) -> anyhow::Result<evolve_train::Method> {
        Ok(match self.method.as_str() {
            "head" => evolve_train::Method::Frozen,
            "top-layers" => evolve_train::Method::TopLayers {
                layers: self.top_layers,
            },
            "lora" => evolve_train::Method::Lora {
                rank: self.lora_rank,
                alpha: 2.0 * self.lora_rank as f64,
                layers: 0,
            },
            "full" => evolve_train::Method::Full,
            other => bail!("[train.ppm] method {other:?}: use head, top-layers, lora or full"),
        })
    }
}
