//! `mock` policies: answers from configured examples (or an OpenAPI operation's), without an
//! origin, for front-end work before a service exists.

/// A fixed answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mock {
    pub status: u16,
    /// Lower-case names; `content-type` is set from the body when not given.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}
