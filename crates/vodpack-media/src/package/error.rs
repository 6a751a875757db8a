//! Why an output file cannot be made: the caller turns each kind into its own answer (a 404, a
//! damaged source, a bug), so the kinds must not be folded together.

use crate::MediaError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackageError {
    /// No such file in this output (a name the layout does not list, a segment past the end).
    #[error("{0}")]
    NotFound(String),
    /// The source is not what its index says, or its samples cannot be written.
    #[error("{0}")]
    Damaged(String),
    /// Our own data disagrees with itself.
    #[error("{0}")]
    Bug(String),
}

impl PackageError {
    pub fn not_found(reason: impl Into<String>) -> PackageError {
        PackageError::NotFound(reason.into())
    }
}

impl From<MediaError> for PackageError {
    fn from(e: MediaError) -> PackageError {
        PackageError::Damaged(e.to_string())
    }
}
