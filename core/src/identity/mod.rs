//! Identity: OAuth2 clients, EdDSA-signed JWTs (online 12 h, offline 30 d) with
//! tier, daily scan limit and scopes, rotating signing keys and their JWKS.
