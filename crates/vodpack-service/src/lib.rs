//! The vodpack service: the MediaPackage VOD control-plane API over HTTP, its persistence and
//! its authentication. Media logic lives elsewhere; this crate knows HTTP, SQL and files.
//!
//! Code map:
//! - [`server`]: start-up (data directory, database, credentials, listener) and shutdown;
//! - [`http`]: the one router (API, egress), request observation, the connection path;
//! - [`state`]: what API handlers reach; egress keeps its own ([`egress::Egress`]);
//! - [`api`]: the REST routes, one module per resource, validation and pagination;
//! - [`egress`]: just-in-time packaging of `/out/` URLs, with its index cache;
//! - [`auth`]: credentials and the SigV4 check in front of every API call;
//! - [`repo`]: the [`repo::Repository`] trait and its SQLite implementation;
//! - [`storage`]: the [`storage::Storage`] trait over the local folder and S3;
//! - [`ingest`]: the persisted ingest queue, its workers and events;
//! - [`keys`]: content keys: the key providers (SPEKE, fixed) and their once-per-pair store;
//! - [`model`]: the wire shapes; [`resources`]: ARNs and egress URLs; [`source_arn`]: the
//!   parser of assets' `sourceArn`; [`error`]: API errors.

pub mod api;
pub mod auth;
pub mod config;
pub mod egress;
pub mod error;
pub mod http;
pub mod ingest;
pub mod keys;
pub mod model;
pub mod repo;
pub mod resources;
pub mod server;
pub mod source_arn;
pub mod state;
pub mod storage;

pub use auth::{Credentials, CredentialsSource};
pub use repo::Quotas;
pub use server::{ServeOptions, Server, StartError, StartInfo, StorageChoice};
