//! `evolve sql`: ad-hoc SQL over the database, as a table or JSON lines.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use evolve_store::{Cell, Store};
use serde_json::Value;

use crate::cli::SqlArgs;
use crate::table;

pub async fn run(db: &Path, args: SqlArgs) -> anyhow::Result<ExitCode> {
    let store = if args.write {
        Store::open(db).await
    } else {
        Store::open_read_only(db).await
    }
    .with_context(|| format!("opening {}", db.display()))?;
    let result = store.query(&args.statement).await;
    store.close().await;
    let rows = result.map_err(|err| {
        let hint = if args.write {
            ""
        } else {
            " (read-only: pass --write to change the database)"
        };
        anyhow::anyhow!("{err}{hint}")
    })?;

    if args.json {
        for row in &rows.rows {
            let object: serde_json::Map<String, Value> = rows
                .columns
                .iter()
                .cloned()
                .zip(row.iter().map(json_value))
                .collect();
            println!("{}", Value::Object(object));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let right: Vec<bool> = (0..rows.columns.len())
        .map(|i| {
            rows.rows
                .iter()
                .all(|r| matches!(r[i], Cell::Integer(_) | Cell::Real(_) | Cell::Null))
                && !rows.rows.is_empty()
        })
        .collect();
    let cells: Vec<Vec<String>> = rows
        .rows
        .iter()
        .map(|r| r.iter().map(|c| display(c, args.max_width)).collect())
        .collect();
    print!("{}", table::render(&rows.columns, &cells, &right));
    let n = rows.rows.len();
    eprintln!("({n} row{})", if n == 1 { "" } else { "s" });
    Ok(ExitCode::SUCCESS)
}

fn json_value(cell: &Cell) -> Value {
    match cell {
        Cell::Null => Value::Null,
        Cell::Integer(i) => Value::from(*i),
        Cell::Real(f) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        Cell::Text(s) => Value::String(s.clone()),
        Cell::Blob(b) => Value::String(b.iter().map(|byte| format!("{byte:02x}")).collect()),
    }
}

/// One line per cell: newlines shown as `⏎`, long text cut to `max_width` with `…`.
fn display(cell: &Cell, max_width: usize) -> String {
    let text = match cell {
        Cell::Null => "NULL".to_owned(),
        Cell::Integer(i) => i.to_string(),
        Cell::Real(f) => format!("{f}"),
        Cell::Text(s) => s.replace('\n', "⏎").replace('\t', " "),
        Cell::Blob(b) => format!("<{} bytes>", b.len()),
    };
    if max_width > 0 && text.chars().count() > max_width {
        let mut cut: String = text.chars().take(max_width.saturating_sub(1)).collect();
        cut.push('…');
        cut
    } else {
        text
    }
}
