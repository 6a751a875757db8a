//! What the control-plane handlers can reach. Egress has its own state ([`crate::egress::Egress`]),
//! the signature check its own ([`crate::auth::SignatureCheck`]); this one holds what the API
//! needs, including the egress handle so that API changes drop egress's cached resolutions.

use std::sync::Arc;

use crate::auth::SignatureCheck;
use crate::config::ServiceConfig;
use crate::egress::Egress;
use crate::ingest::Ingest;
use crate::repo::Repository;

#[derive(Clone)]
pub struct AppState {
    pub repo: Arc<dyn Repository>,
    pub config: Arc<ServiceConfig>,
    /// The SigV4 check in front of every API route.
    pub signature: SignatureCheck,
    /// The ingest queue, woken on CreateAsset and told of DeleteAsset.
    pub ingest: Arc<Ingest>,
    /// Egress: its resolutions and indexes are dropped on API changes.
    pub egress: Arc<Egress>,
}
