//! When each feed is due, without I/O: from the config's `interval` and the stored state.
//! `stella feeds sync --daemon` (and later the server) asks [`due`] which feeds to sync now
//! and [`next_due`] how long to sleep.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::feedser::config::FeedConfig;
use crate::feedser::store::FeedState;

/// The interval of a feed whose config gives none.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(6 * 3600);

/// How soon a feed whose last run failed is tried again (or its interval, if shorter).
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(15 * 60);

/// The moment `feed` is next due, from its state: never synced → now; last run failed →
/// the last attempt plus the retry delay; else the last success plus the interval.
fn due_at(interval: Duration, state: Option<&FeedState>, now: DateTime<Utc>) -> DateTime<Utc> {
    let parse = |t: &Option<String>| {
        t.as_deref()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
    };
    let Some(state) = state else { return now };
    let success = parse(&state.last_success);
    let attempt = parse(&state.last_attempt);
    let step = |d: Duration| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
    let failed_since_success = state.last_error.is_some()
        && match (attempt, success) {
            (Some(a), Some(s)) => a > s,
            (Some(_), None) => true,
            _ => false,
        };
    match (failed_since_success, attempt, success) {
        (true, Some(a), _) => a
            .checked_add_signed(step(interval.min(RETRY_AFTER_FAILURE)))
            .unwrap_or(now),
        (_, _, Some(s)) => s.checked_add_signed(step(interval)).unwrap_or(now),
        _ => now,
    }
}

/// The enabled feeds due at `now`, in config order.
pub fn due(config: &FeedConfig, states: &[FeedState], now: DateTime<Utc>) -> Vec<String> {
    config
        .feeds
        .iter()
        .filter(|f| f.enabled)
        .filter(|f| {
            let state = states.iter().find(|s| s.feed == f.name);
            due_at(f.interval.unwrap_or(DEFAULT_INTERVAL), state, now) <= now
        })
        .map(|f| f.name.clone())
        .collect()
}

/// The earliest moment an enabled feed is due (`None` when no feed is enabled).
pub fn next_due(
    config: &FeedConfig,
    states: &[FeedState],
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    config
        .feeds
        .iter()
        .filter(|f| f.enabled)
        .map(|f| {
            let state = states.iter().find(|s| s.feed == f.name);
            due_at(f.interval.unwrap_or(DEFAULT_INTERVAL), state, now)
        })
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn config() -> FeedConfig {
        FeedConfig::parse(
            "feeds:\n  - name: hourly\n    source: osv\n    location: a\n    interval: 1h\n  \
             - name: daily\n    source: ghsa\n    location: b\n    interval: 1d\n  \
             - name: off\n    source: nvd\n    location: c\n    enabled: false\n",
            Path::new("."),
        )
        .expect("config")
    }

    fn at(t: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(t)
            .expect("time")
            .with_timezone(&Utc)
    }

    fn state(feed: &str, success: Option<&str>, attempt: &str, error: bool) -> FeedState {
        FeedState {
            feed: feed.into(),
            source: "osv".into(),
            last_success: success.map(str::to_owned),
            last_attempt: Some(attempt.into()),
            last_error: error.then(|| "boom".to_owned()),
            ..FeedState::default()
        }
    }

    #[test]
    fn never_synced_feeds_are_due_and_disabled_ones_never() {
        let now = at("2026-01-01T00:00:00Z");
        assert_eq!(due(&config(), &[], now), ["hourly", "daily"]);
        assert_eq!(next_due(&config(), &[], now), Some(now));
    }

    #[test]
    fn intervals_count_from_the_last_success() {
        let states = [
            state(
                "hourly",
                Some("2026-01-01T00:00:00Z"),
                "2026-01-01T00:00:00Z",
                false,
            ),
            state(
                "daily",
                Some("2026-01-01T00:00:00Z"),
                "2026-01-01T00:00:00Z",
                false,
            ),
        ];
        assert!(due(&config(), &states, at("2026-01-01T00:59:59Z")).is_empty());
        assert_eq!(
            due(&config(), &states, at("2026-01-01T01:00:00Z")),
            ["hourly"]
        );
        assert_eq!(
            due(&config(), &states, at("2026-01-02T00:00:00Z")),
            ["hourly", "daily"]
        );
        assert_eq!(
            next_due(&config(), &states, at("2026-01-01T00:10:00Z")),
            Some(at("2026-01-01T01:00:00Z"))
        );
    }

    #[test]
    fn a_failed_feed_is_retried_sooner_than_its_interval() {
        let states = [state(
            "daily",
            Some("2026-01-01T00:00:00Z"),
            "2026-01-01T06:00:00Z",
            true,
        )];
        let now = at("2026-01-01T06:14:00Z");
        assert_eq!(due(&config(), &states, now), ["hourly"], "hourly never ran");
        assert_eq!(
            due(&config(), &states, at("2026-01-01T06:15:00Z")),
            ["hourly", "daily"]
        );
        // An error recorded before the last success is history, not a failure.
        let healed = [state(
            "daily",
            Some("2026-01-01T06:00:00Z"),
            "2026-01-01T06:00:00Z",
            true,
        )];
        assert_eq!(
            next_due(&config(), &healed[..], now).map(|t| t.to_rfc3339()),
            Some(now.to_rfc3339()),
            "hourly is due now; daily only tomorrow"
        );
        assert!(!due(&config(), &healed, now).contains(&"daily".to_owned()));
    }
}
