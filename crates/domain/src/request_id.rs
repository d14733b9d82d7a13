//! Request ids: the `X-Request-Id` every response carries (DESIGN.md §2).
//!
//! A caller's id is honoured when it is reasonable to echo back and log;
//! otherwise a fresh one is generated from 16 random bytes the caller
//! supplies (this crate does no I/O, so it has no random source of its own).

/// The longest caller-supplied request id we accept.
pub const MAX_INCOMING_LEN: usize = 128;

/// Returns the caller's request id if it is acceptable: 1 to 128 characters
/// of visible ASCII (`!` to `~`), so no spaces, control characters or
/// non-ASCII. Returns `None` otherwise, and the caller should [`generate`] one.
pub fn accept_incoming(header: &str) -> Option<String> {
    let ok = !header.is_empty()
        && header.len() <= MAX_INCOMING_LEN
        && header.bytes().all(|b| b.is_ascii_graphic());
    ok.then(|| header.to_owned())
}

/// Formats a new request id: `req_` followed by the 16 bytes as 32 lowercase
/// hex digits, e.g. `req_00112233445566778899aabbccddeeff`.
pub fn generate(random: [u8; 16]) -> String {
    format!("req_{}", hex::encode(random))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_reasonable_ids() {
        assert_eq!(accept_incoming("abc").as_deref(), Some("abc"));
        assert_eq!(
            accept_incoming("req_0123-ABC:xyz/~!").as_deref(),
            Some("req_0123-ABC:xyz/~!")
        );
        let max = "a".repeat(MAX_INCOMING_LEN);
        assert_eq!(accept_incoming(&max), Some(max.clone()));
    }

    #[test]
    fn rejects_empty_long_spaced_control_and_non_ascii() {
        assert_eq!(accept_incoming(""), None);
        assert_eq!(accept_incoming(&"a".repeat(MAX_INCOMING_LEN + 1)), None);
        assert_eq!(accept_incoming("a b"), None);
        assert_eq!(accept_incoming(" abc"), None);
        assert_eq!(accept_incoming("abc\t"), None);
        assert_eq!(accept_incoming("abc\n"), None);
        assert_eq!(accept_incoming("abc\u{7f}"), None);
        assert_eq!(accept_incoming("héllo"), None);
    }

    #[test]
    fn generates_req_prefix_and_lowercase_hex() {
        let id = generate([
            0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd,
            0xee, 0xff,
        ]);
        assert_eq!(id, "req_00112233445566778899aabbccddeeff");
        assert_eq!(generate([0; 16]), format!("req_{}", "0".repeat(32)));
        assert_eq!(generate([0xAB; 16]).len(), 36);
    }

    #[test]
    fn generated_ids_are_accepted_back() {
        let id = generate([7; 16]);
        assert_eq!(accept_incoming(&id), Some(id));
    }
}
