//! Identity: tokens issued and verified with explicit clocks, every refusal reason,
//! key rotation, offline verification against a JWKS document, client secrets,
//! `--bootstrap-client` and the SQLite store across reopen.

use std::collections::BTreeSet;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;
use stella_core::identity::store::{authenticate, load_key_ring};
use stella_core::identity::{
    BootstrapClient, ClientError, ClientRecord, IdentityStore, Issuer, Jwks, KeyRing, Scope,
    SqliteIdentityStore, TierError, Tiers, TokenError, TokenKind, verify_with_jwks,
};

const ISS: &str = "https://stella.example";
const AUD: &str = "stella-api";

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 4, 10, 30, 0).unwrap()
}

fn issuer() -> Issuer {
    Issuer::new(KeyRing::generate(t0()).unwrap(), ISS, AUD)
}

fn scan_only() -> BTreeSet<Scope> {
    [Scope::Scan].into_iter().collect()
}

fn b64(json: &serde_json::Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(json).unwrap())
}

fn parts(token: &str) -> Vec<String> {
    token.split('.').map(str::to_owned).collect()
}

fn payload(token: &str) -> serde_json::Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts(token)[1]).unwrap()).unwrap()
}

#[test]
fn issue_verify_roundtrip() {
    let issuer = issuer();
    let tiers = Tiers::new();
    let team = tiers.get("Team").unwrap();
    let t = issuer
        .issue("ci-runner", team, &Scope::all(), TokenKind::Access, t0())
        .unwrap();
    assert_eq!(t.expires_at, t0() + Duration::hours(12));
    let id = issuer.verify(&t.token, t0()).unwrap();
    assert_eq!(id.subject, "ci-runner");
    assert_eq!(id.tier, "Team");
    assert_eq!(id.max_scans_per_day, 5000);
    assert_eq!(id.scopes, Scope::all());
    assert!(id.has(Scope::Admin) && id.has(Scope::PolicyWrite));
    assert_eq!(id.kind, TokenKind::Access);
    assert_eq!(id.expires_at, t.expires_at);
    assert_eq!(id.token_id, t.claims.jti);
    let jti = uuid::Uuid::parse_str(&id.token_id).unwrap();
    assert_eq!(jti.get_version_num(), 4);

    // The wire format: header and claim names as documented.
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts(&t.token)[0]).unwrap()).unwrap();
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(header["kid"], issuer.active_kid());
    let p = payload(&t.token);
    assert_eq!(p["iss"], ISS);
    assert_eq!(p["aud"], AUD);
    assert_eq!(p["sub"], "ci-runner");
    assert_eq!(p["maxScansPerDay"], 5000);
    assert_eq!(p["scope"], "scan policy:write admin");
    assert_eq!(p["kind"], "access");
    assert_eq!(p["tier"], "Team");
    assert_eq!(p["iat"], t0().timestamp());
    assert_eq!(p["nbf"], t0().timestamp());
    assert_eq!(p["exp"], (t0() + Duration::hours(12)).timestamp());

    // Two tokens never share an id.
    let t2 = issuer
        .issue("ci-runner", team, &Scope::all(), TokenKind::Access, t0())
        .unwrap();
    assert_ne!(t.claims.jti, t2.claims.jti);

    let free = Tiers::with_free_limit(7);
    let f = issuer
        .issue("x", free.free(), &scan_only(), TokenKind::Offline, t0())
        .unwrap();
    let id = issuer.verify(&f.token, t0()).unwrap();
    assert_eq!((id.tier.as_str(), id.max_scans_per_day), ("Free", 7));
    assert!(!id.has(Scope::Admin));
    assert_eq!(id.kind, TokenKind::Offline);
}

#[test]
fn access_tokens_live_12_hours_offline_30_days() {
    let issuer = issuer();
    let tiers = Tiers::new();
    for (kind, life) in [
        (TokenKind::Access, Duration::hours(12)),
        (TokenKind::Offline, Duration::days(30)),
    ] {
        let t = issuer
            .issue("c", tiers.free(), &scan_only(), kind, t0())
            .unwrap();
        let last = t0() + life - Duration::seconds(1);
        assert!(issuer.verify(&t.token, last).is_ok(), "{kind}");
        assert_eq!(
            issuer.verify(&t.token, t0() + life),
            Err(TokenError::Expired(t0() + life)),
            "{kind}"
        );
    }
}

#[test]
fn not_before_allows_60_seconds_of_skew() {
    let issuer = issuer();
    let t = issuer
        .issue(
            "c",
            Tiers::new().free(),
            &scan_only(),
            TokenKind::Access,
            t0(),
        )
        .unwrap();
    assert!(
        issuer
            .verify(&t.token, t0() - Duration::seconds(60))
            .is_ok()
    );
    assert_eq!(
        issuer.verify(&t.token, t0() - Duration::seconds(61)),
        Err(TokenError::NotYetValid(t0()))
    );
}

#[test]
fn tampered_tokens_are_rejected() {
    let issuer = issuer();
    let t = issuer
        .issue(
            "c",
            Tiers::new().free(),
            &scan_only(),
            TokenKind::Access,
            t0(),
        )
        .unwrap();
    let p = parts(&t.token);

    // Raise the limit and add admin: the signature no longer matches.
    let mut claims = payload(&t.token);
    claims["maxScansPerDay"] = serde_json::json!(u32::MAX);
    claims["scope"] = serde_json::json!("scan admin");
    let forged = format!("{}.{}.{}", p[0], b64(&claims), p[2]);
    assert_eq!(issuer.verify(&forged, t0()), Err(TokenError::BadSignature));

    // Flip one signature byte (decoded, so base64's spare bits cannot hide it).
    let mut sig = URL_SAFE_NO_PAD.decode(&p[2]).unwrap();
    sig[10] ^= 0x01;
    let forged = format!("{}.{}.{}", p[0], p[1], URL_SAFE_NO_PAD.encode(&sig));
    assert_eq!(issuer.verify(&forged, t0()), Err(TokenError::BadSignature));

    // A header jsonwebtoken cannot read is a malformed token, not bad claims.
    let odd = serde_json::json!({"alg": "EdDSA", "kid": issuer.active_kid(), "typ": 5});
    let forged = format!("{}.{}.{}", b64(&odd), p[1], p[2]);
    assert!(matches!(
        issuer.verify(&forged, t0()),
        Err(TokenError::Malformed(_))
    ));

    // A validly signed payload that is not our claims (signed with the ring's key).
    let ring = KeyRing::generate(t0()).unwrap();
    let stored = ring.to_stored();
    let other = Issuer::new(ring, ISS, AUD);
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = Some(other.active_kid());
    let key = jsonwebtoken::EncodingKey::from_ed_der(&stored[0].pkcs8);
    let bad_claims = serde_json::json!({"iss": ISS, "aud": AUD, "sub": "x", "exp": 1});
    let signed = jsonwebtoken::encode(&header, &bad_claims, &key).unwrap();
    assert!(matches!(
        other.verify(&signed, t0()),
        Err(TokenError::InvalidClaims(_))
    ));
    let mut claims = payload(&t.token);
    claims["scope"] = serde_json::json!("scan superuser");
    let signed = jsonwebtoken::encode(&header, &claims, &key).unwrap();
    assert!(matches!(
        other.verify(&signed, t0()),
        Err(TokenError::InvalidClaims(m)) if m.contains("superuser")
    ));

    // Truncated signature.
    let forged = format!("{}.{}.{}", p[0], p[1], &p[2][..20]);
    assert!(issuer.verify(&forged, t0()).is_err());

    // Not a JWT at all.
    for junk in [
        "",
        "a.b",
        "a.b.c.d",
        "...",
        "@@.@@.@@",
        "e30.e30.",
        "eyJ.e30.AA",
    ] {
        assert!(
            matches!(issuer.verify(junk, t0()), Err(TokenError::Malformed(_))),
            "{junk:?}: {:?}",
            issuer.verify(junk, t0())
        );
    }
    let long = "a".repeat(8 * 1024 + 1);
    assert_eq!(
        issuer.verify(&long, t0()),
        Err(TokenError::TooLong {
            len: 8 * 1024 + 1,
            max: 8 * 1024
        })
    );
}

#[test]
fn none_and_hmac_algorithms_are_rejected() {
    let issuer = issuer();
    let t = issuer
        .issue(
            "c",
            Tiers::new().free(),
            &Scope::all(),
            TokenKind::Access,
            t0(),
        )
        .unwrap();
    let p = parts(&t.token);
    let kid = issuer.active_kid();

    // alg "none", no signature.
    let none = serde_json::json!({"alg": "none", "typ": "JWT", "kid": kid});
    for sig in ["", &p[2]] {
        let forged = format!("{}.{}.{}", b64(&none), p[1], sig);
        assert_eq!(
            issuer.verify(&forged, t0()),
            Err(TokenError::UnsupportedAlgorithm("none".into()))
        );
    }

    // HS256 keyed with the public key (the classic algorithm-confusion forgery).
    let jwks = issuer.jwks();
    let public = URL_SAFE_NO_PAD.decode(&jwks.keys[0].x).unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(kid.clone());
    let hs = jsonwebtoken::encode(
        &header,
        &t.claims,
        &jsonwebtoken::EncodingKey::from_secret(&public),
    )
    .unwrap();
    assert_eq!(
        issuer.verify(&hs, t0()),
        Err(TokenError::UnsupportedAlgorithm("HS256".into()))
    );
    assert_eq!(
        verify_with_jwks(&hs, &jwks, ISS, AUD, t0()),
        Err(TokenError::UnsupportedAlgorithm("HS256".into()))
    );
    // Lower-case spelling or a non-string alg is no way round it either.
    let odd = serde_json::json!({"alg": "eddsa", "kid": kid});
    let forged = format!("{}.{}.{}", b64(&odd), p[1], p[2]);
    assert_eq!(
        issuer.verify(&forged, t0()),
        Err(TokenError::UnsupportedAlgorithm("eddsa".into()))
    );
    let odd = serde_json::json!({"alg": ["EdDSA"], "kid": kid});
    let forged = format!("{}.{}.{}", b64(&odd), p[1], p[2]);
    assert!(matches!(
        issuer.verify(&forged, t0()),
        Err(TokenError::UnsupportedAlgorithm(_))
    ));
}

#[test]
fn unknown_or_missing_key_id() {
    let ours = issuer();
    let theirs = issuer();
    let t = theirs
        .issue(
            "c",
            Tiers::new().free(),
            &scan_only(),
            TokenKind::Access,
            t0(),
        )
        .unwrap();
    assert_eq!(
        ours.verify(&t.token, t0()),
        Err(TokenError::UnknownKeyId(theirs.active_kid()))
    );
    let p = parts(&t.token);
    let no_kid = serde_json::json!({"alg": "EdDSA", "typ": "JWT"});
    let forged = format!("{}.{}.{}", b64(&no_kid), p[1], p[2]);
    assert_eq!(ours.verify(&forged, t0()), Err(TokenError::MissingKeyId));
}

#[test]
fn wrong_issuer_or_audience() {
    let ring = KeyRing::generate(t0()).unwrap();
    let stored = ring.to_stored();
    let issuer = Issuer::new(ring, ISS, AUD);
    let t = issuer
        .issue(
            "c",
            Tiers::new().free(),
            &scan_only(),
            TokenKind::Access,
            t0(),
        )
        .unwrap();
    let other_iss = Issuer::new(
        KeyRing::from_stored(stored.clone()).unwrap(),
        "https://evil",
        AUD,
    );
    assert_eq!(
        other_iss.verify(&t.token, t0()),
        Err(TokenError::WrongIssuer(ISS.into()))
    );
    let other_aud = Issuer::new(KeyRing::from_stored(stored).unwrap(), ISS, "zastava");
    assert_eq!(
        other_aud.verify(&t.token, t0()),
        Err(TokenError::WrongAudience(AUD.into()))
    );
}

#[test]
fn rotation_keeps_old_tokens_valid_until_the_key_is_dropped() {
    let store = SqliteIdentityStore::open_in_memory().unwrap();
    let ring = load_key_ring(&store, t0()).unwrap();
    let issuer = Issuer::new(ring, ISS, AUD);
    let old_kid = issuer.active_kid();
    let tiers = Tiers::new();
    let old = issuer
        .issue("c", tiers.free(), &scan_only(), TokenKind::Offline, t0())
        .unwrap();

    let day1 = t0() + Duration::days(1);
    let new_kid = issuer.rotate(&store, day1).unwrap();
    assert_ne!(new_kid, old_kid);
    assert_eq!(issuer.active_kid(), new_kid);
    let new = issuer
        .issue("c", tiers.free(), &scan_only(), TokenKind::Access, day1)
        .unwrap();
    assert_eq!(
        payload(&new.token)["sub"],
        "c",
        "new tokens are signed and readable"
    );
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts(&new.token)[0]).unwrap()).unwrap();
    assert_eq!(header["kid"], new_kid);
    assert!(issuer.verify(&new.token, day1).is_ok());
    assert!(
        issuer.verify(&old.token, day1).is_ok(),
        "old key still verifies"
    );
    let kids: Vec<String> = issuer.jwks().keys.into_iter().map(|k| k.kid).collect();
    assert_eq!(kids, vec![old_kid.clone(), new_kid.clone()]);
    // The rotation was persisted.
    let reloaded = load_key_ring(&store, day1).unwrap();
    assert_eq!(reloaded.kids(), vec![old_kid.as_str(), new_kid.as_str()]);
    assert_eq!(reloaded.active_kid(), new_kid);

    // 30 days after its retirement the old key goes at the next rotation.
    let day31 = day1 + Duration::days(30);
    let newest = issuer.rotate(&store, day31).unwrap();
    let kids: Vec<String> = issuer.jwks().keys.into_iter().map(|k| k.kid).collect();
    assert_eq!(kids, vec![new_kid.clone(), newest]);
    assert_eq!(
        issuer.verify(&old.token, day31 - Duration::days(2)),
        Err(TokenError::UnknownKeyId(old_kid))
    );
    assert_eq!(load_key_ring(&store, day31).unwrap().kids().len(), 2);
}

#[test]
fn load_or_create_drops_keys_retired_over_30_days_ago() {
    let store = SqliteIdentityStore::open_in_memory().unwrap();
    let mut ring = load_key_ring(&store, t0()).unwrap();
    ring.rotate(t0() + Duration::days(1)).unwrap();
    store.save_keys(&ring.to_stored()).unwrap();
    assert_eq!(store.load_keys().unwrap().len(), 2);
    let later = load_key_ring(&store, t0() + Duration::days(40)).unwrap();
    assert_eq!(later.kids(), vec![ring.active_kid()]);
    assert_eq!(
        store.load_keys().unwrap().len(),
        1,
        "the store was pruned too"
    );
}

#[test]
fn verify_offline_with_jwks_document() {
    let issuer = issuer();
    let t = issuer
        .issue(
            "zastava",
            Tiers::new().get("Enterprise").unwrap(),
            &scan_only(),
            TokenKind::Offline,
            t0(),
        )
        .unwrap();
    let json = serde_json::to_string_pretty(&issuer.jwks()).unwrap();
    let jwks = Jwks::parse(json.as_bytes()).unwrap();
    let id = verify_with_jwks(&t.token, &jwks, ISS, AUD, t0() + Duration::days(29)).unwrap();
    assert_eq!(id.subject, "zastava");
    assert_eq!(id.max_scans_per_day, u32::MAX);
    assert_eq!(
        id,
        issuer.verify(&t.token, t0() + Duration::days(29)).unwrap()
    );

    assert!(matches!(
        verify_with_jwks(&t.token, &jwks, ISS, AUD, t0() + Duration::days(30)),
        Err(TokenError::Expired(_))
    ));
    assert_eq!(
        verify_with_jwks(&t.token, &jwks, "other", AUD, t0()),
        Err(TokenError::WrongIssuer(ISS.into()))
    );
    assert_eq!(
        verify_with_jwks(&t.token, &Jwks { keys: vec![] }, ISS, AUD, t0()),
        Err(TokenError::UnknownKeyId(issuer.active_kid()))
    );
    // Another server's key published under our kid: the signature fails.
    let mut wrong = jwks.clone();
    wrong.keys[0].x = issuer_x(&self::issuer());
    assert_eq!(
        verify_with_jwks(&t.token, &wrong, ISS, AUD, t0()),
        Err(TokenError::BadSignature)
    );
    // Keys that are not Ed25519 signing keys are not used.
    for bad in [
        serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": "AAAA", "kid": issuer.active_kid()}),
        serde_json::json!({"kty": "RSA", "crv": "Ed25519", "x": jwks.keys[0].x, "kid": issuer.active_kid()}),
        serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": jwks.keys[0].x, "kid": issuer.active_kid(), "use": "enc"}),
    ] {
        let doc = serde_json::json!({ "keys": [bad] }).to_string();
        let jwks = Jwks::parse(doc.as_bytes()).unwrap();
        assert_eq!(
            verify_with_jwks(&t.token, &jwks, ISS, AUD, t0()),
            Err(TokenError::UnusableKey(issuer.active_kid()))
        );
    }
}

fn issuer_x(issuer: &Issuer) -> String {
    issuer.jwks().keys[0].x.clone()
}

#[test]
fn client_secrets() {
    let tiers = Tiers::new();
    let c = ClientRecord::new(
        "ci",
        "correct-horse-battery",
        tiers.free(),
        scan_only(),
        t0(),
    )
    .unwrap();
    assert!(c.secret_hash.starts_with("pbkdf2-sha256$60000$"));
    assert!(!c.secret_hash.contains("correct-horse"));
    assert!(c.verify_secret("correct-horse-battery"));
    assert!(!c.verify_secret("correct-horse-batterY"));
    assert!(!c.verify_secret("correct-horse-battery "));
    assert!(!c.verify_secret(""));
    assert_eq!(c.tier, "Free");
    assert!(!format!("{c:?}").contains("pbkdf2"));

    assert!(matches!(
        ClientRecord::new("ci", "short", tiers.free(), scan_only(), t0()),
        Err(ClientError::InvalidSecret)
    ));
    assert!(matches!(
        ClientRecord::new("c i", "long-enough-secret", tiers.free(), scan_only(), t0()),
        Err(ClientError::InvalidId(_))
    ));

    let store = SqliteIdentityStore::open_in_memory().unwrap();
    store.put_client(&c).unwrap();
    assert_eq!(
        authenticate(&store, "ci", "correct-horse-battery").unwrap(),
        Some(c.clone())
    );
    assert_eq!(
        authenticate(&store, "ci", "wrong-secret-0000").unwrap(),
        None
    );
    assert_eq!(
        authenticate(&store, "nobody", "correct-horse-battery").unwrap(),
        None
    );
    assert_eq!(authenticate(&store, "bad id!", "").unwrap(), None);
}

#[test]
fn bootstrap_client_parse() {
    let tiers = Tiers::with_free_limit(5);
    let b = BootstrapClient::parse("admin:s3cret:with:colons!!:team", &tiers).unwrap();
    assert_eq!(b.id, "admin");
    assert_eq!(b.secret, "s3cret:with:colons!!");
    assert_eq!(b.tier.name, "Team");
    assert!(!format!("{b:?}").contains("s3cret"));
    let rec = b.to_record(t0()).unwrap();
    assert_eq!(rec.scopes, Scope::all());
    assert!(rec.verify_secret("s3cret:with:colons!!"));
    assert_eq!(
        BootstrapClient::parse("a:0123456789abcdef:Free", &tiers)
            .unwrap()
            .tier
            .max_scans_per_day,
        5
    );

    let cases: [(&str, ClientError); 8] = [
        ("", ClientError::BootstrapFormat),
        ("admin", ClientError::BootstrapFormat),
        ("admin:0123456789abcdef", ClientError::BootstrapFormat),
        (
            "admin:0123456789abcdef:",
            ClientError::UnknownTier(TierError(String::new())),
        ),
        (
            "admin:0123456789abcdef:Gold",
            ClientError::UnknownTier(TierError("Gold".into())),
        ),
        (
            ":0123456789abcdef:Free",
            ClientError::InvalidId(String::new()),
        ),
        (
            "ad min:0123456789abcdef:Free",
            ClientError::InvalidId("ad min".into()),
        ),
        ("admin:short:Free", ClientError::InvalidSecret),
    ];
    for (input, want) in cases {
        assert_eq!(
            BootstrapClient::parse(input, &tiers).unwrap_err(),
            want,
            "{input:?}"
        );
    }
    let huge = format!("a:{}:Free", "s".repeat(10_000));
    assert_eq!(
        BootstrapClient::parse(&huge, &tiers).unwrap_err(),
        ClientError::BootstrapFormat
    );
}

#[test]
fn sqlite_store_persists_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("identity.db");
    let tiers = Tiers::new();
    let (kid, token, client) = {
        let store = SqliteIdentityStore::open(&path).unwrap();
        assert!(store.load_keys().unwrap().is_empty());
        let ring = load_key_ring(&store, t0()).unwrap();
        let issuer = Issuer::new(ring, ISS, AUD);
        let client =
            ClientRecord::new("ci", "0123456789abcdef", tiers.free(), scan_only(), t0()).unwrap();
        store.put_client(&client).unwrap();
        let other = ClientRecord::new(
            "admin",
            "fedcba9876543210",
            tiers.get("Team").unwrap(),
            Scope::all(),
            t0(),
        )
        .unwrap();
        store.put_client(&other).unwrap();
        let token = issuer
            .issue("ci", tiers.free(), &scan_only(), TokenKind::Access, t0())
            .unwrap()
            .token;
        (issuer.active_kid(), token, client)
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the file holds private keys");
    }
    let store = SqliteIdentityStore::open(&path).unwrap();
    let ring = load_key_ring(&store, t0() + Duration::hours(1)).unwrap();
    assert_eq!(ring.active_kid(), kid, "the same key, not a new one");
    let issuer = Issuer::new(ring, ISS, AUD);
    assert_eq!(
        issuer
            .verify(&token, t0() + Duration::hours(1))
            .unwrap()
            .subject,
        "ci"
    );

    assert_eq!(store.get_client("ci").unwrap(), Some(client.clone()));
    assert!(
        store
            .get_client("ci")
            .unwrap()
            .unwrap()
            .verify_secret("0123456789abcdef")
    );
    let ids: Vec<String> = store
        .list_clients()
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(ids, vec!["admin", "ci"]);
    assert!(store.delete_client("admin").unwrap());
    assert!(!store.delete_client("admin").unwrap());
    assert_eq!(store.get_client("admin").unwrap(), None);
    // put replaces.
    let mut moved = client;
    moved.tier = "Team".into();
    store.put_client(&moved).unwrap();
    assert_eq!(store.get_client("ci").unwrap().unwrap().tier, "Team");
}

/// A structurally valid token for `issuer`, for mutation by the property tests.
fn sample_token() -> (Issuer, String, Jwks) {
    let issuer = issuer();
    let t = issuer
        .issue(
            "p",
            Tiers::new().free(),
            &scan_only(),
            TokenKind::Access,
            t0(),
        )
        .unwrap();
    let jwks = issuer.jwks();
    (issuer, t.token, jwks)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_strings_are_rejected(s in "\\PC{0,300}") {
        let (issuer, _, jwks) = sample_token();
        prop_assert!(issuer.verify(&s, t0()).is_err());
        prop_assert!(verify_with_jwks(&s, &jwks, ISS, AUD, t0()).is_err());
    }

    #[test]
    fn jwt_shaped_strings_are_rejected(
        h in "[A-Za-z0-9_-]{0,80}", p in "[A-Za-z0-9_-]{0,200}", s in "[A-Za-z0-9_-]{0,100}",
    ) {
        let (issuer, _, jwks) = sample_token();
        let token = format!("{h}.{p}.{s}");
        prop_assert!(issuer.verify(&token, t0()).is_err());
        prop_assert!(verify_with_jwks(&token, &jwks, ISS, AUD, t0()).is_err());
    }

    #[test]
    fn any_changed_character_is_rejected(pos in any::<prop::sample::Index>(), c in "[A-Za-z0-9_.=+/-]") {
        let (issuer, token, jwks) = sample_token();
        let mut bytes = token.clone().into_bytes();
        let i = pos.index(bytes.len());
        let c = c.as_bytes()[0];
        prop_assume!(bytes[i] != c);
        bytes[i] = c;
        let forged = String::from_utf8(bytes).unwrap();
        let a = issuer.verify(&forged, t0());
        let b = verify_with_jwks(&forged, &jwks, ISS, AUD, t0());
        // The last base64 character carries spare bits: changing only those leaves the
        // same signature bytes, which is the one change that may still verify.
        if a.is_ok() || b.is_ok() {
            let sig = |t: &str| URL_SAFE_NO_PAD.decode(t.rsplit('.').next().unwrap()).ok();
            prop_assert_eq!(i, token.len() - 1);
            prop_assert_eq!(sig(&forged), sig(&token));
        }
    }
}
