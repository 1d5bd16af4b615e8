//! Default locations of the advisory DB.

use std::path::PathBuf;

/// `--db`, else `$STELLA_DB`, else `$XDG_DATA_HOME/stella/advisories.db`,
/// else `~/.local/share/stella/advisories.db`.
pub fn db_path(flag: Option<PathBuf>) -> PathBuf {
    if let Some(p) = flag {
        return p;
    }
    if let Some(p) = std::env::var_os("STELLA_DB").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    data.join("stella").join("advisories.db")
}
