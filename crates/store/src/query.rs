//! Ad-hoc SQL for `evolve sql`: any statement, rows returned as dynamically typed cells.

use sqlx::{AssertSqlSafe, Column, Executor, Row, SqlSafeStr, TypeInfo, ValueRef};

use crate::db::Store;
use crate::error::{Result, SqlxContext};

/// One value of a result row, typed as SQLite stored it.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// SQL NULL.
    Null,
    /// An INTEGER.
    Integer(i64),
    /// A REAL.
    Real(f64),
    /// TEXT.
    Text(String),
    /// A BLOB.
    Blob(Vec<u8>),
}

/// The result of [`Store::query`]: column names and rows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows {
    /// Column names in order.
    pub columns: Vec<String>,
    /// Rows, each with one cell per column.
    pub rows: Vec<Vec<Cell>>,
}

impl Store {
    /// Runs one SQL statement and returns its rows.
    ///
    /// On a store opened with [`Store::open_read_only`] a statement that writes fails.
    pub async fn query(&self, sql: &str) -> Result<Rows> {
        let ctx = || format!("running SQL on {}", self.path().display());
        // The user's own SQL, run as typed: that is what `evolve sql` is for.
        let fetched = sqlx::query(AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await
            .context(ctx)?;
        let columns = match fetched.first() {
            Some(row) => row.columns().iter().map(|c| c.name().to_owned()).collect(),
            None => (&self.pool)
                .describe(AssertSqlSafe(sql).into_sql_str())
                .await
                .context(ctx)?
                .columns()
                .iter()
                .map(|c| c.name().to_owned())
                .collect(),
        };
        let mut rows = Vec::with_capacity(fetched.len());
        for row in &fetched {
            let mut cells = Vec::with_capacity(row.len());
            for i in 0..row.len() {
                cells.push(cell(row, i).context(ctx)?);
            }
            rows.push(cells);
        }
        Ok(Rows { columns, rows })
    }
}

fn cell(row: &sqlx::sqlite::SqliteRow, i: usize) -> Result<Cell, sqlx::Error> {
    let raw = row.try_get_raw(i)?;
    if raw.is_null() {
        return Ok(Cell::Null);
    }
    let type_name = raw.type_info().name().to_owned();
    Ok(match type_name.as_str() {
        "INTEGER" | "BOOLEAN" => Cell::Integer(row.try_get_unchecked(i)?),
        "REAL" => Cell::Real(row.try_get_unchecked(i)?),
        "BLOB" => Cell::Blob(row.try_get_unchecked(i)?),
        _ => Cell::Text(row.try_get_unchecked(i)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn query_returns_typed_cells_and_read_only_refuses_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.db");
        let store = Store::init(&path).await.unwrap();
        let rows = store
            .query("SELECT 1 AS a, 2.5 AS b, 'x' AS c, NULL AS d, x'00ff' AS e")
            .await
            .unwrap();
        assert_eq!(rows.columns, ["a", "b", "c", "d", "e"]);
        assert_eq!(
            rows.rows[0],
            [
                Cell::Integer(1),
                Cell::Real(2.5),
                Cell::Text("x".into()),
                Cell::Null,
                Cell::Blob(vec![0, 255])
            ]
        );
        let empty = store
            .query("SELECT name, format FROM datasets")
            .await
            .unwrap();
        assert_eq!(empty.columns, ["name", "format"]);
        assert!(empty.rows.is_empty());
        store.close().await;

        let read_only = Store::open_read_only(&path).await.unwrap();
        assert!(read_only.query("DELETE FROM datasets").await.is_err());
    }
}
