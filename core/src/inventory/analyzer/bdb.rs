//! Values of a Berkeley DB hash database, read from its bytes: what the rpmdb of
//! RHEL/CentOS ≤ 8 (`var/lib/rpm/Packages`) is. Layout from libdb's
//! `dbinc/db_page.h`: page 0 is the hash metadata page; hash pages (type 13, or 2
//! for old unsorted ones) hold an index of in-page offsets to key/value items; a
//! value too big for the page is an `H_OFFPAGE` item naming the first page of a
//! chain of overflow pages (type 7). rpm headers are always that big, so only
//! off-page values are returned; keys (package numbers) are ignored.

/// Why the file is not a readable hash database.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BdbError {
    /// Not a Berkeley DB hash file.
    #[error("not a Berkeley DB hash database: {0}")]
    NotHash(&'static str),
    /// Encrypted databases cannot be read.
    #[error("encrypted Berkeley DB")]
    Encrypted,
    /// A structure points outside the file or loops.
    #[error("corrupt Berkeley DB: {0}")]
    Corrupt(String),
}

const HASH_MAGIC: u32 = 0x0006_1561;
const PAGE_HEADER: usize = 26;
const P_HASH_UNSORTED: u8 = 2;
const P_OVERFLOW: u8 = 7;
const P_HASHMETA: u8 = 8;
const P_HASH: u8 = 13;
const H_OFFPAGE: u8 = 3;

/// Byte order of the file (the creating machine's; "swapped" when it differs).
#[derive(Clone, Copy)]
struct Order(bool);

impl Order {
    fn u16(self, b: &[u8], at: usize) -> Option<u16> {
        let a: [u8; 2] = b.get(at..at.checked_add(2)?)?.try_into().ok()?;
        Some(if self.0 {
            u16::from_be_bytes(a)
        } else {
            u16::from_le_bytes(a)
        })
    }
    fn u32(self, b: &[u8], at: usize) -> Option<u32> {
        let a: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(if self.0 {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        })
    }
}

/// Off-page values of a hash database, in page order; at most `max_values`, each
/// at most `max_value_len` bytes (longer ones are an error).
pub fn hash_values(
    db: &[u8],
    max_values: usize,
    max_value_len: usize,
) -> Result<Vec<Vec<u8>>, BdbError> {
    let le = Order(false);
    let order = match le.u32(db, 12) {
        Some(HASH_MAGIC) => le,
        Some(m) if m.swap_bytes() == HASH_MAGIC => Order(true),
        _ => return Err(BdbError::NotHash("magic")),
    };
    if db.get(25) != Some(&P_HASHMETA) {
        return Err(BdbError::NotHash("first page is not hash metadata"));
    }
    if db.get(24).is_some_and(|&e| e != 0) {
        return Err(BdbError::Encrypted);
    }
    let page_size = order.u32(db, 20).unwrap_or(0) as usize;
    if !(512..=65536).contains(&page_size) || !page_size.is_power_of_two() {
        return Err(BdbError::NotHash("page size"));
    }
    let last = order.u32(db, 32).unwrap_or(0) as usize;
    // The file may be cut short by the layer reader's limit: read what is there.
    let pages = (db.len() / page_size).min(last.saturating_add(1));
    let page = |n: usize| db.get(n.checked_mul(page_size)?..(n + 1).checked_mul(page_size)?);
    let mut out = Vec::new();
    for n in 1..pages {
        let Some(p) = page(n) else { break };
        let ty = p.get(25).copied().unwrap_or(0);
        if ty != P_HASH && ty != P_HASH_UNSORTED {
            continue;
        }
        let entries = order.u16(p, 20).unwrap_or(0) as usize;
        // Items come in key/value pairs; values are the odd ones.
        for i in (1..entries).step_by(2) {
            let Some(off) = order.u16(p, PAGE_HEADER + i * 2) else {
                break;
            };
            let off = off as usize;
            if p.get(off) != Some(&H_OFFPAGE) {
                continue;
            }
            let (Some(first), Some(len)) = (order.u32(p, off + 4), order.u32(p, off + 8)) else {
                return Err(BdbError::Corrupt(format!("page {n}: item past page end")));
            };
            let len = len as usize;
            if len > max_value_len {
                return Err(BdbError::Corrupt(format!(
                    "page {n}: value of {len} bytes is over the limit"
                )));
            }
            if out.len() >= max_values {
                return Ok(out);
            }
            out.push(overflow_chain(
                db,
                page_size,
                pages,
                first as usize,
                len,
                order,
            )?);
        }
    }
    Ok(out)
}

/// The `len` bytes of a chain of overflow pages starting at page `first`.
fn overflow_chain(
    db: &[u8],
    page_size: usize,
    pages: usize,
    first: usize,
    len: usize,
    order: Order,
) -> Result<Vec<u8>, BdbError> {
    let mut value = Vec::with_capacity(len);
    let mut n = first;
    // Each page is visited at most once: a chain longer than the file loops.
    for _ in 0..pages {
        if n == 0 || value.len() >= len {
            break;
        }
        let p = db
            .get(n * page_size..(n + 1) * page_size)
            .ok_or_else(|| BdbError::Corrupt(format!("overflow page {n} past end")))?;
        if p.get(25) != Some(&P_OVERFLOW) {
            return Err(BdbError::Corrupt(format!(
                "page {n} is not an overflow page"
            )));
        }
        // On overflow pages the "high free offset" field holds the bytes used.
        let used = order.u16(p, 22).unwrap_or(0) as usize;
        let data = p
            .get(PAGE_HEADER..PAGE_HEADER + used)
            .ok_or_else(|| BdbError::Corrupt(format!("overflow page {n}: bad length")))?;
        value.extend_from_slice(data);
        n = order.u32(p, 16).unwrap_or(0) as usize;
    }
    if value.len() != len {
        return Err(BdbError::Corrupt(format!(
            "overflow chain from page {first}: {} bytes, expected {len}",
            value.len()
        )));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> Vec<u8> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/inventory/rpmdb-bdb-Packages"
        );
        std::fs::read(path).expect("bdb fixture")
    }

    #[test]
    fn reads_values_of_a_real_hash_file() {
        let db = fixture();
        let values = hash_values(&db, 100, 1 << 20).expect("values");
        // Three rpm headers, each starting with its big-endian index count.
        assert_eq!(values.len(), 3);
        let mut lens: Vec<usize> = values.iter().map(Vec::len).collect();
        lens.sort_unstable();
        assert_eq!(lens.len(), 3);
        for v in &values {
            let il = u32::from_be_bytes([v[0], v[1], v[2], v[3]]) as usize;
            let dl = u32::from_be_bytes([v[4], v[5], v[6], v[7]]) as usize;
            assert_eq!(8 + il * 16 + dl, v.len());
        }
        assert_eq!(hash_values(&db, 2, 1 << 20).map(|v| v.len()), Ok(2));
        assert!(matches!(
            hash_values(&db, 100, 100),
            Err(BdbError::Corrupt(_))
        ));
    }

    #[test]
    fn rejects_other_files_and_survives_damage() {
        assert_eq!(hash_values(b"", 10, 10), Err(BdbError::NotHash("magic")));
        assert_eq!(
            hash_values(b"SQLite format 3\0 and more bytes", 10, 10),
            Err(BdbError::NotHash("magic"))
        );
        let db = fixture();
        // Truncations read fewer values or fail; they never panic.
        for cut in (0..db.len()).step_by(97) {
            let _ = hash_values(db.get(..cut).unwrap_or_default(), 100, 1 << 20);
        }
        // An overflow chain that points back at itself is caught.
        let mut looped = db.clone();
        for n in 1..looped.len() / 1024 {
            if looped.get(n * 1024 + 25) == Some(&P_OVERFLOW) {
                let next = (n as u32).to_le_bytes();
                if let Some(f) = looped.get_mut(n * 1024 + 16..n * 1024 + 20) {
                    f.copy_from_slice(&next);
                }
            }
        }
        assert!(hash_values(&looped, 100, 1 << 20).is_err());
    }

    proptest::proptest! {
        #[test]
        fn damaged_bytes_never_panic(pos in 0usize..10240, byte in proptest::prelude::any::<u8>()) {
            let mut db = fixture();
            if let Some(b) = db.get_mut(pos) {
                *b = byte;
            }
            let _ = hash_values(&db, 100, 1 << 20);
        }
    }
}
