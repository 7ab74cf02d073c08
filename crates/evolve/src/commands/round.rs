//! `evolve round`: one (or `--rounds N`) self-evolution rounds of a pipeline,
//! with a progress bar per phase, a log file per round, and a clean stop on
//! Ctrl-C; then the pipeline's accuracy table.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use evolve_pipeline::{
    Phase, PipelineConfig, Redo, RoundJob, RoundObserver, RoundOutcome, SearchProgress,
    choose_round, interrupt, run_round,
};
use evolve_train::TrainProgress;
use serde_json::Value;

use super::{Output, open};
use crate::cli::RoundArgs;

pub async fn run(db: &Path, args: RoundArgs, out: Output) -> anyhow::Result<ExitCode> {
    let pipeline = PipelineConfig::load(&args.pipeline)?;
    pipeline
        .validate_round()
        .with_context(|| format!("pipeline {}", args.pipeline))?;
    let _lock = RoundLock::acquire(db)?;
    let store = open(db).await?;
    let run_dir = args.run_dir.clone().unwrap_or_else(|| {
        db.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .join("runs")
            .join(&pipeline.name)
    });
    std::fs::create_dir_all(&run_dir).with_context(|| format!("creating {}", run_dir.display()))?;
    let log = RoundLog::install();
    watch_for_ctrl_c(out);

    let mut requested = args.round;
    for _ in 0..args.rounds.max(1) {
        let number = choose_round(&store, &pipeline, requested).await?;
        let log_path = run_dir.join(format!("round-{number}.log"));
        log.open(&log_path)?;
        out.status(format!(
            "round {number} of pipeline {} (log: {}, files: {})",
            pipeline.name,
            log_path.display(),
            run_dir.display()
        ));
        let job = RoundJob {
            round: Some(number),
            redo: match (&args.redo_from, requested) {
                (_, None) => None,
                (Some(name), _) => Some(Redo::From(
                    Phase::from_name(name).expect("clap checks the name"),
                )),
                (None, _) => args.redo.then_some(Redo::Over),
            },
            run_dir: run_dir.clone(),
        };
        let mut observer = Observer::new(out);
        let outcome = run_round(&store, &pipeline, &job, &mut observer).await;
        observer.finish();
        match outcome? {
            RoundOutcome::Finished(n) => {
                out.status(format!("round {n} of pipeline {} finished", pipeline.name));
            }
            RoundOutcome::Stopped(n, phase) => {
                out.status(format!(
                    "stopped in the {phase} phase of round {n}; what was done is stored: run the same command to resume"
                ));
                print_accuracy(&store, &pipeline.name).await?;
                store.close().await;
                return Ok(ExitCode::from(130));
            }
        }
        requested = None;
    }
    print_accuracy(&store, &pipeline.name).await?;
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

/// Held-out accuracy by round: the policy the pipeline started from is round 0.
pub async fn print_accuracy(store: &evolve_store::Store, pipeline: &str) -> anyhow::Result<()> {
    let rows = evolve_pipeline::accuracy_by_round(store, pipeline).await?;
    if rows.is_empty() {
        return Ok(());
    }
    println!("held-out accuracy of pipeline {pipeline} (round 0: the starting policy)");
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.round.to_string(),
                r.dataset.clone(),
                r.strategy.clone(),
                r.questions.to_string(),
                r.correct.to_string(),
                format!("{:.1}%", 100.0 * r.accuracy()),
                format!("{:.0}", r.tokens_per_question),
                r.evaluation_id.to_string(),
            ]
        })
        .collect();
    print!(
        "{}",
        crate::table::render(
            &[
                "round",
                "dataset",
                "strategy",
                "questions",
                "correct",
                "accuracy",
                "tokens/question",
                "evaluation id",
            ]
            .map(String::from),
            &cells,
            &[true, false, false, true, true, true, true, true],
        )
    );
    Ok(())
}

/// Ctrl-C (or SIGTERM) asks the round to stop after the trees or question in
/// flight; a second one, or one during training, exits at once.
fn watch_for_ctrl_c(out: Output) {
    tokio::spawn(async move {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        loop {
            let term = async {
                match terminate.as_mut() {
                    Some(signal) => {
                        signal.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term => {}
            }
            if interrupt::request_stop() {
                out.status(
                    "\nstopping once the work in flight is stored (Ctrl-C again to quit at once)",
                );
                tracing::warn!("stop requested");
            } else {
                out.status("\ninterrupted; rerun the same command to resume");
                tracing::warn!("interrupted; exiting");
                std::process::exit(130);
            }
        }
    });
}

/// The log file of the round being run; the subscriber writes into whichever
/// file is open.
#[derive(Clone)]
struct RoundLog(Arc<Mutex<Option<File>>>);

impl RoundLog {
    fn install() -> RoundLog {
        let log = RoundLog(Arc::new(Mutex::new(None)));
        let writer = log.clone();
        let _ = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_target(false)
            .with_ansi(false)
            .try_init();
        log
    }

    fn open(&self, path: &Path) -> anyhow::Result<()> {
        let file = File::options()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening the log {}", path.display()))?;
        *self.0.lock().expect("the log lock") = Some(file);
        Ok(())
    }
}

impl Write for RoundLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.0.lock().expect("the log lock").as_mut() {
            Some(file) => file.write(buf),
            None => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self.0.lock().expect("the log lock").as_mut() {
            Some(file) => file.flush(),
            None => Ok(()),
        }
    }
}

/// A fresh progress bar for each phase, and a status line as each starts and ends.
struct Observer {
    out: Output,
    search: Option<super::search::Progress>,
    train: Option<super::train::Progress>,
    eval: Option<super::eval::Progress>,
}

impl Observer {
    fn new(out: Output) -> Observer {
        Observer {
            out,
            search: None,
            train: None,
            eval: None,
        }
    }

    fn finish(&mut self) {
        for bar in [
            self.search.take().map(|p| p.bar),
            self.train.take().map(|p| p.bar),
            self.eval.take().map(|p| p.bar),
        ]
        .into_iter()
        .flatten()
        {
            bar.finish_and_clear();
        }
    }
}

impl RoundObserver for Observer {
    fn note(&mut self, line: &str) {
        tracing::info!("{line}");
        self.out.status(line);
    }

    fn phase_started(&mut self, round: i64, phase: Phase, attempt: i64) {
        self.finish();
        self.out.status(if attempt > 1 {
            format!("round {round}: {phase} (resuming; attempt {attempt})")
        } else {
            format!("round {round}: {phase}")
        });
    }

    fn phase_finished(&mut self, round: i64, phase: Phase, status: &str, detail: &Value) {
        self.finish();
        self.out.status(format!(
            "round {round}: {phase} {status}: {}",
            summary(phase, detail)
        ));
    }

    fn search(&mut self) -> &mut dyn SearchProgress {
        self.finish();
        self.search.insert(super::search::Progress::new(self.out))
    }

    fn train(&mut self, phase: Phase) -> &mut dyn TrainProgress {
        self.finish();
        let metric = if phase == Phase::TrainPpm {
            "held-out pair accuracy"
        } else {
            "held-out loss"
        };
        self.train
            .insert(super::train::Progress::new(self.out, metric))
    }

    fn eval(&mut self, what: &str) -> &mut dyn evolve_pipeline::EvalProgress {
        self.finish();
        self.out.status(format!("  evaluating {what}"));
        self.eval
            .insert(super::eval::Progress::new(self.out, "questions"))
    }
}

/// One line of a phase's figures.
pub fn summary(phase: Phase, d: &Value) -> String {
    if let Some(reason) = d["reason"].as_str() {
        return reason.to_owned();
    }
    let pct = |v: &Value| format!("{:.1}%", 100.0 * v.as_f64().unwrap_or(0.0));
    match phase {
        Phase::Search => {
            let dropped: u64 = d["datasets"].as_array().map_or(0, |sets| {
                sets.iter().filter_map(|s| s["dropped"].as_u64()).sum()
            });
            let dropped = match dropped {
                0 => String::new(),
                n => format!("; {n} trees of problems no longer in the pool were deleted"),
            };
            format!(
                "{} of {} pool problems solved ({}){dropped}",
                d["solved"],
                d["trees"],
                pct(&d["solve_rate"])
            )
        }
        Phase::Export => format!(
            "{} SFT rows from {} problems, {} preference pairs from {} problems",
            d["sft"]["rows"], d["sft"]["problems"], d["pairs"]["rows"], d["pairs"]["problems"]
        ),
        Phase::TrainPolicy | Phase::TrainPpm => {
            let held_out = d["report"]["held_out"].as_array();
            let metric = match held_out.map(|v| v.as_slice()) {
                Some([first, .., last]) => format!(
                    "held-out {} {:.3} -> {:.3}, ",
                    if phase == Phase::TrainPpm {
                        "pair accuracy"
                    } else {
                        "loss"
                    },
                    first.as_f64().unwrap_or(0.0),
                    last.as_f64().unwrap_or(0.0)
                ),
                _ => String::new(),
            };
            format!(
                "{} rows, {metric}{:.0} tokens/s -> {}",
                d["rows"],
                d["report"]["tokens_per_second"].as_f64().unwrap_or(0.0),
                d["path"].as_str().unwrap_or("?")
            )
        }
        Phase::Eval => d["runs"]
            .as_array()
            .map(|runs| {
                runs.iter()
                    .map(|r| {
                        format!(
                            "round {} {} {} {}",
                            r["round"],
                            r["dataset"].as_str().unwrap_or("?"),
                            r["strategy"].as_str().unwrap_or("?"),
                            pct(&r["accuracy"])
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default(),
    }
}

/// One `evolve round` at a time on a database: two would search the same
/// round's problems side by side and record each other's phases. The lock is
/// an OS file lock on `DB.round-lock`, so a crashed run leaves nothing to
/// clear and the next run resumes at once.
struct RoundLock {
    _file: File,
}

impl RoundLock {
    fn acquire(db: &Path) -> anyhow::Result<RoundLock> {
        let mut name = db.as_os_str().to_owned();
        name.push(".round-lock");
        let path = std::path::PathBuf::from(name);
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                file.read_to_string(&mut holder).ok();
                anyhow::bail!(
                    "another `evolve round` is running on {} ({}, holding {}); let it finish or stop it with Ctrl-C, then run this again",
                    db.display(),
                    match holder.trim() {
                        "" => "pid unknown",
                        holder => holder,
                    },
                    path.display()
                );
            }
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("locking {}", path.display()));
            }
        }
        file.set_len(0)
            .and_then(|()| write!(file, "pid {}", std::process::id()))
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(RoundLock { _file: file })
    }
}
