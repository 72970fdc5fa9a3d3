//! The bounds of what policies do, shared by their parsers and the stage.

/// Longest deadline of a `worker` or `http` policy call.
pub const MAX_CALL_MS: u64 = 30_000;
/// Largest body a policy reads (checked, transformed or sent to a policy).
pub const MAX_BODY_BYTES: u64 = 8 * 1024 * 1024;
