#![no_main]
//! Fuzz target: the feed config parser must never panic, overflow the stack or run away;
//! every config it accepts has unique, well-formed feed names and non-empty locations.
use std::collections::BTreeSet;
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use stella_core::feedser::config::FeedConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = FeedConfig::parse(text, Path::new("/base")) {
        let mut names = BTreeSet::new();
        for feed in &config.feeds {
            assert!(names.insert(feed.name.clone()), "duplicate name accepted");
            assert!(!feed.name.is_empty());
            assert!(
                feed.name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            );
            assert!(!feed.location_text.is_empty());
            let _ = feed.fetch_options();
        }
    }
});
