//! The accuracy table.

use std::fmt::Write;

use evolve_store::EvaluationSummary;

/// One line of the table: the newest run with the most questions for its
/// (round, dataset, split, strategy, PPM).
#[derive(Debug, Clone, PartialEq)]
pub struct ReportRow {
    /// The policy's round (0: the base model).
    pub round: i64,
    /// Dataset and split, `name/split` when split.
    pub dataset: String,
    /// Strategy name.
    pub strategy: String,
    /// Its family (`greedy`, `maj`, ...): the text before `@`.
    pub family: String,
    /// Budget in samples.
    pub budget: i64,
    /// The PPM's file name, if the strategy used one.
    pub ppm: Option<String>,
    /// Questions graded.
    pub questions: i64,
    /// Share correct.
    pub accuracy: f64,
    /// Generated tokens per question.
    pub tokens_per_question: f64,
    /// Seconds per question.
    pub seconds_per_question: f64,
}

/// The table's rows, ordered by dataset, round, family, budget.
pub fn rows(runs: &[EvaluationSummary], dataset: Option<&str>) -> Vec<ReportRow> {
    let mut rows: Vec<ReportRow> = Vec::new();
    for run in runs {
        if run.questions == 0 || dataset.is_some_and(|d| d != run.dataset) {
            continue;
        }
        let file = |p: &str| {
            std::path::Path::new(p)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| p.to_owned())
        };
        let row = ReportRow {
            round: run.model_round,
            dataset: match &run.split {
                Some(split) => format!("{}/{split}", run.dataset),
                None => run.dataset.clone(),
            },
            family: run
                .strategy
                .split('@')
                .next()
                .unwrap_or_default()
                .to_owned(),
            strategy: run.strategy.clone(),
            budget: run.budget,
            ppm: run.ppm_path.as_deref().map(file),
            questions: run.questions,
            accuracy: run.accuracy(),
            tokens_per_question: run.tokens_per_question(),
            seconds_per_question: run.seconds / run.questions as f64,
        };
        let same = |r: &ReportRow| {
            r.round == row.round
                && r.dataset == row.dataset
                && r.strategy == row.strategy
                && r.ppm == row.ppm
        };
        match rows.iter_mut().find(|r| same(r)) {
            // Runs come oldest first: a later run replaces an earlier one unless smaller.
            Some(existing) if existing.questions <= row.questions => *existing = row,
            Some(_) => {}
            None => rows.push(row),
        }
    }
    rows.sort_by(|a, b| {
        (&a.dataset, a.round, &a.family, a.budget, &a.strategy).cmp(&(
            &b.dataset,
            b.round,
            &b.family,
            b.budget,
            &b.strategy,
        ))
    });
    rows
}

/// The table's column names.
pub const HEADER: [&str; 8] = [
    "round",
    "dataset",
    "strategy",
    "ppm",
    "questions",
    "accuracy",
    "tokens/question",
    "s/question",
];

/// A row's cells, formatted, in `HEADER` order.
pub fn cells(row: &ReportRow) -> [String; 8] {
    [
        row.round.to_string(),
        row.dataset.clone(),
        row.strategy.clone(),
        row.ppm.clone().unwrap_or_else(|| "-".into()),
        row.questions.to_string(),
        format!("{:.1}%", 100.0 * row.accuracy),
        format!("{:.0}", row.tokens_per_question),
        format!("{:.1}", row.seconds_per_question),
    ]
}

impl ReportRow {
    /// The rows as a GitHub markdown table.
    pub fn markdown(rows: &[ReportRow]) -> String {
        let mut out = format!("| {} |\n", HEADER.join(" | "));
        out.push_str(&format!("|{}\n", "---|".repeat(HEADER.len())));
        for row in rows {
            let _ = writeln!(out, "| {} |", cells(row).join(" | "));
        }
        out
    }
}
