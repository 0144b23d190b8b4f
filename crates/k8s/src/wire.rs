//! The agent's wire format (version 1): JSON messages to the server's ingest
//! endpoint, documented in `docs/agent-protocol.md`.
//!
//! An agent process (a *run*, named by a random id) sends one [`Snapshot`]
//! (sequence `n`), then [`Delta`]s with sequence `n+1, n+2, …` each naming
//! the sequence it follows. Sequences count within a run: a restarted agent
//! is a new run and starts again at 1 with a snapshot. The server
//! answers with an [`IngestResponse`]; on a gap (a lost or reordered delta,
//! a server restart) it asks for a resnapshot, and the agent sends a fresh
//! snapshot with the next sequence number.

use serde::{Deserialize, Serialize};

use crate::state::Change;
use crate::types::ClusterInventory;

/// The protocol version this crate writes and reads.
pub const PROTOCOL_VERSION: u32 = 1;

/// The longest run id accepted.
pub const MAX_RUN_LEN: usize = 64;

/// A fresh run id for an agent process: 128 random bits, hex.
pub fn new_run_id() -> String {
    format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}

/// A message from an agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentMessage {
    /// Always [`PROTOCOL_VERSION`]; a server rejects versions it does not know.
    pub version: u32,
    /// The cluster the agent runs in (its `--cluster-name`).
    pub cluster: String,
    /// The agent process's id: random, fixed for its lifetime (1 to
    /// [`MAX_RUN_LEN`] characters `[A-Za-z0-9_-]`).
    pub run: String,
    /// Increases by one per message from this agent run.
    pub sequence: u64,
    #[serde(flatten)]
    pub body: MessageBody,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MessageBody {
    Snapshot(Snapshot),
    Delta(Delta),
}

/// The whole inventory of the cluster: replaces what the server holds for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub inventory: ClusterInventory,
}

/// Changes since the message with sequence `follows`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delta {
    pub follows: u64,
    pub changes: Vec<Change>,
}

/// The server's answer to a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum IngestResponse {
    /// Applied (or already applied: a retried message is acknowledged again).
    Accepted { sequence: u64 },
    /// The server cannot apply this delta: send a snapshot.
    Resnapshot { reason: String },
}

/// Why a message cannot be decoded.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error(
        "agent protocol version {0} is not supported (this build speaks version {PROTOCOL_VERSION})"
    )]
    UnsupportedVersion(u32),
    #[error("malformed agent message: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error(
        "malformed agent message: the run id must be 1 to {MAX_RUN_LEN} characters of [A-Za-z0-9_-]"
    )]
    BadRun,
}

/// Decodes a message, checking the version before the body so that a newer
/// agent gets a clear "unsupported version", not a field error.
pub fn decode(bytes: &[u8]) -> Result<AgentMessage, WireError> {
    #[derive(Deserialize)]
    struct VersionOnly {
        version: u32,
    }
    let VersionOnly { version } = serde_json::from_slice(bytes)?;
    if version != PROTOCOL_VERSION {
        return Err(WireError::UnsupportedVersion(version));
    }
    let message: AgentMessage = serde_json::from_slice(bytes)?;
    let run_ok = !message.run.is_empty()
        && message.run.len() <= MAX_RUN_LEN
        && message
            .run
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !run_ok {
        return Err(WireError::BadRun);
    }
    Ok(message)
}

/// The last message a receiver applied for a cluster: which run, which sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applied<'a> {
    pub run: &'a str,
    pub sequence: u64,
}

/// What a receiver does with a message, given the last message it applied
/// for this cluster (`None`: nothing yet). Only messages of the same run are
/// compared by sequence: another run (a restarted agent) starts afresh, so
/// its snapshot applies and its deltas need one first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceCheck {
    Apply,
    /// Already applied (a retry): acknowledge, do not apply again.
    Duplicate,
    /// A delta that does not follow the last applied message: ask for a snapshot.
    Gap,
}

pub fn check_sequence(last_applied: Option<Applied<'_>>, message: &AgentMessage) -> SequenceCheck {
    let last_applied = last_applied
        .filter(|applied| applied.run == message.run)
        .map(|applied| applied.sequence);
    match (&message.body, last_applied) {
        (_, Some(last)) if message.sequence <= last => SequenceCheck::Duplicate,
        (MessageBody::Snapshot(_), _) => SequenceCheck::Apply,
        (MessageBody::Delta(_), None) => SequenceCheck::Gap,
        (MessageBody::Delta(delta), Some(last)) => {
            if delta.follows == last && message.sequence == last + 1 {
                SequenceCheck::Apply
            } else {
                SequenceCheck::Gap
            }
        }
    }
}
