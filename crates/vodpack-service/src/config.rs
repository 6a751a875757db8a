//! Settings the running service reads on every request.

use crate::repo::Quotas;

/// Default limit on a control-plane request body. The largest legitimate body (a packaging
/// configuration with many manifests and 50 tags) is a few kilobytes.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Base of egress URLs, without a trailing `/` (e.g. `http://127.0.0.1:8080`).
    pub public_url: String,
    pub region: String,
    /// The 12-digit account id used in ARNs.
    pub account_id: String,
    pub quotas: Quotas,
    pub max_body_bytes: usize,
    /// Which key server URLs configurations may name (`VODPACK_SPEKE_ALLOW_HTTP_HOSTS`).
    pub speke_url_policy: crate::keys::UrlPolicy,
}

impl ServiceConfig {
    /// `domainName` of packaging groups: the host (and port) of the public base URL.
    pub fn domain_name(&self) -> String {
        let rest = self
            .public_url
            .split_once("://")
            .map(|(_, r)| r)
            .unwrap_or(&self.public_url);
        rest.split('/').next().unwrap_or(rest).to_string()
    }
}
