//! Exact, global rate limiting: one Durable Object per (policy, key) serialises every check for
//! that key, so no two isolates can both take the last request of a window. Policies in
//! `approximate` mode spend credit leased from that object in batches instead ([`lease`]).

pub mod algorithm;
pub mod client;
pub mod config;
pub mod lease;
pub mod object;
pub mod policy;
