//! One suite for every `LayerStore` backend (SQLite, and Redis on a real
//! redis-server), so both are shown to answer alike.

use crate::redis_server;

use std::sync::Arc;

use stella_core::delta::redis::RedisLayerStore;
use stella_core::delta::sqlite::SqliteLayerStore;
use stella_core::delta::{LayerStore, LayerStoreError};

/// A valid digest made from a number.
fn d(n: u32) -> String {
    format!("sha256:{n:064x}")
}

async fn missing_on_an_empty_store_is_every_digest(store: Arc<dyn LayerStore>) {
    assert_eq!(store.missing(&[]).await.unwrap(), Vec::<String>::new());
    let asked = vec![d(3), d(1), d(2)];
    assert_eq!(store.missing(&asked).await.unwrap(), asked);
    assert_eq!(store.count().await.unwrap(), 0);
    assert_eq!(store.get(&d(1)).await.unwrap(), None);
}

async fn put_makes_a_digest_known(store: Arc<dyn LayerStore>) {
    store.put(&d(2), b"two".to_vec()).await.unwrap();
    assert_eq!(
        store.missing(&[d(1), d(2), d(3)]).await.unwrap(),
        vec![d(1), d(3)]
    );
    assert_eq!(store.missing(&[d(2)]).await.unwrap(), Vec::<String>::new());
    assert_eq!(store.get(&d(2)).await.unwrap(), Some(b"two".to_vec()));
    // A second put replaces the fragment and counts once.
    store.put(&d(2), b"two again".to_vec()).await.unwrap();
    assert_eq!(store.get(&d(2)).await.unwrap(), Some(b"two again".to_vec()));
    assert_eq!(store.count().await.unwrap(), 1);
}

async fn missing_keeps_request_order_without_repeats(store: Arc<dyn LayerStore>) {
    store.put(&d(5), vec![5]).await.unwrap();
    let asked = vec![d(9), d(5), d(7), d(9), d(1), d(7), d(5), d(8)];
    assert_eq!(
        store.missing(&asked).await.unwrap(),
        vec![d(9), d(7), d(1), d(8)]
    );
    // Repeats of a stored digest alone: nothing missing.
    assert!(store.missing(&[d(5), d(5)]).await.unwrap().is_empty());
}

async fn get_many_and_count(store: Arc<dyn LayerStore>) {
    // Binary fragments round-trip byte for byte.
    let bytes: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    store.put(&d(1), bytes.clone()).await.unwrap();
    store.put(&d(3), Vec::new()).await.unwrap();
    assert_eq!(store.count().await.unwrap(), 2);
    assert_eq!(
        store.get_many(&[d(3), d(2), d(1), d(3)]).await.unwrap(),
        vec![Some(Vec::new()), None, Some(bytes), Some(Vec::new())]
    );
    assert!(store.get_many(&[]).await.unwrap().is_empty());
}

async fn invalid_digests_are_refused(store: Arc<dyn LayerStore>) {
    for bad in [
        "sha256:abc",
        "sha512:0000",
        &format!("sha256:{}", "A".repeat(64)),
        "",
    ] {
        assert!(matches!(
            store.put(bad, vec![1]).await,
            Err(LayerStoreError::Digest(_))
        ));
        assert!(matches!(
            store.missing(&[d(1), bad.to_string()]).await,
            Err(LayerStoreError::Digest(_))
        ));
        assert!(matches!(
            store.get(bad).await,
            Err(LayerStoreError::Digest(_))
        ));
    }
    assert_eq!(store.count().await.unwrap(), 0);
}

async fn concurrent_puts_and_queries(store: Arc<dyn LayerStore>) {
    let mut tasks = Vec::new();
    for n in 0..64u32 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            // Every task also writes one shared digest: it must count once.
            store.put(&d(1000), vec![0]).await.unwrap();
            store.put(&d(n), n.to_le_bytes().to_vec()).await.unwrap();
            // A digest just put is never reported missing afterwards.
            let missing = store.missing(&[d(n), d(1000), d(5000 + n)]).await.unwrap();
            assert_eq!(missing, vec![d(5000 + n)]);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(store.count().await.unwrap(), 65);
    for n in 0..64u32 {
        assert_eq!(
            store.get(&d(n)).await.unwrap(),
            Some(n.to_le_bytes().to_vec())
        );
    }
    let all: Vec<String> = (0..70).map(d).collect();
    assert_eq!(
        store.missing(&all).await.unwrap(),
        (64..70).map(d).collect::<Vec<_>>()
    );
}

/// Runs one behaviour on a fresh store of each backend.
macro_rules! suite {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $name() {
                    super::$name(Arc::new(SqliteLayerStore::open_in_memory().unwrap())).await;
                }
            )*
        }
        mod sqlite_file {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $name() {
                    let dir = tempfile::tempdir().unwrap();
                    let path = dir.path().join("layers.db");
                    super::$name(Arc::new(SqliteLayerStore::open(&path).unwrap())).await;
                }
            )*
        }
        mod redis {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $name() {
                    let server = redis_server::RedisServer::start();
                    let conn = ::redis::Client::open(server.url.as_str())
                        .unwrap()
                        .get_connection_manager()
                        .await
                        .unwrap();
                    super::$name(Arc::new(RedisLayerStore::new(conn, "stella:"))).await;
                }
            )*
        }
    };
}

suite!(
    missing_on_an_empty_store_is_every_digest,
    put_makes_a_digest_known,
    missing_keeps_request_order_without_repeats,
    get_many_and_count,
    invalid_digests_are_refused,
    concurrent_puts_and_queries,
);

/// Two prefixes on one Redis server are two stores; `missing` leaves no temporary key.
#[tokio::test(flavor = "multi_thread")]
async fn redis_prefixes_are_separate_and_missing_leaves_no_keys() {
    let server = redis_server::RedisServer::start();
    let client = ::redis::Client::open(server.url.as_str()).unwrap();
    let a = RedisLayerStore::new(client.get_connection_manager().await.unwrap(), "a:");
    let b = RedisLayerStore::new(client.get_connection_manager().await.unwrap(), "b:");
    a.put(&d(1), vec![1]).await.unwrap();
    assert!(a.missing(&[d(1)]).await.unwrap().is_empty());
    assert_eq!(b.missing(&[d(1)]).await.unwrap(), vec![d(1)]);
    assert_eq!(b.count().await.unwrap(), 0);
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let mut keys: Vec<String> = ::redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut conn)
        .await
        .unwrap();
    keys.sort();
    assert_eq!(
        keys,
        vec!["a:layer:".to_string() + &d(1), "a:layers".to_string()]
    );
}

/// A SQLite store file keeps its fragments across reopening.
#[tokio::test(flavor = "multi_thread")]
async fn sqlite_store_persists() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("layers.db");
    {
        let store = SqliteLayerStore::open(&path).unwrap();
        store.put(&d(7), b"seven".to_vec()).await.unwrap();
    }
    let store = SqliteLayerStore::open(&path).unwrap();
    assert_eq!(store.get(&d(7)).await.unwrap(), Some(b"seven".to_vec()));
    assert_eq!(store.missing(&[d(7), d(8)]).await.unwrap(), vec![d(8)]);
}
