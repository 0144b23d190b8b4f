//! The store's typed errors. None of them carries a secret: token and
//! session hashes are never put into a message.

use std::path::{Path, PathBuf};

use crate::filter::FilterError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the data directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path} is not a Shipshape store (not an SQLite file, or corrupt): {source}; move it away and restart"
    )]
    NotADatabase {
        path: PathBuf,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot open the store {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot bring the store {path} up to date: {source}")]
    Migrate {
        path: PathBuf,
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    #[error("the database URL scheme {0:?} has no store backend (supported: sqlite)")]
    UnsupportedUrl(String),
    #[error("store: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("encoding {what}: {message}")]
    Encode { what: &'static str, message: String },
    #[error("stored {what} is unreadable: {message}")]
    Decode { what: &'static str, message: String },
    #[error(transparent)]
    Filter(#[from] FilterError),
    /// A caller-supplied value the store refuses (empty reason, too long, unknown id).
    #[error("invalid {what}: {message}")]
    Invalid { what: &'static str, message: String },
    #[error("{what} not found: {key}")]
    NotFound { what: &'static str, key: String },
    /// A unique name already taken (user name, token name).
    #[error("{what} {key:?} already exists")]
    Conflict { what: &'static str, key: String },
    /// Disabling or demoting this user would leave no enabled admin.
    #[error("the last enabled admin cannot be disabled or demoted: make another user admin first")]
    LastAdmin,
}

impl StoreError {
    /// SQLite's NOTADB (26) and CORRUPT (11) get their own error: the user
    /// has to move the file, not retry.
    pub(crate) fn open(path: &Path, source: sqlx::Error) -> StoreError {
        let code = source
            .as_database_error()
            .and_then(|e| e.code())
            .map(|c| c.into_owned());
        let path = path.to_owned();
        match code.as_deref() {
            Some("26") | Some("11") => StoreError::NotADatabase { path, source },
            _ => StoreError::Open { path, source },
        }
    }

    pub(crate) fn invalid(what: &'static str, message: impl Into<String>) -> StoreError {
        StoreError::Invalid {
            what,
            message: message.into(),
        }
    }

    pub(crate) fn decode(what: &'static str, message: impl std::fmt::Display) -> StoreError {
        StoreError::Decode {
            what,
            message: message.to_string(),
        }
    }
}
