//! Identity: OAuth2 clients, EdDSA-signed JWTs (online 12 h, offline 30 d) with
//! tier, daily scan limit and scopes, rotating signing keys and their JWKS.
//!
//! The pieces: [`keys::KeyRing`] (Ed25519 keys, rotation, JWKS), [`token::Issuer`]
//! (issue and verify tokens; [`token::verify_with_jwks`] for offline verification),
//! [`clients::ClientRecord`] (hashed client secrets, `--bootstrap-client`) and
//! [`store::IdentityStore`] (SQLite persistence of keys and clients, with
//! [`store::load_key_ring`] and [`store::authenticate`] on top of it). Every function
//! that depends on the time takes `now`, so tests and the server share one clock.

pub mod clients;
pub mod keys;
pub mod store;
pub mod token;

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

pub use clients::{BootstrapClient, ClientError, ClientRecord};
pub use keys::{Jwk, Jwks, JwksError, KeyError, KeyRing, StoredKey};
pub use store::{IdentityStore, IdentityStoreError, SqliteIdentityStore};
pub use token::{Claims, IssuedToken, Issuer, TokenError, verify_with_jwks};

/// What a token allows its bearer to do (OAuth2 scopes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Scope {
    /// Submit scans (`scan`).
    #[serde(rename = "scan")]
    Scan,
    /// Upload or replace policies (`policy:write`).
    #[serde(rename = "policy:write")]
    PolicyWrite,
    /// Manage clients and keys (`admin`).
    #[serde(rename = "admin")]
    Admin,
}

impl Scope {
    /// Every scope, in a fixed order.
    pub const ALL: [Scope; 3] = [Scope::Scan, Scope::PolicyWrite, Scope::Admin];

    /// The scope's wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Scan => "scan",
            Scope::PolicyWrite => "policy:write",
            Scope::Admin => "admin",
        }
    }

    /// All scopes as a set (bootstrap clients get them all).
    pub fn all() -> BTreeSet<Scope> {
        Scope::ALL.into_iter().collect()
    }

    /// Parses OAuth2's space-separated `scope` value; repeated spaces are allowed, an
    /// unknown scope is an error.
    pub fn parse_list(s: &str) -> Result<BTreeSet<Scope>, ScopeError> {
        s.split(' ')
            .filter(|part| !part.is_empty())
            .map(Scope::from_str)
            .collect()
    }

    /// Formats scopes as OAuth2's space-separated `scope` value.
    pub fn format_list(scopes: &BTreeSet<Scope>) -> String {
        scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A scope name that is not one of [`Scope::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scope {0:?} (known: scan, policy:write, admin)")]
pub struct ScopeError(pub String);

impl FromStr for Scope {
    type Err = ScopeError;

    fn from_str(s: &str) -> Result<Scope, ScopeError> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| ScopeError(truncate(s, 64)))
    }
}

/// A service tier: its name and daily scan limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tier {
    /// The tier's name ("Free", "Team", "Enterprise").
    pub name: String,
    /// Scans allowed per UTC day; `u32::MAX` means unlimited.
    pub max_scans_per_day: u32,
}

/// The default daily scan limit of the Free tier.
pub const FREE_SCANS_PER_DAY: u32 = 333;
/// The daily scan limit of the Team tier.
pub const TEAM_SCANS_PER_DAY: u32 = 5000;
/// The daily scan limit of the Enterprise tier: `u32::MAX`, which means unlimited
/// (scans are still counted).
pub const UNLIMITED: u32 = u32::MAX;

/// The table of tiers the server knows: Free (333 scans/day unless overridden), Team
/// (5000) and Enterprise (`u32::MAX`, unlimited).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tiers {
    tiers: Vec<Tier>,
}

/// A tier name the server does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown tier {0:?} (known: Free, Team, Enterprise)")]
pub struct TierError(pub String);

impl Default for Tiers {
    fn default() -> Tiers {
        Tiers::with_free_limit(FREE_SCANS_PER_DAY)
    }
}

impl Tiers {
    /// The standard table (Free = 333 scans/day).
    pub fn new() -> Tiers {
        Tiers::default()
    }

    /// The standard table with the Free tier's daily limit set to `free` (tests use a
    /// small limit to reach it quickly).
    pub fn with_free_limit(free: u32) -> Tiers {
        let tier = |name: &str, max| Tier {
            name: name.to_owned(),
            max_scans_per_day: max,
        };
        Tiers {
            tiers: vec![
                tier("Free", free),
                tier("Team", TEAM_SCANS_PER_DAY),
                tier("Enterprise", UNLIMITED),
            ],
        }
    }

    /// The tier called `name` (ASCII case-insensitive).
    pub fn get(&self, name: &str) -> Result<&Tier, TierError> {
        self.tiers
            .iter()
            .find(|t| t.name.eq_ignore_ascii_case(name))
            .ok_or_else(|| TierError(truncate(name, 64)))
    }

    /// The Free tier.
    pub fn free(&self) -> &Tier {
        // The table is built with Free first and never changed.
        &self.tiers[0]
    }

    /// All tiers, Free first.
    pub fn all(&self) -> &[Tier] {
        &self.tiers
    }
}

/// Which grant a token came from, which decides how long it lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    /// A client-credentials access token: 12 hours.
    Access,
    /// An offline token (air-gapped scanners, Zastava): 30 days.
    Offline,
}

/// How long access tokens live.
pub const ACCESS_TOKEN_LIFETIME_SECS: i64 = 12 * 3600;
/// How long offline tokens live; also how long a retired signing key is kept.
pub const OFFLINE_TOKEN_LIFETIME_SECS: i64 = 30 * 86_400;

impl TokenKind {
    /// The kind's wire name ("access" or "offline").
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Access => "access",
            TokenKind::Offline => "offline",
        }
    }

    /// How long a token of this kind is valid after issue.
    pub fn lifetime(self) -> Duration {
        match self {
            TokenKind::Access => Duration::seconds(ACCESS_TOKEN_LIFETIME_SECS),
            TokenKind::Offline => Duration::seconds(OFFLINE_TOKEN_LIFETIME_SECS),
        }
    }
}

impl fmt::Display for TokenKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A verified caller, taken from a token whose signature and claims checked out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    /// The client id the token was issued to (`sub`).
    pub subject: String,
    /// The tier name (`tier`).
    pub tier: String,
    /// Scans allowed per UTC day (`maxScansPerDay`); `u32::MAX` means unlimited.
    pub max_scans_per_day: u32,
    /// What the caller may do (`scope`).
    pub scopes: BTreeSet<Scope>,
    /// Access or offline token (`kind`).
    pub kind: TokenKind,
    /// The token's id (`jti`, a UUID v4).
    pub token_id: String,
    /// When the token expires (`exp`).
    pub expires_at: DateTime<Utc>,
}

impl Identity {
    /// Whether the caller holds `scope`.
    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }
}

/// Why identity state could not be loaded or saved.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The identity store failed.
    #[error(transparent)]
    Store(#[from] IdentityStoreError),
    /// A signing key could not be generated or decoded.
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// The first `max` characters of `s` (for error messages about outside input).
pub(crate) fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_roundtrip_and_reject_unknown() {
        for s in Scope::ALL {
            assert_eq!(s.as_str().parse::<Scope>(), Ok(s));
            assert_eq!(s.to_string(), s.as_str());
        }
        let all = Scope::parse_list("admin  scan policy:write").unwrap();
        assert_eq!(all, Scope::all());
        assert_eq!(Scope::format_list(&all), "scan policy:write admin");
        assert_eq!(Scope::parse_list("").unwrap(), BTreeSet::new());
        assert_eq!(
            Scope::parse_list("scan policy:read"),
            Err(ScopeError("policy:read".into()))
        );
        assert!("Scan".parse::<Scope>().is_err());
    }

    #[test]
    fn tiers_table() {
        let t = Tiers::new();
        assert_eq!(t.get("Free").unwrap().max_scans_per_day, 333);
        assert_eq!(t.get("team").unwrap().max_scans_per_day, 5000);
        assert_eq!(t.get("ENTERPRISE").unwrap().max_scans_per_day, u32::MAX);
        assert_eq!(t.get("Gold"), Err(TierError("Gold".into())));
        let small = Tiers::with_free_limit(3);
        assert_eq!(small.free().max_scans_per_day, 3);
        assert_eq!(small.get("free").unwrap().name, "Free");
        assert_eq!(small.get("Team").unwrap().max_scans_per_day, 5000);
    }

    #[test]
    fn token_kind_lifetimes() {
        assert_eq!(TokenKind::Access.lifetime(), Duration::hours(12));
        assert_eq!(TokenKind::Offline.lifetime(), Duration::days(30));
        assert_eq!(
            serde_json::to_string(&TokenKind::Offline).unwrap(),
            "\"offline\""
        );
    }
}
