//! Shipshape cluster inventory (issue #4): which image digests run where, in
//! one or many Kubernetes clusters, by workload.
//!
//! - [`types`]: the domain (`ClusterInventory`, `Workload`, `ContainerImage`, …).
//! - [`image_id`]: imageID parsing and reference normalisation (pure).
//! - [`owners`]: owner resolution to the top workload (pure).
//! - [`objects`], [`store`]: slim watched objects and the tables they map into.
//! - [`assemble`](mod@assemble): store → inventory (pure).
//! - [`state`]: `InventoryState` over time: first/last seen, no longer running, tag drift.
//! - [`wire`]: the agent's versioned JSON messages.
//! - [`agent`]: `shipshape agent`'s loop: snapshot, deltas, retries, bounded buffer.
//! - [`health`]: the agent's `/healthz` and `/readyz`.
//! - [`collector`]: kube clients and watchers per cluster; [`secrets`]: pull secrets on demand.
//!
//! This is the only crate that uses kube-rs.

pub mod agent;
pub mod assemble;
pub mod collector;
pub mod health;
pub mod image_id;
pub mod objects;
pub mod owners;
pub mod secrets;
pub mod state;
pub mod store;
pub mod types;
pub mod wire;

pub use assemble::assemble;
pub use collector::{ClusterHandle, ClusterSource, CollectorError, connect};
pub use image_id::{ImageId, ImageIdError, normalize_reference, parse_image_id};
pub use secrets::{PullSecretResolver, SecretError};
pub use state::{Change, InventoryState};
pub use types::*;
