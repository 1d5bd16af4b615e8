//! One parser per advisory source: the bytes of one document in, OSV records out.
//! Each has size limits, never panics, and is fuzzed.

pub mod alpine;
pub mod debian;
pub mod node_range;
pub mod nodejs_wg;
pub mod nvd;
pub mod osv;
pub mod rustsec;

use super::{ConnectorError, Parsed, Source};

/// Reads one document of `source` with the connector for it. The document's name picks
/// the format where a source has several: `.yaml`/`.yml` OSV is PyPA's YAML; a Debian
/// name containing `DSA` or `DLA` is that tracker list, a `.json` one the tracker export.
pub fn parse_document(
    source: Source,
    document: &str,
    bytes: &[u8],
) -> Result<Parsed, ConnectorError> {
    let lower = document.to_ascii_lowercase();
    match source {
        Source::Osv | Source::Ghsa => {
            let yaml = lower.ends_with(".yaml") || lower.ends_with(".yml");
            osv::parse(source, document, bytes, yaml)
        }
        Source::Nvd => nvd::parse(document, bytes),
        Source::Debian => {
            // The file name decides, not the folders above it.
            let name = lower.rsplit(['/', '!']).next().unwrap_or(&lower);
            if name.ends_with(".json") {
                debian::parse_tracker_json(document, bytes)
            } else if name.contains("dsa") || lower.contains("/dsa/") {
                debian::parse_tracker_list(document, bytes, debian::ListKind::Dsa)
            } else if name.contains("dla") || lower.contains("/dla/") {
                debian::parse_tracker_list(document, bytes, debian::ListKind::Dla)
            } else {
                Err(ConnectorError::new(
                    source,
                    document,
                    "cannot tell the format: expected a DSA list, a DLA list (a name \
                     containing DSA or DLA) or the tracker's JSON export (.json)",
                ))
            }
        }
        Source::Alpine => alpine::parse_secdb(document, bytes),
        Source::Rustsec => rustsec::parse(document, bytes),
        Source::NodejsWg => nodejs_wg::parse(document, bytes),
    }
}
