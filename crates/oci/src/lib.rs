mod auth;
mod blob;
mod compression;
mod credentials;
mod error;
pub mod manifest;
mod reference;
mod verify;

pub use auth::{Challenge, parse_challenges};
pub use blob::BlobStream;
pub use compression::Compression;
pub use credentials::{CredentialStore, Credentials, parse_docker_config};
pub use error::OciError;
pub use reference::{DOCKER_HUB, DOCKER_HUB_API_HOST, Reference};
pub use verify::digest_of;
