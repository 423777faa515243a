//! Lowercase hex, for checksums and tokens.

/// Lowercase hex of `bytes`: checksums and token hashes.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
