//! Default locations: the advisory DB, the feed store, the feeds config.

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
    xdg("DATA", ".local/share", "advisories.db")
}

/// `$XDG_<KIND>_HOME/stella/<file>` (falling back to `~/<fallback>/stella/<file>`).
fn xdg(kind: &str, fallback: &str, file: &str) -> PathBuf {
    std::env::var_os(format!("XDG_{kind}_HOME"))
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(fallback)))
        .unwrap_or_else(|| PathBuf::from("."))
        .join("stella")
        .join(file)
}

/// `--store` (or `$STELLA_FEED_STORE`, via clap), else `$XDG_DATA_HOME/stella/feeds.db`.
pub fn feed_store(flag: Option<String>) -> String {
    flag.filter(|s| !s.is_empty()).unwrap_or_else(|| {
        xdg("DATA", ".local/share", "feeds.db")
            .display()
            .to_string()
    })
}

/// `--config` (or `$STELLA_FEEDS_CONFIG`), else `$XDG_CONFIG_HOME/stella/feeds.yaml`.
pub fn feeds_config(flag: Option<PathBuf>) -> PathBuf {
    flag.unwrap_or_else(|| xdg("CONFIG", ".config", "feeds.yaml"))
}
