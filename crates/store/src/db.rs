use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

use crate::error::{Error, Result, SqlxContext};

/// The migrations of the workspace's `migrations/` folder, embedded at build time.
pub(crate) static MIGRATOR: Migrator = sqlx::migrate!("../../migrations");

/// Highest schema version (migration number) this build knows.
pub const SCHEMA_VERSION: i64 = 6;

/// An open evolve database.
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) pool: SqlitePool,
    path: PathBuf,
}

impl Store {
    /// Creates the database at `path` if missing and applies pending migrations.
    ///
    /// Fails if the file is not an SQLite database, belongs to another program, or
    /// was migrated by a newer evolve.
    pub async fn init(path: &Path) -> Result<Store> {
        Self::connect(path, true, false).await
    }

    /// Opens an existing database for reading and writing, applying pending migrations.
    pub async fn open(path: &Path) -> Result<Store> {
        if !path.exists() {
            return Err(Error::Missing {
                path: path.to_owned(),
            });
        }
        Self::connect(path, false, false).await
    }

    /// Opens an existing database read-only; nothing is migrated or written.
    pub async fn open_read_only(path: &Path) -> Result<Store> {
        if !path.exists() {
            return Err(Error::Missing {
                path: path.to_owned(),
            });
        }
        Self::connect(path, false, true).await
    }

    /// The database file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Highest migration version applied to this database.
    pub async fn schema_version(&self) -> Result<i64> {
        applied_version(&self.pool, &self.path)
            .await
            .map(|v| v.unwrap_or(0))
    }

    /// Closes the pool, checkpointing the WAL.
    pub async fn close(self) {
        self.pool.close().await;
    }

    async fn connect(path: &Path, create: bool, read_only: bool) -> Result<Store> {
        let url = format!("sqlite://{}", path.display());
        let options = SqliteConnectOptions::from_str(&url)
            .context(|| format!("opening database {}", path.display()))?
            .create_if_missing(create)
            .read_only(read_only)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(30));
        let options = if read_only {
            options
        } else {
            options.journal_mode(SqliteJournalMode::Wal)
        };
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .context(|| format!("opening database {}", path.display()))?;
        let store = Store {
            pool,
            path: path.to_owned(),
        };
        store.check_schema().await?;
        if !read_only {
            MIGRATOR
                .run(&store.pool)
                .await
                .map_err(|source| Error::Migrate {
                    path: path.to_owned(),
                    source,
                })?;
        }
        Ok(store)
    }

    /// Refuses databases of a newer schema and SQLite files that evolve did not create.
    async fn check_schema(&self) -> Result<()> {
        match applied_version(&self.pool, &self.path).await? {
            Some(found) if found > SCHEMA_VERSION => Err(Error::NewerSchema {
                path: self.path.clone(),
                found,
                known: SCHEMA_VERSION,
            }),
            Some(_) => Ok(()),
            None => {
                let tables: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
                )
                .fetch_one(&self.pool)
                .await
                .context(|| format!("reading database {}", self.path.display()))?;
                if tables > 0 {
                    Err(Error::Foreign {
                        path: self.path.clone(),
                    })
                } else {
                    Ok(())
                }
            }
        }
    }
}

/// The highest applied migration, or `None` when the database has no migration table.
async fn applied_version(pool: &SqlitePool, path: &Path) -> Result<Option<i64>> {
    let has_table: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
    )
    .fetch_one(pool)
    .await
    .context(|| format!("reading database {}", path.display()))?;
    if has_table == 0 {
        return Ok(None);
    }
    let version: Option<i64> =
        sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success = 1")
            .fetch_one(pool)
            .await
            .context(|| format!("reading the schema version of {}", path.display()))?;
    Ok(Some(version.unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_version_matches_the_newest_migration() {
        let newest = MIGRATOR.iter().map(|m| m.version).max().unwrap();
        assert_eq!(
            newest, SCHEMA_VERSION,
            "bump SCHEMA_VERSION with each migration"
        );
    }

    #[tokio::test]
    async fn init_creates_the_schema_and_is_repeatable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.db");
        let store = Store::init(&path).await.unwrap();
        assert_eq!(store.schema_version().await.unwrap(), SCHEMA_VERSION);
        store.close().await;
        let store = Store::init(&path).await.unwrap();
        assert_eq!(store.schema_version().await.unwrap(), SCHEMA_VERSION);
    }

    #[tokio::test]
    async fn newer_schema_is_refused_naming_both_versions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.db");
        let store = Store::init(&path).await.unwrap();
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
             VALUES (99, 'from the future', 1, x'00', 0)",
        )
        .execute(&store.pool)
        .await
        .unwrap();
        store.close().await;
        for result in [
            Store::open(&path).await,
            Store::init(&path).await,
            Store::open_read_only(&path).await,
        ] {
            let message = result.unwrap_err().to_string();
            assert!(
                message.contains("99") && message.contains(&SCHEMA_VERSION.to_string()),
                "{message}"
            );
        }
    }

    #[tokio::test]
    async fn foreign_and_corrupt_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let foreign = dir.path().join("foreign.db");
        {
            let pool = SqlitePool::connect(&format!("sqlite://{}?mode=rwc", foreign.display()))
                .await
                .unwrap();
            sqlx::query("CREATE TABLE t (x)")
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
        }
        let message = Store::open(&foreign).await.unwrap_err().to_string();
        assert!(message.contains("not an evolve database"), "{message}");

        let corrupt = dir.path().join("corrupt.db");
        std::fs::write(
            &corrupt,
            b"this is not sqlite at all, just some bytes long enough",
        )
        .unwrap();
        let message = Store::open(&corrupt).await.unwrap_err().to_string();
        assert!(message.contains("corrupt.db"), "{message}");

        let missing = dir.path().join("missing.db");
        let message = Store::open(&missing).await.unwrap_err().to_string();
        assert!(message.contains("evolve init"), "{message}");
    }
}
