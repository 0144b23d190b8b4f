//! The database's typed errors; each names the file or record involved.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum VulnDbError {
    #[error("cannot create the data directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path} is not an advisory database (not an SQLite file, or corrupt): {source}; move it away and import again"
    )]
    NotADatabase {
        path: PathBuf,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot open the advisory database {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot bring the advisory database {path} up to date: {source}")]
    Migrate {
        path: PathBuf,
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    #[error("advisory database: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("encoding {what}: {message}")]
    Encode { what: String, message: String },
    #[error("decoding {what}: {message}")]
    Decode { what: String, message: String },
    #[error("importing {path}: {source}")]
    Import {
        path: PathBuf,
        #[source]
        source: advisory::ImportError,
    },
    #[error("import worker failed: {0}")]
    Worker(String),
}

impl VulnDbError {
    /// SQLite's NOTADB (26) and CORRUPT (11) get their own error: the user
    /// has to move the file, not retry.
    pub(crate) fn open(path: &Path, source: sqlx::Error) -> VulnDbError {
        let code = source
            .as_database_error()
            .and_then(|e| e.code())
            .map(|c| c.into_owned());
        let path = path.to_owned();
        match code.as_deref() {
            Some("26") | Some("11") => VulnDbError::NotADatabase { path, source },
            _ => VulnDbError::Open { path, source },
        }
    }
}
