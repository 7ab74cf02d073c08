//! Errors of the search: a seam (policy or scorer) failed.

/// An error raised by a seam implementation.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What stopped a search.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The policy could not propose steps.
    #[error("the policy failed")]
    Policy(#[source] BoxError),
    /// The step scorer failed.
    #[error("the step scorer failed")]
    Scorer(#[source] BoxError),
    /// The observer refused a finished tree (for example, it could not be stored).
    #[error("storing a finished tree failed")]
    Observer(#[source] BoxError),
}

/// Result of the search.
pub type Result<T> = std::result::Result<T, Error>;
