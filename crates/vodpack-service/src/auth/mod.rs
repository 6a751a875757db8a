//! Authentication of control-plane requests: where the key pair comes from, and the layer that
//! checks every request's SigV4 signature before a handler runs.
//!
//! The key pair is taken from the configuration (`VODPACK_ACCESS_KEY_ID` /
//! `VODPACK_SECRET_ACCESS_KEY`) or from `credentials` in the data directory, which is generated
//! on first start in the AWS shared-credentials format so that
//! `AWS_SHARED_CREDENTIALS_FILE=<data dir>/credentials aws …` works as it is.

pub mod sigv4;

use std::io::Write;
use std::path::{Path, PathBuf};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::error::{ApiError, ErrorKind};

/// What the signature layer needs: the verifier and the body limit.
#[derive(Clone)]
pub struct SignatureCheck {
    /// `None` only when authentication was turned off (loopback listeners only).
    pub verifier: Option<std::sync::Arc<sigv4::Verifier>>,
    /// Largest request body buffered for the check (413 beyond).
    pub max_body_bytes: usize,
}

/// A control-plane key pair.
#[derive(Clone)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

/// Where the credentials in use came from (printed at start-up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialsSource {
    Configured,
    File(PathBuf),
    Generated(PathBuf),
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("cannot read or write the credentials file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the credentials file {0} has no aws_access_key_id / aws_secret_access_key pair")]
    Incomplete(PathBuf),
    #[error("cannot gather randomness for new credentials: {0}")]
    Random(String),
}

const FILE_NAME: &str = "credentials";

fn random_string(alphabet: &[u8], len: usize) -> Result<String, CredentialsError> {
    let mut bytes = vec![0u8; len];
    getrandom::fill(&mut bytes).map_err(|e| CredentialsError::Random(e.to_string()))?;
    // Rejection-free mapping: both alphabets have 32 or 64 symbols, so the modulo is unbiased.
    Ok(bytes
        .iter()
        .map(|b| alphabet[*b as usize % alphabet.len()] as char)
        .collect())
}

fn parse_file(text: &str) -> Option<Credentials> {
    let mut id = None;
    let mut secret = None;
    for line in text.lines() {
        let line = line.trim();
        if let Some((k, v)) = line.split_once('=') {
            match k.trim() {
                "aws_access_key_id" => id = Some(v.trim().to_string()),
                "aws_secret_access_key" => secret = Some(v.trim().to_string()),
                _ => {}
            }
        }
    }
    Some(Credentials {
        access_key_id: id.filter(|s| !s.is_empty())?,
        secret_access_key: secret.filter(|s| !s.is_empty())?,
    })
}

/// Reads `<data_dir>/credentials`, generating it (mode 0600) when it does not exist.
pub fn load_or_generate(
    data_dir: &Path,
) -> Result<(Credentials, CredentialsSource), CredentialsError> {
    let path = data_dir.join(FILE_NAME);
    let io = |source| CredentialsError::Io {
        path: path.clone(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let creds =
                parse_file(&text).ok_or_else(|| CredentialsError::Incomplete(path.clone()))?;
            return Ok((creds, CredentialsSource::File(path)));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    let creds = Credentials {
        access_key_id: format!(
            "AKVP{}",
            random_string(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)?
        ),
        secret_access_key: random_string(
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
            40,
        )?,
    };
    let text = format!(
        "# vodpack control-plane credentials, generated on first start.\n\
         # Use them with: AWS_SHARED_CREDENTIALS_FILE={} aws mediapackage-vod ...\n\
         [default]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
        path.display(),
        creds.access_key_id,
        creds.secret_access_key
    );
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut file = opts.open(&path).map_err(io)?;
    file.write_all(text.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)?;
    Ok((creds, CredentialsSource::Generated(path)))
}

/// Buffers the body (up to the configured limit), checks the signature, and hands the request
/// on with its body restored. `OPTIONS` (CORS preflight) passes unsigned, as browsers send it.
pub async fn require_signature(
    State(check): State<SignatureCheck>,
    req: Request,
    next: Next,
) -> Response {
    let (parts, body) = req.into_parts();
    let bytes: Bytes = match Limited::new(body, check.max_body_bytes).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            return ApiError::new(
                ErrorKind::PayloadTooLarge,
                format!(
                    "the request body is larger than {} bytes",
                    check.max_body_bytes
                ),
            )
            .into_response();
        }
        Err(e) => {
            return ApiError::unprocessable(format!("the request body could not be read: {e}"))
                .into_response();
        }
    };
    if parts.method != Method::OPTIONS
        && let Some(verifier) = &check.verifier
    {
        let headers: Vec<(&str, &str)> = parts
            .headers
            .iter()
            .filter_map(|(n, v)| v.to_str().ok().map(|v| (n.as_str(), v)))
            .collect();
        let signed = sigv4::SignedRequest {
            method: parts.method.as_str(),
            raw_path: parts.uri.path(),
            raw_query: parts.uri.query(),
            headers,
            body_sha256: sigv4::sha256_hex(&bytes),
        };
        if let Err(e) = verifier.verify(&signed, chrono::Utc::now()) {
            tracing::info!(reason = %e, method = %parts.method, path = parts.uri.path(), "request refused");
            return ApiError::forbidden(e.to_string()).into_response();
        }
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_then_reads_back() {
        let dir = std::env::temp_dir().join(format!("vodpack-creds-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let (a, src) = load_or_generate(&dir).unwrap();
        assert!(matches!(src, CredentialsSource::Generated(_)));
        assert_eq!(a.access_key_id.len(), 20);
        assert_eq!(a.secret_access_key.len(), 40);
        let (b, src) = load_or_generate(&dir).unwrap();
        assert!(matches!(src, CredentialsSource::File(_)));
        assert_eq!(a.access_key_id, b.access_key_id);
        assert_eq!(a.secret_access_key, b.secret_access_key);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
