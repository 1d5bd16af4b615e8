//! Ed25519 signing keys, the one home for: generating them, their PKCS#8 / SPKI DER
//! and PEM forms (RFC 8410), the key id rule, and their JWK (RFC 8037). Identity
//! (token signing keys) and feedser's offline kits (kit signing keys) both use it.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// DER prefix of an Ed25519 PKCS#8 v1 private key (RFC 8410); the 32-byte seed follows.
const PKCS8_V1_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];
/// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410); the 32-byte key follows.
const SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// Why a key could not be generated or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigningKeyError {
    /// The system random source failed.
    #[error("the system random source failed")]
    Random,
    /// The text is not PEM with the expected label, or its base64 is broken.
    #[error("{reason}")]
    Pem {
        /// What is wrong.
        reason: String,
    },
    /// The DER is not an Ed25519 PKCS#8 private key (v1 or v2).
    #[error("not an Ed25519 PKCS#8 private key (RFC 8410)")]
    NotPkcs8,
    /// The DER is not an Ed25519 SubjectPublicKeyInfo.
    #[error("not an Ed25519 public key (SPKI, RFC 8410)")]
    NotSpki,
}

/// An Ed25519 private key (its 32-byte seed) and its public key.
#[derive(Clone, PartialEq, Eq)]
pub struct Ed25519Key {
    seed: [u8; 32],
    public: [u8; 32],
}

impl std::fmt::Debug for Ed25519Key {
    // The private key never goes to logs or test failures.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ed25519Key")
            .field("kid", &self.key_id())
            .finish_non_exhaustive()
    }
}

impl Ed25519Key {
    /// A new random key.
    pub fn generate() -> Result<Ed25519Key, SigningKeyError> {
        use ring::rand::SecureRandom as _;
        let mut seed = [0u8; 32];
        ring::rand::SystemRandom::new()
            .fill(&mut seed)
            .map_err(|_| SigningKeyError::Random)?;
        Ok(Ed25519Key::from_seed(seed))
    }

    /// The key with private seed `seed`.
    pub fn from_seed(seed: [u8; 32]) -> Ed25519Key {
        use ring::signature::KeyPair as _;
        // Every 32-byte string is a valid seed; ring only checks the length.
        let public = ring::signature::Ed25519KeyPair::from_seed_unchecked(&seed)
            .ok()
            .and_then(|pair| <[u8; 32]>::try_from(pair.public_key().as_ref()).ok())
            .unwrap_or_default();
        Ed25519Key { seed, public }
    }

    /// Reads a PKCS#8 private key: v1 (RFC 8410, `openssl genpkey`) or v2 with the
    /// public key appended (what ring generates), whose public key must match.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Ed25519Key, SigningKeyError> {
        // The seed sits at offset 16 in both versions.
        let v1 = der.len() == 48 && der.get(..16) == Some(&PKCS8_V1_PREFIX[..]);
        let v2 = der.len() > 48
            && der.first() == Some(&0x30)
            && der.get(1).map(|&n| usize::from(n) + 2) == Some(der.len())
            && der.get(2..5) == Some(&[0x02, 0x01, 0x01][..])
            && der.get(5..16) == PKCS8_V1_PREFIX.get(5..16);
        let seed = match der.get(16..48).and_then(|s| <[u8; 32]>::try_from(s).ok()) {
            Some(seed) if v1 || v2 => seed,
            _ => return Err(SigningKeyError::NotPkcs8),
        };
        let key = Ed25519Key::from_seed(seed);
        if v2 && der.get(der.len() - 32..) != Some(&key.public[..]) {
            return Err(SigningKeyError::NotPkcs8);
        }
        Ok(key)
    }

    /// Reads a PKCS#8 PEM private key (`BEGIN PRIVATE KEY`).
    pub fn from_pkcs8_pem(text: &str) -> Result<Ed25519Key, SigningKeyError> {
        Ed25519Key::from_pkcs8_der(&pem_decode(text, "PRIVATE KEY")?)
    }

    /// The raw 32-byte public key.
    pub fn public_key(&self) -> &[u8; 32] {
        &self.public
    }

    /// The private key as PKCS#8 v1 DER (RFC 8410).
    pub fn pkcs8_der(&self) -> Vec<u8> {
        let mut der = PKCS8_V1_PREFIX.to_vec();
        der.extend_from_slice(&self.seed);
        der
    }

    /// The private key as PKCS#8 PEM (`BEGIN PRIVATE KEY`).
    pub fn pkcs8_pem(&self) -> String {
        pem_encode("PRIVATE KEY", &self.pkcs8_der())
    }

    /// The public key as SPKI PEM (`BEGIN PUBLIC KEY`).
    pub fn public_pem(&self) -> String {
        public_key_pem(&self.public)
    }

    /// The key id of the public key ([`key_id`]).
    pub fn key_id(&self) -> String {
        key_id(&self.public)
    }
}

/// The key id of an Ed25519 public key, the one rule for every key: base64url (no
/// padding) of the first 8 bytes of the SHA-256 of the raw 32-byte key, so the same
/// key always gets the same 11-character id.
pub fn key_id(public_key: &[u8; 32]) -> String {
    let digest = Sha256::digest(public_key);
    URL_SAFE_NO_PAD.encode(digest.get(..8).unwrap_or_default())
}

/// An Ed25519 public key as SubjectPublicKeyInfo DER (RFC 8410).
pub fn spki_der(public_key: &[u8; 32]) -> Vec<u8> {
    let mut der = SPKI_PREFIX.to_vec();
    der.extend_from_slice(public_key);
    der
}

/// An Ed25519 public key as SPKI PEM (`BEGIN PUBLIC KEY`).
pub fn public_key_pem(public_key: &[u8; 32]) -> String {
    pem_encode("PUBLIC KEY", &spki_der(public_key))
}

/// The raw public key of an SPKI PEM Ed25519 key (`BEGIN PUBLIC KEY`).
pub fn public_key_from_pem(text: &str) -> Result<[u8; 32], SigningKeyError> {
    let der = pem_decode(text, "PUBLIC KEY")?;
    if der.len() != SPKI_PREFIX.len() + 32 || !der.starts_with(&SPKI_PREFIX) {
        return Err(SigningKeyError::NotSpki);
    }
    der.get(SPKI_PREFIX.len()..)
        .and_then(|k| <[u8; 32]>::try_from(k).ok())
        .ok_or(SigningKeyError::NotSpki)
}

/// PEM text of `der` under `label`, 64 base64 characters a line.
fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    // Base64 is ASCII, so 64-byte chunks are valid text.
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The DER inside the first PEM block labelled `label` of `text`.
fn pem_decode(text: &str, label: &str) -> Result<Vec<u8>, SigningKeyError> {
    let bad = |reason: String| SigningKeyError::Pem { reason };
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text
        .find(&begin)
        .ok_or_else(|| bad(format!("no `{begin}` line")))?
        + begin.len();
    let rest = text.get(start..).unwrap_or_default();
    let stop = rest
        .find(&end)
        .ok_or_else(|| bad(format!("no `{end}` line")))?;
    let body: String = rest
        .get(..stop)
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    STANDARD
        .decode(body)
        .map_err(|e| bad(format!("bad base64: {e}")))
}

/// One public key as a JSON Web Key: an Ed25519 octet key pair (RFC 8037).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// Key type: "OKP".
    pub kty: String,
    /// Curve: "Ed25519".
    #[serde(default)]
    pub crv: String,
    /// The public key, base64url without padding.
    #[serde(default)]
    pub x: String,
    /// The key id.
    #[serde(default)]
    pub kid: String,
    /// Algorithm: "EdDSA" (optional in documents read back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// Use: "sig" (optional in documents read back).
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
}

impl Jwk {
    /// The JWK of an Ed25519 public key.
    pub fn ed25519(kid: &str, public_key: &[u8; 32]) -> Jwk {
        Jwk {
            kty: "OKP".to_owned(),
            crv: "Ed25519".to_owned(),
            x: URL_SAFE_NO_PAD.encode(public_key),
            kid: kid.to_owned(),
            alg: Some("EdDSA".to_owned()),
            use_: Some("sig".to_owned()),
        }
    }

    /// The raw Ed25519 public key, when this is a usable EdDSA signing key.
    pub fn ed25519_public_key(&self) -> Option<[u8; 32]> {
        if self.kty != "OKP" || self.crv != "Ed25519" {
            return None;
        }
        if self.alg.as_deref().is_some_and(|a| a != "EdDSA")
            || self.use_.as_deref().is_some_and(|u| u != "sig")
        {
            return None;
        }
        // 32 bytes are 43 base64url characters; refuse anything else before decoding.
        if self.x.len() != 43 {
            return None;
        }
        URL_SAFE_NO_PAD.decode(&self.x).ok()?.try_into().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_key_roundtrips_through_pem() {
        let key = Ed25519Key::generate().unwrap();
        let pem = key.pkcs8_pem();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        assert_eq!(Ed25519Key::from_pkcs8_pem(&pem).unwrap(), key);
        assert_eq!(
            public_key_from_pem(&key.public_pem()).unwrap(),
            *key.public_key()
        );
        assert_eq!(key.key_id().len(), 11, "8 bytes are 11 base64url chars");
        assert_ne!(key.key_id(), Ed25519Key::generate().unwrap().key_id());
        assert!(!format!("{key:?}").contains(&pem));
        assert!(public_key_from_pem(&pem).is_err());
        assert!(matches!(
            Ed25519Key::from_pkcs8_pem(
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
            ),
            Err(SigningKeyError::NotPkcs8)
        ));
        assert!(matches!(
            Ed25519Key::from_pkcs8_pem("no pem"),
            Err(SigningKeyError::Pem { .. })
        ));
    }

    #[test]
    fn ring_pkcs8_v2_documents_are_read() {
        use ring::signature::KeyPair as _;
        let rng = ring::rand::SystemRandom::new();
        let v2 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let pair = ring::signature::Ed25519KeyPair::from_pkcs8(v2.as_ref()).unwrap();
        let key = Ed25519Key::from_pkcs8_der(v2.as_ref()).unwrap();
        assert_eq!(&key.public_key()[..], pair.public_key().as_ref());
        // A v2 document whose public key is not the seed's is refused.
        let mut wrong = v2.as_ref().to_vec();
        let last = wrong.len() - 1;
        wrong[last] ^= 1;
        assert_eq!(
            Ed25519Key::from_pkcs8_der(&wrong),
            Err(SigningKeyError::NotPkcs8)
        );
    }

    #[test]
    fn rfc8410_example_key_gives_its_public_key() {
        // RFC 8410 §10.3 private key and the public key of §10.1 (openssl agrees).
        let private = "-----BEGIN PRIVATE KEY-----\n\
            MC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n\
            -----END PRIVATE KEY-----\n";
        let public = "-----BEGIN PUBLIC KEY-----\n\
            MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n\
            -----END PUBLIC KEY-----\n";
        let key = Ed25519Key::from_pkcs8_pem(private).unwrap();
        assert_eq!(key.public_pem(), public);
        assert_eq!(key.pkcs8_pem(), private);
    }

    #[test]
    fn jwk_shape() {
        let key = Ed25519Key::generate().unwrap();
        let jwk = Jwk::ed25519(&key.key_id(), key.public_key());
        let json = serde_json::to_value(&jwk).unwrap();
        assert_eq!(json["kty"], "OKP");
        assert_eq!(json["crv"], "Ed25519");
        assert_eq!(json["alg"], "EdDSA");
        assert_eq!(json["use"], "sig");
        assert_eq!(json["x"].as_str().unwrap().len(), 43);
        assert_eq!(jwk.ed25519_public_key(), Some(*key.public_key()));
        let mut short = jwk.clone();
        short.x.pop();
        assert!(short.ed25519_public_key().is_none());
        let mut rsa = jwk;
        rsa.kty = "RSA".into();
        assert!(rsa.ed25519_public_key().is_none());
    }
}
