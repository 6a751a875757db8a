//! The vodpack service: the MediaPackage VOD control-plane API over HTTP, its persistence and
//! its authentication. Media logic lives elsewhere; this crate knows HTTP, SQL and files.
//!
//! Code map:
//! - [`server`]: start-up (data directory, database, credentials, listener) and shutdown;
//! - [`api`]: the REST router, one module per resource, validation and pagination;
//! - [`auth`]: credentials and the SigV4 check in front of every API call;
//! - [`repo`]: the [`repo::Repository`] trait and its SQLite implementation;
//! - [`storage`]: the [`storage::Storage`] trait over the local folder and S3;
//! - [`ingest`]: the persisted ingest queue, its workers and events;
//! - [`model`]: the wire shapes; [`resources`]: ARNs and egress URLs; [`error`]: API errors.

pub mod api;
pub mod auth;
pub mod config;
pub mod egress;
pub mod error;
pub mod ingest;
pub mod model;
pub mod repo;
pub mod resources;
pub mod server;
pub mod storage;

pub use auth::{Credentials, CredentialsSource};
pub use repo::Quotas;
pub use server::{ServeOptions, Server, StartError, StartInfo, StorageChoice};
