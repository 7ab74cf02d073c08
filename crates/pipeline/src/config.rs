//! Pipeline configurations: `pipelines/*.toml`, built into the binary by name,
//! or any file given by path.

use std::path::Path;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use crate::round_settings::{
    DataSettings, EvalSettings, ExportSettings, ModelSettings, PoolPerRound, RoundSettings,
    TrainSettings,
};

/// The pipelines shipped in `pipelines/`, by name.
pub const BUILTIN: &[(&str, &str)] = &[
    ("default", include_str!("../../../pipelines/default.toml")),
    (
        "quickstart",
        include_str!("../../../pipelines/quickstart.toml"),
    ),
    ("mawps", include_str!("../../../pipelines/mawps.toml")),
    ("gsm8k", include_str!("../../../pipelines/gsm8k.toml")),
    (
        "rstar-math",
        include_str!("../../../pipelines/rstar-math.toml"),
    ),
];

/// A pipeline: search settings and the prompts of each step format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// Name, used for the pipeline's rounds in the database.
    pub name: String,
    /// Search settings.
    pub search: SearchSettings,
    /// Prompts and checks per step format.
    pub formats: Formats,
    /// Limits of the Python sandbox for code steps.
    #[serde(default)]
    pub sandbox: SandboxSettings,
    /// The models the first round starts from.
    #[serde(default)]
    pub models: ModelSettings,
    /// Problem pool and held-out sets of `evolve round`.
    #[serde(default)]
    pub data: DataSettings,
    /// How rounds differ (PPM-augmented search, per-round search changes).
    #[serde(default)]
    pub round: RoundSettings,
    /// What the export phase selects.
    #[serde(default)]
    pub export: ExportSettings,
    /// Training of the next policy and PPM.
    #[serde(default)]
    pub train: TrainSettings,
    /// Evaluation of each round's models.
    #[serde(default)]
    pub eval: EvalSettings,
}

/// How steps are written and checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepFormat {
    /// Natural-language steps separated by a blank line; arithmetic claims checked.
    Text,
    /// A comment and a Python block per step; the code is run in the sandbox.
    Code,
}

impl std::str::FromStr for StepFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<StepFormat, String> {
        match s {
            "text" => Ok(StepFormat::Text),
            "code" => Ok(StepFormat::Code),
            other => Err(format!("unknown step format {other:?}; use text or code")),
        }
    }
}

impl std::fmt::Display for StepFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StepFormat::Text => "text",
            StepFormat::Code => "code",
        })
    }
}

/// MCTS and sampling settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchSettings {
    /// Step format.
    pub step_format: StepFormat,
    /// Rollouts per problem.
    pub rollouts: u32,
    /// Candidate steps per expansion.
    pub candidates: usize,
    /// UCT exploration constant.
    pub c: f64,
    /// Most steps in a solution.
    pub max_depth: usize,
    /// Most tokens in one step.
    pub max_step_tokens: usize,
    /// Most generated tokens in one solution.
    pub max_path_tokens: usize,
    /// Sampling temperature.
    pub temperature: f32,
    /// Nucleus sampling threshold.
    pub top_p: f32,
    /// Top-k sampling (0: off).
    pub top_k: usize,
    /// Trees grown at once.
    pub trees_in_flight: usize,
    /// Search seed.
    pub seed: u64,
    /// Wall-clock limit per tree, seconds.
    #[serde(default)]
    pub max_seconds_per_tree: Option<f64>,
}

/// Prompts of both step formats.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Formats {
    /// Natural-language steps.
    pub text: FormatPrompts,
    /// Code-augmented steps.
    pub code: FormatPrompts,
}

impl Formats {
    /// The prompts of `format`.
    pub fn get(&self, format: StepFormat) -> &FormatPrompts {
        match format {
            StepFormat::Text => &self.text,
            StepFormat::Code => &self.code,
        }
    }
}

/// The system prompt and worked examples of a step format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormatPrompts {
    /// System message.
    pub system: String,
    /// Few-shot examples, shown as earlier turns of the chat.
    #[serde(default)]
    pub examples: Vec<Example>,
    /// Failed step checks in a row after which a path is pruned (0: never).
    pub max_errors_in_a_row: u32,
    /// Write the result after arithmetic the policy ends with `=` (text steps):
    /// the policy chooses the operations, the calculator does the sums.
    #[serde(default)]
    pub calculator: bool,
    /// Text steps: arithmetic may use only the question's numbers (in digits
    /// or words, with the conversions of units it names) and results stated
    /// earlier; a step with an invented number fails its check.
    #[serde(default)]
    pub grounded: bool,
    /// Text steps: whether a claim may come out negative (false: a negative
    /// result fails the step's check, as counts of things never are).
    #[serde(default = "negative_results_allowed")]
    pub negative_results: bool,
}

fn negative_results_allowed() -> bool {
    true
}

/// A worked example.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Example {
    /// The question.
    pub question: String,
    /// Its solution, written in the step format.
    pub solution: String,
}

/// Sandbox limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxSettings {
    /// Wall-clock seconds per run.
    pub wall_seconds: f64,
    /// CPU seconds per run.
    pub cpu_seconds: u64,
    /// Address space, MiB.
    pub memory_mb: u64,
    /// Output kept, KiB.
    pub output_kb: usize,
}

impl Default for SandboxSettings {
    fn default() -> SandboxSettings {
        SandboxSettings {
            wall_seconds: 10.0,
            cpu_seconds: 5,
            memory_mb: 1024,
            output_kb: 16,
        }
    }
}

impl SandboxSettings {
    /// As the sandbox's limits.
    pub fn limits(&self) -> evolve_verify::sandbox::Limits {
        evolve_verify::sandbox::Limits {
            wall: std::time::Duration::from_secs_f64(self.wall_seconds),
            cpu_seconds: self.cpu_seconds,
            memory_bytes: self.memory_mb << 20,
            output_bytes: self.output_kb << 10,
            ..Default::default()
        }
    }
}

impl SearchSettings {
    /// How the policy samples a step: these settings, stopping at the step
    /// format's delimiter.
    pub fn sampling(&self) -> evolve_lm::SamplingParams {
        evolve_lm::SamplingParams {
            temperature: self.temperature,
            top_p: self.top_p,
            top_k: self.top_k,
            max_tokens: self.max_step_tokens,
            stop: vec![crate::steps::delimiter(self.step_format).to_owned()],
            seed: self.seed,
            ignore_eos: false,
            interject: None,
        }
    }
}

impl PipelineConfig {
    /// A built-in pipeline by name, or a TOML file by path.
    pub fn load(name_or_path: &str) -> anyhow::Result<PipelineConfig> {
        if let Some((_, text)) = BUILTIN.iter().find(|(name, _)| *name == name_or_path) {
            return PipelineConfig::parse(text, &format!("built-in pipeline {name_or_path}"));
        }
        let path = Path::new(name_or_path);
        if !path.is_file() {
            let names: Vec<&str> = BUILTIN.iter().map(|(name, _)| *name).collect();
            bail!(
                "no pipeline {name_or_path:?}: not a built-in one ({}) and no such file",
                names.join(", ")
            );
        }
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        PipelineConfig::parse(&text, &path.display().to_string())
    }

    /// Parses and checks a pipeline; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> anyhow::Result<PipelineConfig> {
        let table = resolve_extends(text, origin, 0)?;
        let config: PipelineConfig = table
            .try_into()
            .with_context(|| format!("parsing {origin}"))?;
        config
            .validate()
            .with_context(|| format!("checking {origin}"))?;
        Ok(config)
    }

    /// Rejects settings the search cannot run with, in `[search]` and in each
    /// round's changes to it.
    pub fn validate(&self) -> anyhow::Result<()> {
        validate_search(&self.search)?;
        validate_search(&self.round.first_search.apply(&self.search))
            .context("with [round.first_search]")?;
        validate_search(&self.round.later_search.apply(&self.search))
            .context("with [round.later_search]")
    }

    /// The search settings of round `number`: `[search]` with the changes of
    /// `[round.first_search]` (round 1) or `[round.later_search]`.
    pub fn search_for_round(&self, number: i64) -> SearchSettings {
        if number <= 1 {
            self.round.first_search.apply(&self.search)
        } else {
            self.round.later_search.apply(&self.search)
        }
    }

    /// Rejects a pipeline `evolve round` cannot run: no pool, nothing to
    /// measure on, unknown strategies or training methods.
    pub fn validate_round(&self) -> anyhow::Result<()> {
        if self.data.pool.is_empty() {
            bail!("[data] pool is empty: name the datasets whose problems the round searches");
        }
        let empty_round = self
            .data
            .pool_per_round
            .as_ref()
            .is_some_and(PoolPerRound::has_empty_round);
        if self.data.pool_limit == Some(0) || empty_round {
            bail!("[data] pool_limit or pool_per_round is 0 or []: a round's pool would be empty");
        }
        if self.data.pool_limit.is_some() && self.data.pool_per_round.is_some() {
            bail!(
                "[data] pool_limit and pool_per_round both set: use one (pool_per_round takes a new slice each round)"
            );
        }
        if self.data.revisit_unsolved.is_some() && self.data.pool_per_round.is_none() {
            bail!(
                "[data] revisit_unsolved needs pool_per_round: without it every round searches the same problems"
            );
        }
        if self.round.ppm_search_from < 2 {
            bail!(
                "[round] ppm_search_from is {}: round 1 has no PPM to search with; use 2 or later",
                self.round.ppm_search_from
            );
        }
        if self.eval_datasets().is_empty() {
            bail!("no held-out set: name the datasets to evaluate on in [data] held_out");
        }
        if self.eval.strategies.is_empty() {
            bail!("[eval] strategies is empty");
        }
        let mut strategies = Vec::new();
        for name in &self.eval.strategies {
            let strategy = name
                .parse::<evolve_strategy::Strategy>()
                .map_err(|e| anyhow::anyhow!("[eval] strategies: {e}"))?;
            strategies.push(strategy.to_string());
        }
        for name in self.eval.limits.keys() {
            if !strategies.contains(name) {
                bail!(
                    "[eval] limits names {name:?}, which is not one of [eval] strategies {strategies:?}"
                );
            }
        }
        self.train.policy.check()?;
        self.train.ppm.method()?;
        if self.train.policy.epochs == 0 || self.train.ppm.epochs == 0 {
            bail!("[train] epochs must be at least 1");
        }
        Ok(())
    }

    /// The datasets each round is evaluated on.
    pub fn eval_datasets(&self) -> &[String] {
        if self.eval.datasets.is_empty() {
            &self.data.held_out
        } else {
            &self.eval.datasets
        }
    }
}

fn validate_search(s: &SearchSettings) -> anyhow::Result<()> {
    if s.rollouts == 0 || s.candidates == 0 || s.max_depth == 0 || s.trees_in_flight == 0 {
        bail!("rollouts, candidates, max_depth and trees_in_flight must be at least 1");
    }
    if s.max_step_tokens == 0 || s.max_path_tokens == 0 {
        bail!("max_step_tokens and max_path_tokens must be at least 1");
    }
    let valid = s.c >= 0.0 && s.temperature >= 0.0 && s.top_p > 0.0 && s.top_p <= 1.0;
    if !valid {
        bail!("c and temperature must be >= 0 and top_p in (0, 1]");
    }
    Ok(())
}

/// The file's table with `extends = "NAME"` resolved: the named built-in
/// pipeline's table with this file's values merged over it (tables key by key,
/// anything else replaced).
fn resolve_extends(text: &str, origin: &str, depth: usize) -> anyhow::Result<toml::Table> {
    let mut table: toml::Table = text.parse().with_context(|| format!("parsing {origin}"))?;
    let Some(base) = table.remove("extends") else {
        return Ok(table);
    };
    let Some(base) = base.as_str() else {
        bail!("{origin}: extends must name a built-in pipeline");
    };
    let Some((_, base_text)) = BUILTIN.iter().find(|(name, _)| *name == base) else {
        let names: Vec<&str> = BUILTIN.iter().map(|(name, _)| *name).collect();
        bail!(
            "{origin}: extends {base:?}, which is not a built-in pipeline ({})",
            names.join(", ")
        );
    };
    if depth > 8 {
        bail!("{origin}: extends goes more than 8 pipelines deep");
    }
    let mut merged = resolve_extends(base_text, &format!("built-in pipeline {base}"), depth + 1)?;
    merge(&mut merged, table);
    Ok(merged)
}

fn merge(into: &mut toml::Table, from: toml::Table) {
    for (key, value) in from {
        match (into.get_mut(&key), value) {
            (Some(toml::Value::Table(a)), toml::Value::Table(b)) => merge(a, b),
            (_, value) => {
                into.insert(key, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_pipelines_parse() {
        for (name, _) in BUILTIN {
            let config = PipelineConfig::load(name).unwrap();
            assert_eq!(config.name, *name);
            assert!(!config.formats.text.examples.is_empty());
            assert!(
                config.formats.code.examples[0]
                    .solution
                    .contains("```python")
            );
        }
    }

    #[test]
    fn a_pipeline_extends_a_builtin_one_and_changes_rounds() {
        let text = r#"
extends = "default"
name = "mine"
[search]
rollouts = 3
[round.first_search]
candidates = 2
[data]
pool = ["mawps-addsub"]
held_out = ["mawps-multiarith"]
"#;
        let config = PipelineConfig::parse(text, "mine.toml").unwrap();
        let default = PipelineConfig::load("default").unwrap();
        assert_eq!(config.name, "mine");
        assert_eq!(config.formats, default.formats);
        assert_eq!(config.search.rollouts, 3);
        assert_eq!(config.search.c, default.search.c);
        assert_eq!(config.search_for_round(1).candidates, 2);
        assert_eq!(
            config.search_for_round(2).candidates,
            default.search.candidates
        );
        config.validate_round().unwrap();

        let err = PipelineConfig::parse(&text.replace("[data]", "[data]\npools = []"), "x.toml")
            .unwrap_err();
        assert!(format!("{err:#}").contains("pools"), "{err:#}");
        let err =
            PipelineConfig::parse(&text.replace("\"default\"", "\"nope\""), "x.toml").unwrap_err();
        assert!(
            format!("{err:#}").contains("not a built-in pipeline"),
            "{err:#}"
        );
        let err =
            PipelineConfig::parse(&text.replace("candidates = 2", "candidates = 0"), "x.toml")
                .unwrap_err();
        assert!(format!("{err:#}").contains("first_search"), "{err:#}");
        let empty = PipelineConfig::parse(&text.replace("\"mawps-addsub\"", ""), "x.toml").unwrap();
        assert!(format!("{:#}", empty.validate_round().unwrap_err()).contains("pool is empty"));
        assert!(
            default.validate_round().is_err(),
            "default.toml has no pool"
        );
    }

    #[test]
    fn round_pipelines_are_ready_to_run() {
        for name in ["quickstart", "mawps", "gsm8k", "rstar-math"] {
            PipelineConfig::load(name)
                .unwrap()
                .validate_round()
                .unwrap();
        }
    }

    #[test]
    fn rounds_take_new_pool_slices_and_strategies_their_own_limits() {
        let text = r#"
extends = "default"
name = "mine"
[formats.text]
calculator = true
grounded = true
negative_results = false
[data]
pool = ["mawps-addsub"]
pool_per_round = 12
held_out = ["mawps-multiarith"]
[eval]
strategies = ["greedy", "maj@8"]
limit = 100
limits = { "maj@8" = 40 }
"#;
        let config = PipelineConfig::parse(text, "mine.toml").unwrap();
        config.validate_round().unwrap();
        let text_format = &config.formats.text;
        assert!(text_format.calculator && text_format.grounded && !text_format.negative_results);
        let default = PipelineConfig::load("default").unwrap().formats.text;
        assert!(!default.calculator && !default.grounded && default.negative_results);
        assert_eq!(config.data.pool_slice(1), (0, Some(12)));
        assert_eq!(config.data.pool_slice(3), (24, Some(12)));
        let unsliced =
            PipelineConfig::parse(&text.replace("pool_per_round", "pool_limit"), "x.toml").unwrap();
        assert_eq!(unsliced.data.pool_slice(3), (0, Some(12)));
        let growing = PipelineConfig::parse(
            &text.replace("pool_per_round = 12", "pool_per_round = [12, 20]"),
            "x.toml",
        )
        .unwrap();
        growing.validate_round().unwrap();
        assert_eq!(growing.data.pool_slice(1), (0, Some(12)));
        assert_eq!(growing.data.pool_slice(2), (12, Some(20)));
        assert_eq!(growing.data.pool_slice(4), (52, Some(20)));
        let err = PipelineConfig::parse(
            &text.replace("pool_per_round = 12", "pool_per_round = \"many\""),
            "x.toml",
        )
        .unwrap_err();
        let err = format!("{err:#}");
        assert!(err.contains("pool_per_round"), "{err}");
        for empty in ["[]", "[12, 0]", "0"] {
            let config = PipelineConfig::parse(
                &text.replace("pool_per_round = 12", &format!("pool_per_round = {empty}")),
                "x.toml",
            )
            .unwrap();
            let err = format!("{:#}", config.validate_round().unwrap_err());
            assert!(err.contains("pool_per_round"), "{empty}: {err}");
        }
        let strategy = |s: &str| s.parse::<evolve_strategy::Strategy>().unwrap();
        assert_eq!(config.eval.limit_of(&strategy("maj@8")), Some(40));
        assert_eq!(config.eval.limit_of(&strategy("greedy")), Some(100));

        let early =
            PipelineConfig::parse(&format!("{text}[round]\nppm_search_from = 1\n"), "x.toml")
                .unwrap();
        let err = format!("{:#}", early.validate_round().unwrap_err());
        assert!(err.contains("ppm_search_from"), "{err}");

        let both = PipelineConfig::parse(
            &text.replace("pool_per_round = 12", "pool_per_round = 12\npool_limit = 5"),
            "x.toml",
        )
        .unwrap();
        let err = format!("{:#}", both.validate_round().unwrap_err());
        assert!(err.contains("pool_limit and pool_per_round"), "{err}");

        let revisiting = PipelineConfig::parse(
            &text.replace(
                "pool_per_round = 12",
                "pool_per_round = 12\nrevisit_unsolved = [0, 0, 8]",
            ),
            "x.toml",
        )
        .unwrap();
        revisiting.validate_round().unwrap();
        let revisits: Vec<usize> = (1..=4)
            .map(|r| revisiting.data.revisit_of_round(r))
            .collect();
        assert_eq!(revisits, [0, 0, 8, 8]);
        assert_eq!(config.data.revisit_of_round(3), 0);
        let unsliced = PipelineConfig::parse(
            &text.replace(
                "pool_per_round = 12",
                "pool_limit = 12\nrevisit_unsolved = 8",
            ),
            "x.toml",
        )
        .unwrap();
        let err = format!("{:#}", unsliced.validate_round().unwrap_err());
        assert!(
            err.contains("revisit_unsolved needs pool_per_round"),
            "{err}"
        );
        use crate::round_settings::{TrainData, TrainFrom};
        let scheduled = PipelineConfig::parse(
            &format!(
                "{text}[train.policy]\nfrom = [\"previous\", \"previous\", \"base\"]\ndata = [\"round\", \"round\", \"all\"]\n"
            ),
            "x.toml",
        )
        .unwrap();
        scheduled.validate_round().unwrap();
        let policy = &scheduled.train.policy;
        assert_eq!(
            policy.schedule(2).unwrap(),
            (TrainFrom::Previous, TrainData::Round)
        );
        assert_eq!(
            policy.schedule(4).unwrap(),
            (TrainFrom::Base, TrainData::All)
        );
        assert_eq!(
            config.train.policy.schedule(3).unwrap(),
            (TrainFrom::Previous, TrainData::Round)
        );
        assert_eq!(config.train.policy.average_previous_of(3).unwrap(), 0.0);
        let averaged = PipelineConfig::parse(
            &format!("{text}[train.policy]\naverage_previous = [0, 0.5]\n"),
            "x.toml",
        )
        .unwrap();
        averaged.validate_round().unwrap();
        assert_eq!(averaged.train.policy.average_previous_of(1).unwrap(), 0.0);
        assert_eq!(averaged.train.policy.average_previous_of(5).unwrap(), 0.5);
        let whole = PipelineConfig::parse(
            &format!("{text}[train.policy]\naverage_previous = [0, 1]\n"),
            "x.toml",
        )
        .unwrap();
        let err = format!("{:#}", whole.validate_round().unwrap_err());
        assert!(err.contains("average_previous is 1 for round 2"), "{err}");
        let souped = PipelineConfig::parse(
            &format!("{text}[train.policy]\nsoup = [1, 1, 2]\n"),
            "x.toml",
        )
        .unwrap();
        souped.validate_round().unwrap();
        assert_eq!(souped.train.policy.soup_of(2).unwrap(), 1);
        assert_eq!(souped.train.policy.soup_of(7).unwrap(), 2);
        assert_eq!(config.train.policy.soup_of(3).unwrap(), 1);
        let none =
            PipelineConfig::parse(&format!("{text}[train.policy]\nsoup = [1, 0]\n"), "x.toml")
                .unwrap();
        let err = format!("{:#}", none.validate_round().unwrap_err());
        assert!(err.contains("soup is 0 for round 2"), "{err}");
        let empty =
            PipelineConfig::parse(&format!("{text}[train.policy]\nfrom = []\n"), "x.toml").unwrap();
        let err = format!("{:#}", empty.validate_round().unwrap_err());
        assert!(err.contains("[train.policy] from or data"), "{err}");

        let stray =
            PipelineConfig::parse(&text.replace("\"maj@8\" = 40", "\"maj@4\" = 40"), "x.toml")
                .unwrap();
        let err = format!("{:#}", stray.validate_round().unwrap_err());
        assert!(err.contains("maj@4"), "{err}");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        let text = BUILTIN[0]
            .1
            .replace("rollouts = 16", "rollouts = 16\nrollout = 3");
        let err = PipelineConfig::parse(&text, "x.toml").unwrap_err();
        assert!(format!("{err:#}").contains("rollout"), "{err:#}");
        let text = BUILTIN[0].1.replace("candidates = 8", "candidates = 0");
        assert!(PipelineConfig::parse(&text, "x.toml").is_err());
        assert!(PipelineConfig::load("no-such-pipeline").is_err());
    }
}
