//! Ed25519 signing keys: one active key signs, retired keys still verify the tokens
//! they signed until those can no longer be valid (30 days, the longest token
//! lifetime), and the public halves are published as a JSON Web Key Set.

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{DecodingKey, EncodingKey};
use serde::{Deserialize, Serialize};

use crate::signing_key::Ed25519Key;
/// The JWK of one key (its home is [`crate::signing_key`]).
pub use crate::signing_key::Jwk;

use super::OFFLINE_TOKEN_LIFETIME_SECS;

/// Why a signing key could not be made or read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The system random generator failed.
    #[error("generating an Ed25519 key failed")]
    Generate,
    /// Stored key bytes are not an Ed25519 PKCS#8 document.
    #[error("stored signing key {kid:?} is not a valid Ed25519 PKCS#8 key")]
    BadPkcs8 {
        /// The key id stored with the bytes.
        kid: String,
    },
    /// The key id stored with a key does not match its public key.
    #[error("stored signing key {stored:?} has public key id {computed:?}")]
    KidMismatch {
        /// The stored key id.
        stored: String,
        /// The id computed from the public key.
        computed: String,
    },
    /// A key set with no keys.
    #[error("the key ring is empty")]
    Empty,
}

/// A signing key as persisted: its id, creation time and PKCS#8 (v2) private key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredKey {
    /// The key id (`kid`).
    pub kid: String,
    /// When the key was created; the newest key is the active one.
    pub created_at: DateTime<Utc>,
    /// The Ed25519 private key, PKCS#8 DER as ring generates it.
    pub pkcs8: Vec<u8>,
}

impl std::fmt::Debug for StoredKey {
    // Never print private key bytes (logs, test failures).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

/// One signing key, decoded and ready to sign and verify.
struct SigningKey {
    stored: StoredKey,
    public: [u8; 32],
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.stored.kid)
            .field("created_at", &self.stored.created_at)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    fn from_stored(stored: StoredKey) -> Result<SigningKey, KeyError> {
        let key = Ed25519Key::from_pkcs8_der(&stored.pkcs8).map_err(|_| KeyError::BadPkcs8 {
            kid: stored.kid.clone(),
        })?;
        let public = *key.public_key();
        let computed = key.key_id();
        if computed != stored.kid {
            return Err(KeyError::KidMismatch {
                stored: stored.kid,
                computed,
            });
        }
        Ok(SigningKey {
            encoding: EncodingKey::from_ed_der(&stored.pkcs8),
            // jsonwebtoken's rust_crypto verifier takes the raw 32-byte public key.
            decoding: DecodingKey::from_ed_der(&public),
            public,
            stored,
        })
    }

    fn generate(now: DateTime<Utc>) -> Result<SigningKey, KeyError> {
        let key = Ed25519Key::generate().map_err(|_| KeyError::Generate)?;
        SigningKey::from_stored(StoredKey {
            kid: key.key_id(),
            created_at: now,
            pkcs8: key.pkcs8_der(),
        })
    }
}

/// The server's signing keys, oldest first; the newest is the active one.
#[derive(Debug)]
pub struct KeyRing {
    keys: Vec<SigningKey>,
}

impl KeyRing {
    /// A ring with one fresh key created at `now`.
    pub fn generate(now: DateTime<Utc>) -> Result<KeyRing, KeyError> {
        Ok(KeyRing {
            keys: vec![SigningKey::generate(now)?],
        })
    }

    /// A ring from persisted keys (any order); the newest is active.
    pub fn from_stored(stored: Vec<StoredKey>) -> Result<KeyRing, KeyError> {
        let mut keys = stored
            .into_iter()
            .map(SigningKey::from_stored)
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() {
            return Err(KeyError::Empty);
        }
        keys.sort_by(|a, b| {
            (a.stored.created_at, &a.stored.kid).cmp(&(b.stored.created_at, &b.stored.kid))
        });
        Ok(KeyRing { keys })
    }

    /// Creates a new active key at `now` (the old ones keep verifying) and drops
    /// keys retired long enough that no token they signed can still be valid.
    /// Returns the new key's id.
    pub fn rotate(&mut self, now: DateTime<Utc>) -> Result<String, KeyError> {
        let key = SigningKey::generate(now)?;
        let kid = key.stored.kid.clone();
        self.keys.push(key);
        self.prune(now);
        Ok(kid)
    }

    /// Drops retired keys whose last possible token has expired: a key retires when
    /// its successor is created, and tokens live at most 30 days. Returns how many
    /// keys were dropped; the active key is never dropped.
    pub fn prune(&mut self, now: DateTime<Utc>) -> usize {
        let keep_for = Duration::seconds(OFFLINE_TOKEN_LIFETIME_SECS);
        // retired_at[i] = created_at of key i + 1.
        let retired_at: Vec<Option<DateTime<Utc>>> = (0..self.keys.len())
            .map(|i| self.keys.get(i + 1).map(|next| next.stored.created_at))
            .collect();
        let before = self.keys.len();
        let mut i = 0;
        self.keys.retain(|_| {
            let keep = match retired_at.get(i).copied().flatten() {
                Some(retired) => retired + keep_for > now,
                None => true,
            };
            i += 1;
            keep
        });
        before - self.keys.len()
    }

    /// The id of the key that signs new tokens.
    pub fn active_kid(&self) -> &str {
        self.active().map(|k| k.stored.kid.as_str()).unwrap_or("")
    }

    /// The ids of all keys, oldest first.
    pub fn kids(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.stored.kid.as_str()).collect()
    }

    /// The keys for persisting, oldest first.
    pub fn to_stored(&self) -> Vec<StoredKey> {
        self.keys.iter().map(|k| k.stored.clone()).collect()
    }

    /// The public keys as a JSON Web Key Set, oldest first.
    pub fn jwks(&self) -> Jwks {
        Jwks {
            keys: self
                .keys
                .iter()
                .map(|k| Jwk::ed25519(&k.stored.kid, &k.public))
                .collect(),
        }
    }

    /// The active key's id and signing key.
    pub(crate) fn signer(&self) -> Option<(&str, &EncodingKey)> {
        self.active().map(|k| (k.stored.kid.as_str(), &k.encoding))
    }

    /// The verification key with id `kid`.
    pub(crate) fn decoding_key(&self, kid: &str) -> Option<&DecodingKey> {
        self.keys
            .iter()
            .find(|k| k.stored.kid == kid)
            .map(|k| &k.decoding)
    }

    fn active(&self) -> Option<&SigningKey> {
        self.keys.last()
    }
}

/// A JSON Web Key Set (RFC 7517), as served at `/.well-known/jwks.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwks {
    /// The keys.
    pub keys: Vec<Jwk>,
}

/// The largest JWKS document [`Jwks::parse`] reads.
pub const MAX_JWKS_BYTES: usize = 64 * 1024;
/// The most keys [`Jwks::parse`] accepts.
pub const MAX_JWKS_KEYS: usize = 64;

/// Why a JWKS document was refused.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    /// The document is larger than [`MAX_JWKS_BYTES`].
    #[error("JWKS document is {len} bytes, the limit is {max}")]
    TooLarge {
        /// The document's size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The document has more than [`MAX_JWKS_KEYS`] keys.
    #[error("JWKS document has {count} keys, the limit is {max}")]
    TooManyKeys {
        /// How many keys it has.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// The document is not a JWKS.
    #[error("not a JWKS document: {0}")]
    Json(#[from] serde_json::Error),
}

impl Jwks {
    /// Parses a JWKS document (from a file or `/.well-known/jwks.json`), with size
    /// and key-count limits.
    pub fn parse(bytes: &[u8]) -> Result<Jwks, JwksError> {
        if bytes.len() > MAX_JWKS_BYTES {
            return Err(JwksError::TooLarge {
                len: bytes.len(),
                max: MAX_JWKS_BYTES,
            });
        }
        let jwks: Jwks = serde_json::from_slice(bytes)?;
        if jwks.keys.len() > MAX_JWKS_KEYS {
            return Err(JwksError::TooManyKeys {
                count: jwks.keys.len(),
                max: MAX_JWKS_KEYS,
            });
        }
        Ok(jwks)
    }

    /// The key with id `kid`.
    pub fn find(&self, kid: &str) -> Option<&Jwk> {
        self.keys.iter().find(|k| k.kid == kid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
    }

    #[test]
    fn generated_key_survives_storage() {
        let ring = KeyRing::generate(t0()).unwrap();
        let stored = ring.to_stored();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].kid, ring.active_kid());
        assert_eq!(stored[0].kid.len(), 11, "8 bytes are 11 base64url chars");
        let back = KeyRing::from_stored(stored.clone()).unwrap();
        assert_eq!(back.active_kid(), ring.active_kid());
        assert_eq!(back.jwks(), ring.jwks());
        assert!(!format!("{:?}", stored[0]).contains("pkcs8"));
    }

    #[test]
    fn stored_key_checks() {
        let ring = KeyRing::generate(t0()).unwrap();
        let mut bad = ring.to_stored();
        bad[0].kid = "other".into();
        assert!(matches!(
            KeyRing::from_stored(bad),
            Err(KeyError::KidMismatch { .. })
        ));
        let mut bad = ring.to_stored();
        bad[0].pkcs8.truncate(20);
        assert!(matches!(
            KeyRing::from_stored(bad),
            Err(KeyError::BadPkcs8 { .. })
        ));
        assert_eq!(KeyRing::from_stored(vec![]).unwrap_err(), KeyError::Empty);
    }

    #[test]
    fn rotation_keeps_then_drops_old_keys() {
        let mut ring = KeyRing::generate(t0()).unwrap();
        let first = ring.active_kid().to_owned();
        let second = ring.rotate(t0() + Duration::days(1)).unwrap();
        assert_ne!(first, second);
        assert_eq!(ring.active_kid(), second);
        assert_eq!(ring.kids(), vec![first.as_str(), second.as_str()]);
        // Retired at day 1: kept until day 31.
        assert_eq!(
            ring.prune(t0() + Duration::days(31) - Duration::seconds(1)),
            0
        );
        assert_eq!(ring.prune(t0() + Duration::days(31)), 1);
        assert_eq!(ring.kids(), vec![second.as_str()]);
        // The active key is never dropped, however old.
        assert_eq!(ring.prune(t0() + Duration::days(3650)), 0);
    }

    #[test]
    fn jwk_shape() {
        let ring = KeyRing::generate(t0()).unwrap();
        let json = serde_json::to_value(ring.jwks()).unwrap();
        let key = &json["keys"][0];
        assert_eq!(key["kty"], "OKP");
        assert_eq!(key["crv"], "Ed25519");
        assert_eq!(key["alg"], "EdDSA");
        assert_eq!(key["use"], "sig");
        assert_eq!(key["kid"], ring.active_kid());
        assert_eq!(key["x"].as_str().unwrap().len(), 43);
        let jwk: Jwk = serde_json::from_value(key.clone()).unwrap();
        assert!(jwk.ed25519_public_key().is_some());
        let mut short = jwk.clone();
        short.x.pop();
        assert!(short.ed25519_public_key().is_none());
        let mut rsa = jwk;
        rsa.kty = "RSA".into();
        assert!(rsa.ed25519_public_key().is_none());
    }

    #[test]
    fn jwks_parse_limits() {
        assert!(matches!(
            Jwks::parse(&vec![b' '; MAX_JWKS_BYTES + 1]),
            Err(JwksError::TooLarge { .. })
        ));
        let many = format!(
            "{{\"keys\":[{}]}}",
            vec!["{\"kty\":\"OKP\"}"; MAX_JWKS_KEYS + 1].join(",")
        );
        assert!(matches!(
            Jwks::parse(many.as_bytes()),
            Err(JwksError::TooManyKeys { .. })
        ));
        assert!(matches!(Jwks::parse(b"[]"), Err(JwksError::Json(_))));
    }
}
