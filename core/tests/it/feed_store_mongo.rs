//! The feed store suite on the MongoDB backend. Its tests are ignored by default: they
//! need `STELLA_TEST_MONGO_URL` naming a server that allows transactions (a replica set,
//! e.g. a single node started with `mongod --replSet rs0` and `rs.initiate()`) and run
//! with `cargo test -p stella-core --test it feed_store_mongo -- --ignored`; run so without
//! the URL, they fail. Each test uses its own database, dropped afterwards.

use crate::feed_store::Backend;
use mongodb::bson::doc;
use stella_core::feedser::store::mongo::MongoFeedStore;

const ENV: &str = "STELLA_TEST_MONGO_URL";

/// One test's database on the server.
#[derive(Debug)]
struct Mongo {
    url: String,
    database: String,
}

impl Mongo {
    fn drop_database(&self) {
        let client = mongodb::sync::Client::with_uri_str(&self.url).expect("client");
        client
            .database(&self.database)
            .drop()
            .run()
            .unwrap_or_else(|e| panic!("dropping {}: {e}", self.database));
    }
}

impl Drop for Mongo {
    fn drop(&mut self) {
        if let Ok(client) = mongodb::sync::Client::with_uri_str(&self.url) {
            let _ = client.database(&self.database).drop().run();
        }
    }
}

impl Backend for Mongo {
    type Store = MongoFeedStore;

    fn fresh(&mut self) -> MongoFeedStore {
        self.drop_database();
        MongoFeedStore::connect(&self.url, &self.database).unwrap_or_else(|e| panic!("{e}"))
    }

    fn reopen(&mut self) -> MongoFeedStore {
        MongoFeedStore::connect(&self.url, &self.database).unwrap_or_else(|e| panic!("{e}"))
    }

    fn refuse_event(&mut self, canonical_id: &str) {
        // A validator makes the server reject the event insert inside the transaction.
        let client = mongodb::sync::Client::with_uri_str(&self.url).expect("client");
        client
            .database(&self.database)
            .run_command(doc! {
                "collMod": "merge_events",
                "validator": { "canonical_id": { "$ne": canonical_id } },
                "validationAction": "error",
            })
            .run()
            .unwrap_or_else(|e| panic!("validator: {e}"));
    }
}

fn make(test: &str) -> Mongo {
    let url = std::env::var(ENV)
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| {
            panic!(
                "{ENV} is not set: these tests need a MongoDB server that allows transactions \
                 (a replica set, e.g. mongodb://localhost:27017/?replicaSet=rs0)"
            )
        });
    Mongo {
        url,
        database: format!("stella_test_{}_{test}", std::process::id()),
    }
}

suite_tests!(
    make,
    #[ignore = "needs a MongoDB server: set STELLA_TEST_MONGO_URL and run with --ignored"]
);

/// Without a server: an unreachable one is a `Mongo` error naming the database, soon.
#[test]
fn unreachable_server_is_a_clear_error() {
    let url = "mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=300&connectTimeoutMS=300";
    match MongoFeedStore::connect(url, "stella_unreachable") {
        Err(stella_core::feedser::store::FeedStoreError::Mongo { database, reason }) => {
            assert_eq!(database, "stella_unreachable");
            assert!(reason.contains("layout version"), "{reason}");
        }
        other => panic!("expected a Mongo error, got {other:?}"),
    }
}

/// `mongodb+srv://` needs the DNS resolver this build leaves out: refused, hiding the password.
#[test]
fn srv_urls_are_refused_without_leaking_the_password() {
    match MongoFeedStore::connect("mongodb+srv://user:s3cret@cluster.invalid/", "db") {
        Err(stella_core::feedser::store::FeedStoreError::Mongo { reason, .. }) => {
            assert!(
                reason.starts_with("connecting to mongodb+srv://…@cluster.invalid/"),
                "{reason}"
            );
            assert!(!reason.contains("s3cret"), "{reason}");
        }
        other => panic!("expected a Mongo error, got {other:?}"),
    }
}
