//! NVD CVE API 2.0 paging: `startIndex` / `resultsPerPage` until `totalResults`, within
//! `lastModStartDate` / `lastModEndDate` windows of at most 120 days (NVD's rule).
//!
//! The first run has no window (the whole database, paged); later runs cover from the end
//! of the last complete run to now, in windows of at most `max_window_days`. The cursor
//! keeps that end and, while a window is in progress, the window and the next
//! `startIndex`, so a run that failed midway resumes at the first page not handed out.
//! Each page is one [`Document`] named by its request URL; pages are never Unchanged
//! nor Removed (an incremental API lists changes only).

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::time::Duration;

use super::http::{HttpClient, Response};
use super::{Document, FetchCursor, FetchError, FetchOutcome, FetchStats, Flow, Item};
use crate::feedser::connectors::nvd::PageCursor;

/// NVD's public endpoint.
pub const DEFAULT_BASE_URL: &str = "https://services.nvd.nist.gov/rest/json/cves/2.0";
/// NVD's largest page.
pub const MAX_RESULTS_PER_PAGE: u32 = 2000;
/// NVD's largest `lastModified` window.
pub const MAX_WINDOW_DAYS: i64 = 120;
/// NVD's rule without an API key: one request every 6 s.
pub const INTERVAL_WITHOUT_KEY: Duration = Duration::from_secs(6);
/// With an API key: 50 requests per 30 s, one every 0.6 s.
pub const INTERVAL_WITH_KEY: Duration = Duration::from_millis(600);

/// The default minimum interval between requests, by whether an API key is sent.
pub fn default_interval(has_api_key: bool) -> Duration {
    if has_api_key {
        INTERVAL_WITH_KEY
    } else {
        INTERVAL_WITHOUT_KEY
    }
}

/// Paging settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NvdOptions {
    /// `resultsPerPage` asked for (the server may serve fewer).
    pub results_per_page: u32,
    /// Longest window, in days (at most NVD's 120).
    pub max_window_days: i64,
    /// The end of the last window; `None` = the current time (tests pin it).
    pub now: Option<DateTime<Utc>>,
}

impl Default for NvdOptions {
    fn default() -> Self {
        Self {
            results_per_page: MAX_RESULTS_PER_PAGE,
            max_window_days: MAX_WINDOW_DAYS,
            now: None,
        }
    }
}

/// A `lastModified` window; no `start` means the first, full download (no date filter).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NvdWindow {
    /// `lastModStartDate`, or none for a full download.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<DateTime<Utc>>,
    /// `lastModEndDate` (for a full download, the time it started).
    pub end: DateTime<Utc>,
}

/// The NVD part of a [`FetchCursor`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NvdCursor {
    /// End of the last window read in full: the next run starts here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_until: Option<DateTime<Utc>>,
    /// The window in progress, when a run stopped inside one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<NvdWindow>,
    /// The next `startIndex` inside `window`.
    #[serde(default)]
    pub next_start_index: u64,
}

/// NVD's date form, UTC with an explicit offset (`+` percent-encoded for the query).
fn nvd_date(t: &DateTime<Utc>) -> String {
    format!("{}%2B00:00", t.format("%Y-%m-%dT%H:%M:%S%.3f"))
}

/// The URL of one page.
pub fn page_url(base_url: &str, window: &NvdWindow, results_per_page: u32, start: u64) -> String {
    let sep = if base_url.contains('?') { '&' } else { '?' };
    let mut url = format!("{base_url}{sep}");
    if let Some(s) = &window.start {
        url.push_str(&format!(
            "lastModStartDate={}&lastModEndDate={}&",
            nvd_date(s),
            nvd_date(&window.end)
        ));
    }
    url.push_str(&format!(
        "resultsPerPage={results_per_page}&startIndex={start}"
    ));
    url
}

/// The window after `completed_until` (none when caught up with `now`).
fn next_window(
    completed_until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    days: i64,
) -> Option<NvdWindow> {
    match completed_until {
        None => Some(NvdWindow {
            start: None,
            end: now,
        }),
        Some(start) if start >= now => None,
        Some(start) => {
            let days = days.clamp(1, MAX_WINDOW_DAYS);
            let end = start
                .checked_add_signed(ChronoDuration::days(days))
                .map_or(now, |e| e.min(now));
            Some(NvdWindow {
                start: Some(start),
                end,
            })
        }
    }
}

/// Just the paging fields of a page (the records are read later by the connector).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PageHead {
    results_per_page: u64,
    start_index: u64,
    total_results: u64,
}

/// Pages through the API from `previous`, handing each page out as Changed with the
/// checkpoint cursor that points past it.
pub(crate) fn fetch_pages(
    client: &HttpClient,
    base_url: &str,
    options: &NvdOptions,
    previous: &FetchCursor,
    sink: &mut dyn FnMut(Item, &FetchCursor) -> Flow,
) -> Result<FetchOutcome, FetchError> {
    let now = options.now.unwrap_or_else(Utc::now);
    let mut cursor = previous.clone();
    let mut nvd = cursor.nvd.clone().unwrap_or_default();
    let mut stats = FetchStats::default();
    let per_page = options.results_per_page.clamp(1, MAX_RESULTS_PER_PAGE);
    loop {
        let window = match nvd.window.clone() {
            Some(w) => w,
            None => match next_window(nvd.completed_until, now, options.max_window_days) {
                Some(w) => {
                    nvd.window = Some(w.clone());
                    nvd.next_start_index = 0;
                    w
                }
                None => break,
            },
        };
        let url = page_url(base_url, &window, per_page, nvd.next_start_index);
        let response = client.get(&url, None);
        stats.requests = client.requests();
        let bytes = match response? {
            Response::Body { mut file, .. } => {
                let mut bytes = Vec::new();
                file.as_file_mut()
                    .read_to_end(&mut bytes)
                    .map_err(|e| FetchError::NvdPage {
                        url: url.clone(),
                        reason: e.to_string(),
                    })?;
                bytes
            }
            Response::NotModified => {
                return Err(FetchError::NvdPage {
                    url,
                    reason: "unexpected 304 to an unconditional request".to_owned(),
                });
            }
        };
        let head: PageHead = serde_json::from_slice(&bytes).map_err(|e| FetchError::NvdPage {
            url: url.clone(),
            reason: format!("not an API 2.0 page: {e}"),
        })?;
        let page = PageCursor {
            results_per_page: head.results_per_page,
            start_index: head.start_index,
            total_results: head.total_results,
        };
        if page.start_index != nvd.next_start_index {
            return Err(FetchError::NvdPage {
                url,
                reason: format!(
                    "asked for startIndex {} but got {}",
                    nvd.next_start_index, page.start_index
                ),
            });
        }
        match page.next_start() {
            Some(next) => nvd.next_start_index = next,
            None => {
                nvd.completed_until = Some(window.end);
                nvd.window = None;
                nvd.next_start_index = 0;
            }
        }
        cursor.nvd = Some(nvd.clone());
        stats.changed += 1;
        if sink(Item::Changed(Document::new(url, bytes)), &cursor).is_break() {
            return Ok(FetchOutcome {
                cursor,
                complete: false,
                stats,
            });
        }
    }
    cursor.nvd = Some(nvd);
    Ok(FetchOutcome {
        cursor,
        complete: true,
        stats,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_default()
    }

    #[test]
    fn windows_are_at_most_120_days_and_end_now() {
        let now = at("2026-11-01T00:00:00Z");
        assert_eq!(
            next_window(None, now, 120),
            Some(NvdWindow {
                start: None,
                end: now
            })
        );
        let w = next_window(Some(at("2026-01-01T00:00:00Z")), now, 500).unwrap_or(NvdWindow {
            start: None,
            end: now,
        });
        assert_eq!(w.end, at("2026-05-01T00:00:00Z"));
        let w = next_window(Some(at("2026-10-01T00:00:00Z")), now, 120);
        assert_eq!(w.map(|w| w.end), Some(now));
        assert_eq!(next_window(Some(now), now, 120), None);
    }

    #[test]
    fn page_urls() {
        let w = NvdWindow {
            start: Some(at("2026-01-01T00:00:00Z")),
            end: at("2026-02-01T12:00:00Z"),
        };
        assert_eq!(
            page_url("https://n.example/2.0", &w, 2000, 4000),
            "https://n.example/2.0?lastModStartDate=2026-01-01T00:00:00.000%2B00:00&\
             lastModEndDate=2026-02-01T12:00:00.000%2B00:00&resultsPerPage=2000&startIndex=4000"
        );
        let full = NvdWindow {
            start: None,
            end: w.end,
        };
        assert_eq!(
            page_url("https://n.example/2.0?noRejected", &full, 10, 0),
            "https://n.example/2.0?noRejected&resultsPerPage=10&startIndex=0"
        );
    }
}
