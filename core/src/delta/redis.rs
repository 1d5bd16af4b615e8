//! The Redis layer store: the set `{prefix}layers` holds the digests of stored
//! fragments, each fragment's bytes are at `{prefix}layer:{digest}`.
//!
//! `missing` is one round trip: a MULTI of SADD to a unique temporary key, SDIFF of
//! it against the set, DEL of it. `put` writes the bytes and then adds the digest in
//! one MULTI, so a digest is never in the set without its fragment.

use async_trait::async_trait;
use redis::aio::ConnectionManager;

use super::{
    LayerStore, LayerStoreError, absent_in_order, manifest::validate_digest, validate_all,
};

/// Layer fragments in Redis.
#[derive(Clone)]
pub struct RedisLayerStore {
    conn: ConnectionManager,
    prefix: String,
}

impl std::fmt::Debug for RedisLayerStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLayerStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn redis_err(e: redis::RedisError) -> LayerStoreError {
    LayerStoreError::Redis(e.to_string())
}

impl RedisLayerStore {
    /// A store whose keys start with `prefix` (e.g. `"stella:"`).
    pub fn new(conn: ConnectionManager, prefix: impl Into<String>) -> Self {
        Self {
            conn,
            prefix: prefix.into(),
        }
    }

    fn set_key(&self) -> String {
        format!("{}layers", self.prefix)
    }

    fn fragment_key(&self, digest: &str) -> String {
        format!("{}layer:{digest}", self.prefix)
    }
}

#[async_trait]
impl LayerStore for RedisLayerStore {
    async fn missing(&self, digests: &[String]) -> Result<Vec<String>, LayerStoreError> {
        validate_all(digests)?;
        if digests.is_empty() {
            return Ok(Vec::new());
        }
        // Unique per call, so concurrent requests never share the temporary set.
        let tmp = format!("{}layers:query:{}", self.prefix, uuid::Uuid::new_v4());
        let mut conn = self.conn.clone();
        let (absent,): (Vec<String>,) = redis::pipe()
            .atomic()
            .cmd("SADD")
            .arg(&tmp)
            .arg(digests)
            .ignore()
            .cmd("SDIFF")
            .arg(&tmp)
            .arg(self.set_key())
            .cmd("DEL")
            .arg(&tmp)
            .ignore()
            .query_async(&mut conn)
            .await
            .map_err(redis_err)?;
        // SDIFF answers in no particular order: give the request's.
        let absent: std::collections::HashSet<String> = absent.into_iter().collect();
        Ok(absent_in_order(digests, |d| !absent.contains(d)))
    }

    async fn put(&self, digest: &str, fragment: Vec<u8>) -> Result<(), LayerStoreError> {
        validate_digest(digest)?;
        let mut conn = self.conn.clone();
        let () = redis::pipe()
            .atomic()
            .cmd("SET")
            .arg(self.fragment_key(digest))
            .arg(fragment)
            .ignore()
            .cmd("SADD")
            .arg(self.set_key())
            .arg(digest)
            .ignore()
            .query_async(&mut conn)
            .await
            .map_err(redis_err)?;
        Ok(())
    }

    async fn get(&self, digest: &str) -> Result<Option<Vec<u8>>, LayerStoreError> {
        validate_digest(digest)?;
        let mut conn = self.conn.clone();
        redis::cmd("GET")
            .arg(self.fragment_key(digest))
            .query_async(&mut conn)
            .await
            .map_err(redis_err)
    }

    async fn get_many(&self, digests: &[String]) -> Result<Vec<Option<Vec<u8>>>, LayerStoreError> {
        validate_all(digests)?;
        if digests.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = digests.iter().map(|d| self.fragment_key(d)).collect();
        let mut conn = self.conn.clone();
        redis::cmd("MGET")
            .arg(keys)
            .query_async(&mut conn)
            .await
            .map_err(redis_err)
    }

    async fn count(&self) -> Result<u64, LayerStoreError> {
        let mut conn = self.conn.clone();
        redis::cmd("SCARD")
            .arg(self.set_key())
            .query_async(&mut conn)
            .await
            .map_err(redis_err)
    }
}
