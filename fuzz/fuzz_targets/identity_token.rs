#![no_main]
//! Fuzz target: token verification (against the issuer's key ring and offline against
//! its JWKS), JWKS documents and `--bootstrap-client` values must never panic. No
//! input verifies as a token (the fuzzer cannot sign with the ring's fresh key), and a
//! real token verifies against a fuzzed JWKS exactly when it publishes our key.
use std::collections::BTreeSet;
use std::sync::OnceLock;

use chrono::{DateTime, TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use stella_core::identity::{
    BootstrapClient, Issuer, Jwks, KeyRing, Tiers, TokenKind, verify_with_jwks,
};

struct Fixture {
    issuer: Issuer,
    jwks: Jwks,
    token: String,
    now: DateTime<Utc>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let ring = KeyRing::generate(now).expect("key generation");
        let issuer = Issuer::new(ring, "iss", "aud");
        let jwks = issuer.jwks();
        let token = issuer
            .issue(
                "fuzz",
                Tiers::new().free(),
                &BTreeSet::new(),
                TokenKind::Access,
                now,
            )
            .expect("issue")
            .token;
        Fixture {
            issuer,
            jwks,
            token,
            now,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let text = String::from_utf8_lossy(data);
    assert!(f.issuer.verify(&text, f.now).is_err());
    assert!(verify_with_jwks(&text, &f.jwks, "iss", "aud", f.now).is_err());
    if let Ok(doc) = Jwks::parse(data) {
        let ours = &f.jwks.keys[0];
        let publishes_ours = doc
            .find(&ours.kid)
            .and_then(|k| k.ed25519_public_key())
            .is_some_and(|x| Some(x) == ours.ed25519_public_key());
        let verified = verify_with_jwks(&f.token, &doc, "iss", "aud", f.now).is_ok();
        assert_eq!(verified, publishes_ours);
    }
    if let Ok(b) = BootstrapClient::parse(&text, &Tiers::new()) {
        assert!(!b.id.is_empty() && b.id.len() <= 64);
        assert!(b.secret.len() >= 16);
    }
});
