//! One self-evolution round end to end ([`run_round`]): pipeline
//! configurations ([`PipelineConfig`], `pipelines/*.toml`), the problem sets a
//! round needs ([`prepare_problem_sets`]), and its phases: the search
//! ([`run_search`]: MCTS with the local policy and the step checks of each
//! format, every tree stored as it finishes), the export, the training of the
//! next policy and PPM ([`train_policy`], [`train_ppm`]) and the evaluation
//! ([`run_eval`]). Each phase is recorded as it starts and ends, so a round
//! resumes where it stopped.
#![deny(missing_docs)]

pub use crate::config::{
    BUILTIN, Example, FormatPrompts, PipelineConfig, SandboxSettings, SearchSettings, StepFormat,
};
pub use crate::eval_phase::{
    CalibrationJob, EvalJob, EvalProgress, EvalSummary, QuestionReport, TestTime,
    calibration_strategies, questions_per_batch, run_calibration, run_eval,
};
pub use crate::model_hash::{matches_registered, model_sha256, ppm_sha256, sha256_file};
pub use crate::policy::{EnginePolicy, PolicyStats};
pub use crate::ppm_scorer::PpmScorer;
pub use crate::problem_sets::prepare_problem_sets;
pub use crate::round::{
    Phase, Redo, RoundJob, RoundObserver, RoundOutcome, choose_round, first_policy, run_round,
};
pub use crate::round_report::{AccuracyRow, accuracy_by_round};
pub use crate::round_settings::{
    DataSettings, EvalSettings, ExportSettings, ModelSettings, PairKind, PolicyTrainSettings,
    PpmTrainSettings, RoundSettings, SearchOverrides, SplitSettings, TrainData, TrainFrom,
    TrainSettings,
};
pub use crate::search_phase::{
    SearchJob, SearchProgress, SearchSummary, TreeReport, open_search_round, run_search,
    search_round_config,
};
pub use crate::steps::{StepChecker, code_block, delimiter, program};
pub use crate::train_phase::{
    AverageWith, PolicyTraining, PpmTraining, TrainedModel, default_lr, default_ppm_lr,
    finetuned_path, soup_member_path, train_policy, train_ppm,
};

mod config;
mod eval_phase;
pub mod interrupt;
mod model_hash;
mod policy;
mod ppm_scorer;
mod problem_sets;
mod round;
mod round_report;
mod round_settings;
mod search_phase;
mod steps;
mod train_phase;
