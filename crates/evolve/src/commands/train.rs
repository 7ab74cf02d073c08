//! `evolve train policy`: the next policy fine-tuned on an SFT export.

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

use evolve_pipeline::{
    AverageWith, PolicyTraining, PpmTraining, TrainedModel, default_lr, default_ppm_lr,
    finetuned_path, soup_member_path, train_policy, train_ppm,
};
use evolve_train::{Method, PpmSettings, SaveFormat, SftSettings, TrainProgress, TrainReport};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{Output, model_path, open};
use crate::cli::{PpmMethod, SaveWeights, TrainMethod, TrainPolicyArgs, TrainPpmArgs};

pub async fn policy(db: &Path, args: TrainPolicyArgs, out: Output) -> anyhow::Result<ExitCode> {
    let store = open(db).await?;
    let base = model_path(&args.model)?;
    let method = match args.method {
        TrainMethod::Lora => Method::Lora {
            rank: args.lora_rank,
            alpha: args.lora_alpha.unwrap_or(2.0 * args.lora_rank as f64),
            layers: args.lora_layers,
        },
        TrainMethod::Full => Method::Full,
    };
    let settings = SftSettings {
        epochs: args.epochs,
        lr: args.lr.unwrap_or(default_lr(method)),
        warmup: args.warmup,
        batch_size: args.batch_size,
        grad_accum: args.grad_accum,
        held_out: args.held_out,
        seed: args.seed,
        ..SftSettings::default()
    };
    let job = PolicyTraining {
        base: base.clone(),
        data: args.data.clone(),
        out: args.out.clone(),
        round: args.round,
        method,
        settings,
        max_len: args.max_seq_len,
        save_format: save_format(args.save_format),
        average_with: args.average_with.as_ref().map(|model| AverageWith {
            model: model.clone(),
            weight: args.average_weight,
        }),
        soup: args.soup.into(),
    };
    out.status(format!(
        "fine-tuning {}{} on {} ({}, lr {:.1e}, {} epochs, {} x {} sequences a step)",
        base.display(),
        match job.soup {
            1 => String::new(),
            n => format!(
                " {n} times (seeds {} to {})",
                args.seed,
                args.seed + n as u64 - 1
            ),
        },
        args.data.display(),
        evolve_train::bench::describe(method),
        job.settings.lr,
        job.settings.epochs,
        job.settings.batch_size,
        job.settings.grad_accum
    ));
    let mut progress = Progress::new(out, "held-out loss");
    let trained = train_policy(&store, &job, &mut progress).await?;
    progress.bar.finish_and_clear();
    store.close().await;
    let r = &trained.report;
    println!(
        "policy of round {} -> {} (model id {})",
        trained.round,
        trained.path.display(),
        trained.model_id
    );
    println!(
        "data               {} rows ({} trained, {} held out, {} cut to {} tokens){}",
        trained.rows,
        r.train_rows,
        r.held_out_rows,
        trained.truncated,
        args.max_seq_len,
        from_export(&trained)
    );
    if let (Some(first), Some(last)) = (r.held_out.first(), r.held_out.last()) {
        println!("held-out loss      {first:.4} before, {last:.4} after (mean per answer token)");
    }
    if job.soup > 1 {
        println!(
            "soup               of {} fine-tunes, {} to {}; held-out loss above is seed {}'s",
            job.soup,
            soup_member_path(&trained.path, args.seed).display(),
            soup_member_path(&trained.path, args.seed + job.soup as u64 - 1).display(),
            args.seed
        );
    }
    if let Some(with) = &job.average_with {
        println!(
            "averaged           with {} (weight {}); the fine-tune alone is {}",
            with.model.display(),
            with.weight,
            finetuned_path(&trained.path).display()
        );
    }
    print_figures(r);
    Ok(ExitCode::SUCCESS)
}

/// "; KIND export of round N of PIPELINE" when the data came from an export.
fn from_export(trained: &TrainedModel) -> String {
    trained
        .export
        .as_ref()
        .map(|e| format!("; {} export of round {} of {}", e.kind, e.round, e.pipeline))
        .unwrap_or_default()
}

fn print_figures(r: &TrainReport) {
    println!(
        "training           {} steps, {:.1} M parameters trained, {} tokens in {:.0} s = {:.1} tokens/s",
        r.steps,
        r.parameters as f64 / 1e6,
        r.tokens,
        r.seconds,
        r.tokens_per_second
    );
    if let Some(mib) = r.peak_mib {
        println!("peak memory        {mib:.0} MiB");
    }
}

fn save_format(weights: SaveWeights) -> SaveFormat {
    match weights {
        SaveWeights::Q8_0 => SaveFormat::Q8_0,
        SaveWeights::F32 => SaveFormat::F32,
    }
}

pub async fn ppm(db: &Path, args: TrainPpmArgs, out: Output) -> anyhow::Result<ExitCode> {
    let store = open(db).await?;
    let base = model_path(&args.model)?;
    let method = match args.method {
        PpmMethod::Head => Method::Frozen,
        PpmMethod::TopLayers => Method::TopLayers {
            layers: args.top_layers,
        },
        PpmMethod::Lora => Method::Lora {
            rank: args.lora_rank,
            alpha: 2.0 * args.lora_rank as f64,
            layers: 0,
        },
        PpmMethod::Full => Method::Full,
    };
    let job = PpmTraining {
        base: base.clone(),
        data: args.data.clone(),
        out: args.out.clone(),
        round: args.round,
        method,
        settings: PpmSettings {
            epochs: args.epochs,
            lr: args.lr.unwrap_or(default_ppm_lr(method)),
            warmup: args.warmup,
            batch_size: args.batch_size,
            grad_accum: args.grad_accum,
            held_out: args.held_out,
            seed: args.seed,
        },
        max_len: args.max_seq_len,
        save_format: save_format(args.save_format),
    };
    out.status(format!(
        "training a PPM from {} on {} ({}, lr {:.1e}, {} epochs, {} x {} pairs a step)",
        base.display(),
        args.data.display(),
        evolve_train::bench::describe(method),
        job.settings.lr,
        job.settings.epochs,
        job.settings.batch_size,
        job.settings.grad_accum
    ));
    let mut progress = Progress::new(out, "held-out pair accuracy");
    let trained = train_ppm(&store, &job, &mut progress).await?;
    progress.bar.finish_and_clear();
    store.close().await;
    let r = &trained.report;
    println!(
        "PPM of round {} -> {} and {} (model id {})",
        trained.round,
        trained.path.display(),
        evolve_train::ppm::head_path(&trained.path).display(),
        trained.model_id
    );
    println!(
        "data               {} pairs ({} trained, {} held out, {} with their prompt's start cut){}",
        trained.rows,
        r.train_rows,
        r.held_out_rows,
        trained.truncated,
        from_export(&trained)
    );
    if let (Some(first), Some(last)) = (r.held_out.first(), r.held_out.last()) {
        println!(
            "held-out accuracy  {first:.3} before, {last:.3} after (pairs whose chosen side scores higher)"
        );
    }
    print_figures(r);
    Ok(ExitCode::SUCCESS)
}

/// A bar with step, loss, tokens/s and ETA on a terminal; a line per epoch otherwise.
pub(super) struct Progress {
    pub(super) bar: ProgressBar,
    out: Output,
    steps: usize,
    metric: &'static str,
}

impl Progress {
    pub(super) fn new(out: Output, metric: &'static str) -> Progress {
        let visible = !out.is_quiet() && std::io::stderr().is_terminal();
        let bar = ProgressBar::with_draw_target(
            Some(0),
            if visible {
                ProgressDrawTarget::stderr()
            } else {
                ProgressDrawTarget::hidden()
            },
        );
        bar.set_style(
            ProgressStyle::with_template("{bar:30} step {pos}/{len}  {msg}  ETA {eta}")
                .expect("a valid template"),
        );
        Progress {
            bar,
            out,
            steps: 0,
            metric,
        }
    }
}

impl TrainProgress for Progress {
    fn start(&mut self, steps: usize) {
        self.steps = steps;
        self.bar.set_length(steps as u64);
    }

    fn step(&mut self, step: usize, loss: f64, tokens_per_second: f64, lr: f64) {
        tracing::debug!(step, loss, tokens_per_second, lr, "training step");
        if step.is_multiple_of(10) || step == self.steps {
            tracing::info!(
                step,
                steps = self.steps,
                loss,
                tokens_per_second,
                lr,
                "training"
            );
        }
        self.bar.set_position(step as u64);
        self.bar.set_message(format!(
            "loss {loss:.4}  {tokens_per_second:.0} tok/s  lr {lr:.1e}"
        ));
        if self.bar.is_hidden() && (step.is_multiple_of(10) || step == self.steps) {
            self.out.status(format!(
                "step {step}/{}  loss {loss:.4}  {tokens_per_second:.0} tok/s  lr {lr:.1e}",
                self.steps
            ));
        }
    }

    fn evaluated(&mut self, epoch: usize, metric: f64) {
        tracing::info!(epoch, metric = self.metric, value = metric, "held-out");
        self.bar.suspend(|| {
            self.out.status(if epoch == 0 {
                format!("{} before training: {metric:.4}", self.metric)
            } else {
                format!("{} after epoch {epoch}: {metric:.4}", self.metric)
            })
        });
    }
}
