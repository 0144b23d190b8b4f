//! `shipshape token create|list|revoke`: API and agent tokens, managed on the
//! data directory's store directly (for bootstrapping an agent before anyone
//! has logged in; the REST API does the same for admins).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand, ValueEnum};
use server::secret::{Secret, SecretKind};
use store::{NewToken, Role, SqliteStore, Store, TokenId};
use time::OffsetDateTime;

#[derive(Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    command: TokenCommand,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Issue a token and print it (once: only its hash is kept).
    Create {
        /// A name to recognise it by (unique).
        #[arg(long)]
        name: String,
        /// What it may do.
        #[arg(long, value_enum, default_value_t = TokenRole::Viewer, conflicts_with = "cluster")]
        role: TokenRole,
        /// An agent token: it may only send the inventory of this cluster.
        #[arg(long, value_name = "NAME")]
        cluster: Option<String>,
    },
    /// List tokens (never their values).
    List,
    /// Revoke a token by id.
    Revoke { id: i64 },
}

#[derive(Clone, Copy, ValueEnum)]
enum TokenRole {
    Viewer,
    Editor,
    Admin,
}

pub async fn run(args: TokenArgs, data_dir: &Path) -> anyhow::Result<ExitCode> {
    let store = SqliteStore::open(data_dir)
        .await
        .with_context(|| format!("opening the store in {}", data_dir.display()))?;
    let now = OffsetDateTime::now_utc();
    let mut out = std::io::stdout().lock();
    match args.command {
        TokenCommand::Create {
            name,
            role,
            cluster,
        } => {
            if name.trim().is_empty() {
                bail!("--name must not be empty");
            }
            let role = match role {
                TokenRole::Viewer => Role::Viewer,
                TokenRole::Editor => Role::Editor,
                TokenRole::Admin => Role::Admin,
            };
            let token = Secret::generate(SecretKind::ApiToken)?;
            let id = store
                .create_token(
                    &NewToken {
                        name: name.clone(),
                        token_hash: token.hash(),
                        role,
                        user: None,
                        cluster: cluster.clone(),
                    },
                    now,
                )
                .await?;
            writeln!(out, "{}", token.expose())?;
            let what = match &cluster {
                Some(cluster) => format!("agent token for cluster {cluster:?}"),
                None => format!("{} token", role.as_str()),
            };
            writeln!(
                std::io::stderr().lock(),
                "Created {what} {name:?} (id {id}). It is shown once; store it as a secret."
            )?;
        }
        TokenCommand::List => {
            for t in store.tokens().await? {
                let state = if t.revoked.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                let scope = t
                    .cluster
                    .map_or_else(|| t.role.as_str().to_owned(), |c| format!("agent:{c}"));
                writeln!(out, "{}\t{}\t{scope}\t{state}", t.id, t.name)?;
            }
        }
        TokenCommand::Revoke { id } => {
            store.revoke_token(TokenId(id), now).await?;
            writeln!(std::io::stderr().lock(), "Revoked token {id}.")?;
        }
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}
