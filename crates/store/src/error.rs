use std::path::PathBuf;

/// What can go wrong in the store; every variant names the database or row involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database file does not exist (and was not to be created).
    #[error("database {path} does not exist; create it with `evolve init`")]
    Missing {
        /// The path that was opened.
        path: PathBuf,
    },
    /// The database was migrated by a newer build of evolve.
    #[error(
        "database {path} has schema version {found}, but this build of evolve knows versions up to {known}; use a newer evolve"
    )]
    NewerSchema {
        /// The path that was opened.
        path: PathBuf,
        /// Highest migration version recorded in the database.
        found: i64,
        /// Highest migration version this build embeds.
        known: i64,
    },
    /// The file is an SQLite database, but not one evolve created.
    #[error("{path} is not an evolve database (it has tables but no evolve schema version)")]
    Foreign {
        /// The path that was opened.
        path: PathBuf,
    },
    /// A problem already stored under the same id differs from the one imported.
    #[error(
        "problem {external_id} of dataset {dataset} is already stored with a different {field}; import it under another dataset name"
    )]
    ProblemDiffers {
        /// Dataset name.
        dataset: String,
        /// External id of the problem.
        external_id: String,
        /// Which field differs.
        field: &'static str,
    },
    /// A dataset that was asked for is not in the database.
    #[error("no dataset named {0:?}; `evolve data list` shows what is stored")]
    UnknownDataset(String),
    /// Data that breaks an invariant of the schema.
    #[error("{0}")]
    Invalid(String),
    /// A split that would change an existing one.
    #[error("{0}")]
    Split(String),
    /// An error from SQLite, with what was being done.
    #[error("{context}: {source}")]
    Sqlx {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: sqlx::Error,
    },
    /// A migration failed.
    #[error("migrating {path}: {source}")]
    Migrate {
        /// The path being migrated.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: sqlx::migrate::MigrateError,
    },
}

/// Result with the store's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Adds a description of the operation to a sqlx error.
pub(crate) trait SqlxContext<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> SqlxContext<T> for std::result::Result<T, sqlx::Error> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Sqlx {
            context: what(),
            source,
        })
    }
}
