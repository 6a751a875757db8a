//! Why a source cannot be ingested. Each variant is a class of failure with a message that says
//! which file, track, sample or rendition is at fault, as operators need to fix the source.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    #[error("not a supported container: {0}")]
    NotMedia(String),
    #[error("truncated source: {0}")]
    Truncated(String),
    #[error("corrupt source: {0}")]
    Corrupt(String),
    #[error("unsupported source: {0}")]
    Unsupported(String),
    #[error("encrypted source: {0}; only clear media can be ingested")]
    Encrypted(String),
    #[error("limit exceeded: {0}")]
    Limit(String),
    #[error("renditions are not aligned: {0}")]
    Misaligned(String),
    #[error("invalid SMIL: {0}")]
    Smil(String),
    #[error("invalid subtitles: {0}")]
    Subtitles(String),
}
