//! Issuing and verifying EdDSA JWTs. Verification checks, in order: size, shape,
//! header (`alg` must be EdDSA, `kid` must name a known key), signature, then the
//! claims against the caller's `now` (never the system clock), so every failure has
//! its own [`TokenError`] and tests are deterministic.

use std::collections::BTreeSet;
use std::sync::{PoisonError, RwLock};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::keys::{Jwks, KeyRing};
use super::store::IdentityStore;
use super::{Identity, IdentityError, Scope, Tier, TokenKind, truncate};

/// The longest token [`Issuer::verify`] and [`verify_with_jwks`] look at.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Clock skew allowed on `nbf` (a token from a server whose clock runs a little ahead).
pub const NBF_LEEWAY_SECS: i64 = 60;

/// The JWT payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Claims {
    /// Issuer: the server's URL or name.
    pub iss: String,
    /// Subject: the client id.
    pub sub: String,
    /// Audience: who the token is for.
    pub aud: String,
    /// Issued at (seconds since the epoch).
    pub iat: i64,
    /// Not before (seconds since the epoch).
    pub nbf: i64,
    /// Expires at (seconds since the epoch).
    pub exp: i64,
    /// Token id: a UUID v4.
    pub jti: String,
    /// The tier name.
    pub tier: String,
    /// The tier's daily scan limit (`maxScansPerDay`); `u32::MAX` means unlimited.
    pub max_scans_per_day: u32,
    /// OAuth2 scopes, space separated.
    pub scope: String,
    /// "access" or "offline".
    pub kind: TokenKind,
}

/// A freshly signed token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedToken {
    /// The compact JWT.
    pub token: String,
    /// What it says.
    pub claims: Claims,
    /// When it expires.
    pub expires_at: DateTime<Utc>,
}

/// Why a token was refused (or could not be signed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Longer than [`MAX_TOKEN_BYTES`]; not parsed at all.
    #[error("token is {len} bytes, the limit is {max}")]
    TooLong {
        /// The token's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not a compact JWS (three base64url parts, a JSON header).
    #[error("malformed token: {0}")]
    Malformed(String),
    /// The header names an algorithm other than EdDSA ("none" and HS* included).
    #[error("token algorithm {0:?} is not accepted (only EdDSA)")]
    UnsupportedAlgorithm(String),
    /// The header has no `kid`.
    #[error("token header has no key id (kid)")]
    MissingKeyId,
    /// No key with the header's `kid` is known (never issued here, or dropped).
    #[error("token signed with unknown key {0:?}")]
    UnknownKeyId(String),
    /// The JWKS entry for the `kid` is not an Ed25519 signing key.
    #[error("key {0:?} is not an Ed25519 signing key")]
    UnusableKey(String),
    /// The signature does not match the header and payload.
    #[error("token signature is invalid")]
    BadSignature,
    /// The payload is not the claims this server issues.
    #[error("token claims are invalid: {0}")]
    InvalidClaims(String),
    /// `exp` has passed.
    #[error("token expired at {0}")]
    Expired(DateTime<Utc>),
    /// `nbf` is still ahead (beyond the 60 s leeway).
    #[error("token not valid before {0}")]
    NotYetValid(DateTime<Utc>),
    /// `iss` is not this issuer.
    #[error("token issuer {0:?} is not accepted")]
    WrongIssuer(String),
    /// `aud` is not this audience.
    #[error("token audience {0:?} is not accepted")]
    WrongAudience(String),
    /// Signing failed (issuing side only).
    #[error("signing the token failed: {0}")]
    Signing(String),
}

/// Issues and verifies the server's tokens with its key ring.
#[derive(Debug)]
pub struct Issuer {
    keyring: RwLock<KeyRing>,
    issuer: String,
    audience: String,
}

impl Issuer {
    /// An issuer signing as `issuer` for `audience` with `keyring`.
    pub fn new(keyring: KeyRing, issuer: impl Into<String>, audience: impl Into<String>) -> Issuer {
        Issuer {
            keyring: RwLock::new(keyring),
            issuer: issuer.into(),
            audience: audience.into(),
        }
    }

    /// The `iss` this issuer writes and expects.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The `aud` this issuer writes and expects.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// Signs a token for `subject` with the tier's limit and `scopes`, valid from
    /// `now` for the kind's lifetime (12 h access, 30 d offline).
    pub fn issue(
        &self,
        subject: &str,
        tier: &Tier,
        scopes: &BTreeSet<Scope>,
        kind: TokenKind,
        now: DateTime<Utc>,
    ) -> Result<IssuedToken, TokenError> {
        let expires_at = now + kind.lifetime();
        let claims = Claims {
            iss: self.issuer.clone(),
            sub: subject.to_owned(),
            aud: self.audience.clone(),
            iat: now.timestamp(),
            nbf: now.timestamp(),
            exp: expires_at.timestamp(),
            jti: uuid::Uuid::new_v4().to_string(),
            tier: tier.name.clone(),
            max_scans_per_day: tier.max_scans_per_day,
            scope: Scope::format_list(scopes),
            kind,
        };
        let ring = self.keyring.read().unwrap_or_else(PoisonError::into_inner);
        let (kid, key) = ring
            .signer()
            .ok_or_else(|| TokenError::Signing("no active signing key".into()))?;
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid.to_owned());
        let token = jsonwebtoken::encode(&header, &claims, key)
            .map_err(|e| TokenError::Signing(e.to_string()))?;
        Ok(IssuedToken {
            token,
            claims,
            // Whole seconds, as the token carries it (and `verify` returns it).
            expires_at: DateTime::from_timestamp(expires_at.timestamp(), 0).unwrap_or(expires_at),
        })
    }

    /// Verifies `token` against this issuer's keys, `iss`, `aud` and `now`.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Identity, TokenError> {
        let kid = check_header(token)?;
        let ring = self.keyring.read().unwrap_or_else(PoisonError::into_inner);
        let key = ring
            .decoding_key(&kid)
            .ok_or_else(|| TokenError::UnknownKeyId(truncate(&kid, 64)))?;
        verify_claims(token, key, &self.issuer, &self.audience, now)
    }

    /// The public keys as a JSON Web Key Set.
    pub fn jwks(&self) -> Jwks {
        self.keyring
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .jwks()
    }

    /// The id of the key that signs new tokens.
    pub fn active_kid(&self) -> String {
        self.keyring
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .active_kid()
            .to_owned()
    }

    /// Rotates the signing key at `now` and saves the ring to `store`; tokens signed
    /// by the old key keep verifying until they expire. Returns the new key id.
    pub fn rotate(
        &self,
        store: &dyn IdentityStore,
        now: DateTime<Utc>,
    ) -> Result<String, IdentityError> {
        let mut ring = self.keyring.write().unwrap_or_else(PoisonError::into_inner);
        let kid = ring.rotate(now)?;
        store.save_keys(&ring.to_stored())?;
        Ok(kid)
    }
}

/// Verifies `token` offline against a JWKS document (CLI, Zastava): the same checks
/// as [`Issuer::verify`], with no network access.
pub fn verify_with_jwks(
    token: &str,
    jwks: &Jwks,
    issuer: &str,
    audience: &str,
    now: DateTime<Utc>,
) -> Result<Identity, TokenError> {
    let kid = check_header(token)?;
    let jwk = jwks
        .find(&kid)
        .ok_or_else(|| TokenError::UnknownKeyId(truncate(&kid, 64)))?;
    let public = jwk
        .ed25519_public_key()
        .ok_or_else(|| TokenError::UnusableKey(truncate(&kid, 64)))?;
    // Exactly 32 bytes: jsonwebtoken's verifier slices the first 32.
    let key = DecodingKey::from_ed_der(&public);
    verify_claims(token, &key, issuer, audience, now)
}

/// The parts of a JOSE header looked at before choosing a key.
#[derive(Deserialize)]
struct RawHeader {
    alg: Option<serde_json::Value>,
    kid: Option<serde_json::Value>,
}

/// Checks size and shape, and that the header asks for EdDSA; returns the `kid`.
fn check_header(token: &str) -> Result<String, TokenError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::TooLong {
            len: token.len(),
            max: MAX_TOKEN_BYTES,
        });
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed(
            "expected three dot-separated parts".into(),
        ));
    };
    if header.is_empty() || payload.is_empty() {
        return Err(TokenError::Malformed("empty header or payload".into()));
    }
    let b64url = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if !(b64url(header) && b64url(payload) && b64url(signature)) {
        return Err(TokenError::Malformed(
            "parts must be unpadded base64url".into(),
        ));
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|e| TokenError::Malformed(format!("header: {e}")))?;
    let raw: RawHeader = serde_json::from_slice(&bytes)
        .map_err(|e| TokenError::Malformed(format!("header: {e}")))?;
    match raw.alg {
        Some(serde_json::Value::String(alg)) if alg == "EdDSA" => {}
        Some(serde_json::Value::String(alg)) => {
            return Err(TokenError::UnsupportedAlgorithm(truncate(&alg, 32)));
        }
        Some(other) => {
            return Err(TokenError::UnsupportedAlgorithm(truncate(
                &other.to_string(),
                32,
            )));
        }
        None => return Err(TokenError::Malformed("header has no alg".into())),
    }
    let kid = match raw.kid {
        Some(serde_json::Value::String(kid)) => kid,
        Some(_) => return Err(TokenError::Malformed("kid is not a string".into())),
        None => return Err(TokenError::MissingKeyId),
    };
    // The full header as jsonwebtoken reads it, so that its later JSON errors can
    // only be about the claims.
    jsonwebtoken::decode_header(token)
        .map_err(|e| TokenError::Malformed(format!("header: {}", truncate(&e.to_string(), 200))))?;
    Ok(kid)
}

/// Checks the signature with `key`, then the claims against `now`, `iss` and `aud`.
fn verify_claims(
    token: &str,
    key: &DecodingKey,
    issuer: &str,
    audience: &str,
    now: DateTime<Utc>,
) -> Result<Identity, TokenError> {
    // jsonwebtoken checks only the signature (and that alg is EdDSA); time, iss and
    // aud are checked below against the caller's `now` and with our own errors.
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let data =
        jsonwebtoken::decode::<Claims>(token, key, &validation).map_err(|e| match e.kind() {
            ErrorKind::InvalidSignature => TokenError::BadSignature,
            ErrorKind::Json(err) => TokenError::InvalidClaims(truncate(&err.to_string(), 200)),
            ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                TokenError::UnsupportedAlgorithm("?".into())
            }
            ErrorKind::InvalidEddsaKey | ErrorKind::InvalidKeyFormat => {
                TokenError::UnusableKey("?".into())
            }
            _ => TokenError::Malformed(truncate(&e.to_string(), 200)),
        })?;
    let c = data.claims;
    if c.iss != issuer {
        return Err(TokenError::WrongIssuer(truncate(&c.iss, 128)));
    }
    if c.aud != audience {
        return Err(TokenError::WrongAudience(truncate(&c.aud, 128)));
    }
    let time = |secs: i64, name: &str| {
        DateTime::from_timestamp(secs, 0)
            .ok_or_else(|| TokenError::InvalidClaims(format!("{name} is out of range")))
    };
    let exp = time(c.exp, "exp")?;
    let nbf = time(c.nbf, "nbf")?;
    if now >= exp {
        return Err(TokenError::Expired(exp));
    }
    if now.timestamp().saturating_add(NBF_LEEWAY_SECS) < c.nbf {
        return Err(TokenError::NotYetValid(nbf));
    }
    if c.sub.is_empty() {
        return Err(TokenError::InvalidClaims("empty sub".into()));
    }
    if c.tier.is_empty() {
        return Err(TokenError::InvalidClaims("empty tier".into()));
    }
    let scopes =
        Scope::parse_list(&c.scope).map_err(|e| TokenError::InvalidClaims(e.to_string()))?;
    Ok(Identity {
        subject: c.sub,
        tier: c.tier,
        max_scans_per_day: c.max_scans_per_day,
        scopes,
        kind: c.kind,
        token_id: c.jti,
        expires_at: exp,
    })
}
