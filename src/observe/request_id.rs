//! `X-Request-Id`: kept when the client sent a usable one, otherwise made here.

/// Longest incoming request id that is kept.
pub const MAX_LEN: usize = 128;

/// The client's id when it is 1-128 characters of `[A-Za-z0-9._:-]`, else a new UUIDv4 built
/// from `random`. Anything else could inject text into logs or upstream headers.
pub fn accept_or_generate(incoming: Option<&str>, random: [u8; 16]) -> String {
    match incoming {
        Some(id) if is_acceptable(id) => id.to_string(),
        _ => uuid_v4(random),
    }
}

fn is_acceptable(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// Formats 16 random bytes as an RFC 9562 version 4 UUID.
pub fn uuid_v4(mut bytes: [u8; 16]) -> String {
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = crate::digest::hex(&bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_safe_ids_and_replaces_others() {
        assert_eq!(
            accept_or_generate(Some("abc-123_x.y:z"), [0; 16]),
            "abc-123_x.y:z"
        );
        let generated = accept_or_generate(Some("bad id\n"), [0xff; 16]);
        assert_eq!(generated, "ffffffff-ffff-4fff-bfff-ffffffffffff");
        assert_ne!(
            accept_or_generate(Some(&"a".repeat(129)), [1; 16]),
            "a".repeat(129)
        );
        assert_eq!(
            accept_or_generate(None, [0; 16]),
            "00000000-0000-4000-8000-000000000000"
        );
    }
}
