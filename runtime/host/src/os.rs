//! The host's wall clock and random source, read in one place by the server
//! (envelopes, request ids) and by the first run (the token it lends the
//! app as `bootstrap_token`).

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_unix_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// 16 bytes from the OS's cryptographic random source.
pub fn random_bytes() -> [u8; 16] {
    let mut bytes = [0u8; 16];
    // The OS random source failing is not something to serve through.
    getrandom::fill(&mut bytes).expect("the OS random source works");
    bytes
}
