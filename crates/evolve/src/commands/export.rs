//! `evolve export sft|pairs|steps`: fine-tuning data from a round's trees.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use evolve_export::{Destination, ExportJob, Format, Prompter, RoundPrompts, Rules, export};
use evolve_store::{Round, Store};

use super::{Output, open};
use crate::cli::{ExportArgs, ExportCommand, SftFormat, StepsFormat};

pub async fn run(db: &Path, command: ExportCommand, out: Output) -> anyhow::Result<ExitCode> {
    let (common, format, rules) = match command {
        ExportCommand::Sft(args) => {
            let format = match args.format {
                SftFormat::Messages => Format::Messages,
                SftFormat::PromptCompletion => Format::PromptCompletion,
            };
            let rules = Rules {
                max_per_problem: Some(args.max_per_problem),
                min_q: args.common.min_q,
                computed_answer: args.computed_answer,
                fewest_claims: args.fewest_claims,
                all_numbers_used: args.all_numbers_used,
                ..Rules::default()
            };
            (args.common, format, rules)
        }
        ExportCommand::Pairs(args) => {
            let format = if args.final_only {
                Format::SolutionPairs
            } else {
                Format::StepPairs
            };
            let rules = Rules {
                max_per_problem: args.max_per_problem,
                min_q: args.common.min_q,
                min_margin: args.min_margin,
                min_edit_distance: args.min_edit_distance,
                ..Rules::default()
            };
            (args.common, format, rules)
        }
        ExportCommand::Steps(args) => {
            let format = match args.format {
                StepsFormat::PerStep => Format::PerStep,
                StepsFormat::Stepwise => Format::Stepwise,
            };
            let rules = Rules {
                max_per_problem: args.max_per_problem,
                min_q: args.common.min_q,
                ..Rules::default()
            };
            (args.common, format, rules)
        }
    };
    let store = open(db).await?;
    let round = round(&store, &common).await?;
    let prompts = RoundPrompts::from_round_config(&round.config)
        .with_context(|| format!("round {} of {}", round.number, round.pipeline))?;
    let template = if format.needs_template() {
        let model = template_model(&store, &round, common.model.as_deref()).await?;
        Some(
            evolve_lm::read_chat_template(&model)
                .with_context(|| format!("reading the chat template of {}", model.display()))?,
        )
    } else {
        None
    };
    let destination = Destination::parse(&common.out.clone().unwrap_or_else(|| {
        let name = match format {
            Format::Messages | Format::PromptCompletion => "sft",
            Format::StepPairs => "pairs",
            Format::SolutionPairs => "solution-pairs",
            Format::PerStep => "steps",
            Format::Stepwise => "stepwise",
        };
        PathBuf::from(format!("{}-r{}-{name}.jsonl", round.pipeline, round.number))
    }));
    let job = ExportJob {
        format,
        round,
        dataset: common.dataset.clone(),
        destination,
        rules,
        prompter: Prompter {
            system: (!common.no_system).then_some(prompts.system),
            examples: if common.few_shot {
                prompts.examples
            } else {
                Vec::new()
            },
            template,
        },
        write_empty: common.write_empty,
    };
    let summary = export(&store, &job).await?;
    store.close().await;
    out.status(summary.line());
    Ok(ExitCode::SUCCESS)
}

/// The round `--round` names, or the newest one with trees.
async fn round(store: &Store, args: &ExportArgs) -> anyhow::Result<Round> {
    match args.round {
        Some(number) => store
            .round(&args.pipeline, number)
            .await?
            .ok_or_else(|| anyhow!("no round {number} of pipeline {}", args.pipeline)),
        None => store
            .latest_searched_round(&args.pipeline)
            .await?
            .ok_or_else(|| {
                anyhow!(
                    "pipeline {} has no round with trees; run `evolve search` first",
                    args.pipeline
                )
            }),
    }
}

/// The model file whose chat template writes the prompts: `--model`, else the
/// round's policy model.
async fn template_model(
    store: &Store,
    round: &Round,
    given: Option<&Path>,
) -> anyhow::Result<PathBuf> {
    if let Some(path) = given {
        return Ok(path.to_owned());
    }
    let what = format!("round {} of {}", round.number, round.pipeline);
    let Some(id) = round.policy_model_id else {
        bail!("{what} names no policy model; pass --model with the GGUF file it searched with");
    };
    let model = store
        .model(id)
        .await?
        .ok_or_else(|| anyhow!("{what} names policy model {id}, which is not in the database"))?;
    let path = PathBuf::from(&model.path);
    if !path.is_file() {
        bail!(
            "the policy model of {what}, {}, is not there; pass --model with a copy of it (its chat template writes the prompts)",
            path.display()
        );
    }
    Ok(path)
}
