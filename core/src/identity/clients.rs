//! OAuth2 clients (client-credentials grant): ids, PBKDF2-hashed secrets, tiers and
//! scopes, and the `--bootstrap-client ID:SECRET:TIER` option that creates the first.

use std::collections::BTreeSet;
use std::num::NonZeroU32;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use ring::pbkdf2;
use ring::rand::{SecureRandom as _, SystemRandom};
use serde::{Deserialize, Serialize};

use super::{Scope, ScopeError, Tier, TierError, Tiers, truncate};

/// PBKDF2-HMAC-SHA256 iterations for new secrets.
pub const PBKDF2_ITERATIONS: u32 = 60_000;
/// The most iterations a stored hash may ask for (a corrupt row must not stall login).
const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;
/// Shortest client secret.
pub const MIN_SECRET_LEN: usize = 16;
/// Longest client secret.
pub const MAX_SECRET_LEN: usize = 256;
/// Longest client id.
pub const MAX_CLIENT_ID_LEN: usize = 64;
const SALT_LEN: usize = 16;
const HASH_LEN: usize = 32;
const HASH_SCHEME: &str = "pbkdf2-sha256";

/// Why a client could not be created or parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The client id is not 1-64 characters of `[A-Za-z0-9._-]`.
    #[error("client id {0:?} must be 1-64 characters of A-Z a-z 0-9 . _ -")]
    InvalidId(String),
    /// The secret is too short, too long or has characters outside printable ASCII.
    #[error(
        "client secret must be {MIN_SECRET_LEN}-{MAX_SECRET_LEN} printable ASCII characters (no spaces)"
    )]
    InvalidSecret,
    /// The tier is unknown.
    #[error(transparent)]
    UnknownTier(#[from] TierError),
    /// `--bootstrap-client` is not `ID:SECRET:TIER`.
    #[error("bootstrap client must be ID:SECRET:TIER")]
    BootstrapFormat,
    /// A requested scope the client does not hold (OAuth2 `invalid_scope`).
    #[error("scope {0} is not granted to this client")]
    ScopeNotAllowed(Scope),
    /// A requested scope is unknown (OAuth2 `invalid_scope`).
    #[error(transparent)]
    UnknownScope(#[from] ScopeError),
    /// The random generator failed.
    #[error("generating a salt failed")]
    Random,
}

/// A registered OAuth2 client.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientRecord {
    /// The client id (`client_id`), also the tokens' subject.
    pub id: String,
    /// `pbkdf2-sha256$ITERATIONS$SALT$HASH` (salt and hash base64url).
    pub secret_hash: String,
    /// The tier name; its limit is looked up in [`Tiers`] when a token is issued.
    pub tier: String,
    /// What the client's tokens may do.
    pub scopes: BTreeSet<Scope>,
    /// When the client was registered.
    pub created_at: DateTime<Utc>,
}

impl std::fmt::Debug for ClientRecord {
    // Keep the hash out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientRecord")
            .field("id", &self.id)
            .field("tier", &self.tier)
            .field("scopes", &self.scopes)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

impl ClientRecord {
    /// A client with `secret` hashed (fresh random salt); checks id and secret.
    pub fn new(
        id: &str,
        secret: &str,
        tier: &Tier,
        scopes: BTreeSet<Scope>,
        now: DateTime<Utc>,
    ) -> Result<ClientRecord, ClientError> {
        validate_id(id)?;
        validate_secret(secret)?;
        Ok(ClientRecord {
            id: id.to_owned(),
            secret_hash: hash_secret(secret, PBKDF2_ITERATIONS)?,
            tier: tier.name.clone(),
            scopes,
            created_at: now,
        })
    }

    /// Whether `secret` is this client's secret (constant-time comparison); false for
    /// any secret that could never have been registered and for an unreadable hash.
    pub fn verify_secret(&self, secret: &str) -> bool {
        if validate_secret(secret).is_err() {
            return false;
        }
        verify_hash(&self.secret_hash, secret)
    }

    /// The scopes for a token request: all of the client's scopes when the request
    /// names none, else the requested ones, each of which the client must hold.
    pub fn grant_scopes(&self, requested: Option<&str>) -> Result<BTreeSet<Scope>, ClientError> {
        let Some(requested) = requested.filter(|r| !r.trim().is_empty()) else {
            return Ok(self.scopes.clone());
        };
        let wanted = Scope::parse_list(requested)?;
        match wanted.iter().find(|s| !self.scopes.contains(s)) {
            Some(missing) => Err(ClientError::ScopeNotAllowed(*missing)),
            None => Ok(wanted),
        }
    }
}

/// A valid hash of a secret nobody knows, for [`authenticate`](super::store::authenticate)'s
/// unknown-id path.
pub(crate) fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        hash_secret("unknown-client-dummy-secret", PBKDF2_ITERATIONS).unwrap_or_default()
    })
}

/// Checks a client id: 1-64 characters of `[A-Za-z0-9._-]`.
pub fn validate_id(id: &str) -> Result<(), ClientError> {
    let ok = !id.is_empty()
        && id.len() <= MAX_CLIENT_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(ClientError::InvalidId(truncate(id, MAX_CLIENT_ID_LEN + 1)))
    }
}

/// Checks a secret: 16-256 printable ASCII characters, no spaces.
pub fn validate_secret(secret: &str) -> Result<(), ClientError> {
    let ok = (MIN_SECRET_LEN..=MAX_SECRET_LEN).contains(&secret.len())
        && secret.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(ClientError::InvalidSecret)
    }
}

/// Hashes `secret` as `pbkdf2-sha256$ITERATIONS$SALT$HASH`.
fn hash_secret(secret: &str, iterations: u32) -> Result<String, ClientError> {
    let iter = NonZeroU32::new(iterations).ok_or(ClientError::Random)?;
    let mut salt = [0u8; SALT_LEN];
    SystemRandom::new()
        .fill(&mut salt)
        .map_err(|_| ClientError::Random)?;
    let mut hash = [0u8; HASH_LEN];
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        iter,
        &salt,
        secret.as_bytes(),
        &mut hash,
    );
    Ok(format!(
        "{HASH_SCHEME}${iterations}${}${}",
        URL_SAFE_NO_PAD.encode(salt),
        URL_SAFE_NO_PAD.encode(hash)
    ))
}

/// Checks `secret` against a stored hash (ring compares in constant time).
pub(crate) fn verify_hash(stored: &str, secret: &str) -> bool {
    let mut parts = stored.split('$');
    let (Some(scheme), Some(iter), Some(salt), Some(hash), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return false;
    };
    if scheme != HASH_SCHEME {
        return false;
    }
    let Some(iter) = iter
        .parse::<u32>()
        .ok()
        .filter(|n| *n <= MAX_PBKDF2_ITERATIONS)
        .and_then(NonZeroU32::new)
    else {
        return false;
    };
    let (Ok(salt), Ok(hash)) = (URL_SAFE_NO_PAD.decode(salt), URL_SAFE_NO_PAD.decode(hash)) else {
        return false;
    };
    if hash.len() != HASH_LEN {
        return false;
    }
    pbkdf2::verify(
        pbkdf2::PBKDF2_HMAC_SHA256,
        iter,
        &salt,
        secret.as_bytes(),
        &hash,
    )
    .is_ok()
}

/// A client given on the command line as `--bootstrap-client ID:SECRET:TIER`; it
/// gets every scope.
#[derive(Clone, PartialEq, Eq)]
pub struct BootstrapClient {
    /// The client id.
    pub id: String,
    /// The plain secret (hashed by [`BootstrapClient::to_record`]).
    pub secret: String,
    /// The tier.
    pub tier: Tier,
}

impl std::fmt::Debug for BootstrapClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BootstrapClient")
            .field("id", &self.id)
            .field("tier", &self.tier)
            .finish_non_exhaustive()
    }
}

/// The longest `--bootstrap-client` value.
const MAX_BOOTSTRAP_LEN: usize = MAX_CLIENT_ID_LEN + MAX_SECRET_LEN + 64;

impl BootstrapClient {
    /// Parses `ID:SECRET:TIER` (the secret may contain `:`; the id may not) against
    /// the server's tier table.
    pub fn parse(s: &str, tiers: &Tiers) -> Result<BootstrapClient, ClientError> {
        if s.len() > MAX_BOOTSTRAP_LEN {
            return Err(ClientError::BootstrapFormat);
        }
        let (id, rest) = s.split_once(':').ok_or(ClientError::BootstrapFormat)?;
        let (secret, tier) = rest.rsplit_once(':').ok_or(ClientError::BootstrapFormat)?;
        validate_id(id)?;
        validate_secret(secret)?;
        let tier = tiers.get(tier)?.clone();
        Ok(BootstrapClient {
            id: id.to_owned(),
            secret: secret.to_owned(),
            tier,
        })
    }

    /// The client record to store (all scopes, secret hashed).
    pub fn to_record(&self, now: DateTime<Utc>) -> Result<ClientRecord, ClientError> {
        ClientRecord::new(&self.id, &self.secret, &self.tier, Scope::all(), now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_format() {
        let h = hash_secret("0123456789abcdef", 1000).unwrap();
        let parts: Vec<&str> = h.split('$').collect();
        assert_eq!(parts[0], "pbkdf2-sha256");
        assert_eq!(parts[1], "1000");
        assert_eq!(URL_SAFE_NO_PAD.decode(parts[2]).unwrap().len(), SALT_LEN);
        assert_eq!(URL_SAFE_NO_PAD.decode(parts[3]).unwrap().len(), HASH_LEN);
        assert!(verify_hash(&h, "0123456789abcdef"));
        assert!(!verify_hash(&h, "0123456789abcdeF"));
        // Same secret, fresh salt: a different hash.
        assert_ne!(h, hash_secret("0123456789abcdef", 1000).unwrap());
    }

    #[test]
    fn corrupt_hashes_never_verify() {
        let h = hash_secret("0123456789abcdef", 1000).unwrap();
        let broken = [
            String::new(),
            h.replacen("pbkdf2-sha256", "pbkdf2-sha1", 1),
            h.replacen("$1000$", "$0$", 1),
            h.replacen("$1000$", "$99999999999$", 1),
            format!("{h}$extra"),
            h[..h.len() - 2].to_owned(),
        ];
        for b in broken {
            assert!(!verify_hash(&b, "0123456789abcdef"), "{b}");
        }
    }

    #[test]
    fn granted_scopes() {
        let now = chrono::Utc::now();
        let scan: BTreeSet<Scope> = [Scope::Scan, Scope::PolicyWrite].into_iter().collect();
        let c = ClientRecord::new(
            "c",
            "0123456789abcdef",
            Tiers::new().free(),
            scan.clone(),
            now,
        )
        .unwrap();
        assert_eq!(c.grant_scopes(None).unwrap(), scan);
        assert_eq!(c.grant_scopes(Some(" ")).unwrap(), scan);
        assert_eq!(
            c.grant_scopes(Some("scan")).unwrap(),
            [Scope::Scan].into_iter().collect()
        );
        assert_eq!(
            c.grant_scopes(Some("scan admin")),
            Err(ClientError::ScopeNotAllowed(Scope::Admin))
        );
        assert!(matches!(
            c.grant_scopes(Some("root")),
            Err(ClientError::UnknownScope(_))
        ));
    }

    #[test]
    fn ids_and_secrets() {
        assert!(validate_id("ci-runner_01.prod").is_ok());
        assert!(validate_id(&"a".repeat(64)).is_ok());
        for bad in ["", "a b", "a:b", "ü", &"a".repeat(65)] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
        assert!(validate_secret(&"s".repeat(16)).is_ok());
        assert!(validate_secret("with:colons:and$dollars!").is_ok());
        for bad in ["", &"s".repeat(15), &"s".repeat(257), "sixteen chars  ok"] {
            assert!(validate_secret(bad).is_err(), "{bad:?}");
        }
    }
}
