//! `RedisLayerStore::missing` with 20 digests against a local redis-server holding
//! 10 000 stored layers: p50/p99 over 10 000 sequential calls, printed (one round
//! trip each: MULTI SADD/SDIFF/DEL). Plain timing rather than criterion: the figure
//! wanted is a latency distribution. Needs `redis-server` on the PATH (or
//! `STELLA_TEST_REDIS_URL`).

#[path = "../tests/it/redis_server.rs"]
mod redis_server;

use std::time::{Duration, Instant};

use stella_core::delta::LayerStore;
use stella_core::delta::redis::RedisLayerStore;

const STORED: u32 = 10_000;
const CALLS: usize = 10_000;
const ASKED: u32 = 20;

fn digest(n: u32) -> String {
    format!("sha256:{n:064x}")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    let server = redis_server::RedisServer::start();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let conn = redis::Client::open(server.url.as_str())
            .expect("client")
            .get_connection_manager()
            .await
            .expect("connection");
        let store = RedisLayerStore::new(conn, "stella:");
        for n in 0..STORED {
            store.put(&digest(n), vec![0u8; 64]).await.expect("put");
        }
        let mut times = Vec::with_capacity(CALLS);
        for call in 0..CALLS {
            // Half stored, half not, different each call.
            let base = (call as u32 * 7) % STORED;
            let asked: Vec<String> = (0..ASKED)
                .map(|i| {
                    if i % 2 == 0 {
                        digest((base + i) % STORED)
                    } else {
                        digest(STORED + base + i)
                    }
                })
                .collect();
            let start = Instant::now();
            let missing = store.missing(&asked).await.expect("missing");
            times.push(start.elapsed());
            assert_eq!(missing.len(), (ASKED / 2) as usize);
        }
        times.sort_unstable();
        println!(
            "RedisLayerStore::missing ({ASKED} digests, {STORED} stored, {CALLS} calls): \
             p50 {:?}, p99 {:?}, max {:?}",
            percentile(&times, 0.50),
            percentile(&times, 0.99),
            times.last().copied().unwrap_or_default()
        );
    });
}
