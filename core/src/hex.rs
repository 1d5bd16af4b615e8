//! Lower-case hex encoding of digests (SHA-256 of records, blobs, configs).

/// `bytes` as lower-case hex, two digits per byte.
pub(crate) fn encode(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}
