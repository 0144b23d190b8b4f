//! The agent's wire format (version 1): JSON messages to the server's ingest
//! endpoint, documented in `docs/agent-protocol.md`.
//!
//! An agent sends one [`Snapshot`] (sequence `n`), then [`Delta`]s with
//! sequence `n+1, n+2, …` each naming the sequence it follows. The server
//! answers with an [`IngestResponse`]; on a gap (a lost or reordered delta,
//! a server restart) it asks for a resnapshot, and the agent sends a fresh
//! snapshot with the next sequence number.

use serde::{Deserialize, Serialize};

use crate::state::Change;
use crate::types::ClusterInventory;

/// The protocol version this crate writes and reads.
pub const PROTOCOL_VERSION: u32 = 1;

/// A message from an agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentMessage {
    /// Always [`PROTOCOL_VERSION`]; a server rejects versions it does not know.
    pub version: u32,
    /// The cluster the agent runs in (its `--cluster-name`).
    pub cluster: String,
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
    Ok(serde_json::from_slice(bytes)?)
}

/// What a receiver does with a message, given the last sequence it applied
/// for this cluster (`None`: nothing yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceCheck {
    Apply,
    /// Already applied (a retry): acknowledge, do not apply again.
    Duplicate,
    /// A delta that does not follow the last applied message: ask for a snapshot.
    Gap,
}

pub fn check_sequence(last_applied: Option<u64>, message: &AgentMessage) -> SequenceCheck {
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
