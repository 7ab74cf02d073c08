//! One module per command; each takes its parsed arguments and does the work.

use std::process::ExitCode;

use anyhow::Context;
use evolve_store::Store;

use crate::cli::{BenchCommand, Cli, Command, DataCommand, PpmCommand, TrainCommand, TreeCommand};

mod bench;
mod bench_strategies;
mod data;
mod eval;
mod export;
mod generate;
mod grade;
mod init;
mod ppm;
mod report;
mod round;
mod search;
mod solve;
mod sql;
mod status;
mod train;
mod tree;

/// Runs the command `cli` names.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let out = Output { quiet: cli.quiet };
    match cli.command {
        Command::Init => init::run(&cli.db, out).await,
        Command::Data(DataCommand::Import(args)) => data::import(&cli.db, args, out).await,
        Command::Data(DataCommand::List(args)) => data::list(&cli.db, args).await,
        Command::Data(DataCommand::Split(args)) => data::split(&cli.db, args, out).await,
        Command::Grade(args) => grade::run(args, out),
        Command::Sql(args) => sql::run(&cli.db, args).await,
        Command::Generate(args) => generate::run(args, out),
        Command::Search(args) => search::run(&cli.db, args, out).await,
        Command::Tree(TreeCommand::List(args)) => tree::list(&cli.db, args).await,
        Command::Tree(TreeCommand::Show(args)) => tree::show(&cli.db, args).await,
        Command::Export(command) => export::run(&cli.db, command, out).await,
        Command::Train(TrainCommand::Policy(args)) => train::policy(&cli.db, args, out).await,
        Command::Train(TrainCommand::Ppm(args)) => train::ppm(&cli.db, args, out).await,
        Command::Ppm(PpmCommand::Score(args)) => ppm::score(args, out),
        Command::Solve(args) => solve::run(args, out),
        Command::Eval(args) => eval::run(&cli.db, args, out).await,
        Command::Report(args) => report::run(&cli.db, args, out).await,
        Command::Round(args) => round::run(&cli.db, args, out).await,
        Command::Status(args) => status::run(&cli.db, args).await,
        Command::Bench(BenchCommand::Lm(args)) => bench::lm(args),
        Command::Bench(BenchCommand::Export(args)) => bench::export(args).await,
        Command::Bench(BenchCommand::Train(args)) => bench::train(args),
        Command::Bench(BenchCommand::Strategies(args)) => {
            bench_strategies::run(&cli.db, args).await
        }
    }
}

/// The thread count a round's pipeline sets (`[models] threads`), read before
/// the thread pools start.
pub fn pipeline_threads(command: &Command) -> Option<usize> {
    match command {
        Command::Round(args) => {
            evolve_pipeline::PipelineConfig::load(&args.pipeline)
                .ok()?
                .models
                .threads
        }
        _ => None,
    }
}

/// Where status lines go: standard error, unless `--quiet`; standard output is
/// kept for the data a command was asked for, so it can be piped.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    quiet: bool,
}

impl Output {
    /// Whether status output is off.
    pub fn is_quiet(&self) -> bool {
        self.quiet
    }

    /// Prints a status line to standard error.
    pub fn status(&self, line: impl std::fmt::Display) {
        if !self.quiet {
            eprintln!("{line}");
        }
    }
}

/// A bar on standard error counting `unit` (hidden with `--quiet`), with a
/// message and an ETA.
fn count_bar(out: Output, unit: &str) -> indicatif::ProgressBar {
    if out.is_quiet() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(0);
    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    bar.set_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{{bar:30}} {{pos}}/{{len}} {unit}  {{msg}}  ETA {{eta}}"
        ))
        .expect("a valid template"),
    );
    bar
}

/// Opens the existing database at `path` for reading and writing.
async fn open(path: &std::path::Path) -> anyhow::Result<Store> {
    Store::open(path)
        .await
        .with_context(|| format!("opening {}", path.display()))
}

/// The model file `args` names, or the default model from the fetch script.
fn model_path(args: &crate::cli::ModelArgs) -> anyhow::Result<std::path::PathBuf> {
    let path = args
        .model
        .clone()
        .unwrap_or_else(|| evolve_data::cache_dir().join(evolve_lm::DEFAULT_MODEL));
    if args.model.is_none() && !path.is_file() {
        anyhow::bail!(
            "the default model is not at {}; run scripts/fetch-model.sh (or pass --model)",
            path.display()
        );
    }
    Ok(path)
}

fn weight_format(args: &crate::cli::ModelArgs) -> anyhow::Result<evolve_lm::WeightFormat> {
    args.weights.parse().map_err(|e: String| anyhow::anyhow!(e))
}
