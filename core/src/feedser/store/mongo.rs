//! The MongoDB feed store, for deployments that share one store between several
//! Feedser instances. Collections mirror the SQLite tables; records, advisories, events
//! and cursors are kept as JSON text (exact round trip, no BSON number conversions)
//! beside the fields that reads sort or filter on.
//!
//! [`FeedStore::commit`] runs in one multi-document transaction, which MongoDB allows only
//! on a replica set or a sharded cluster (a single-node replica set is enough:
//! `mongod --replSet rs0` then `rs.initiate()`); a standalone server's refusal is reported
//! as such. A transaction must finish within the server's `transactionLifetimeLimitSeconds`
//! (60 s by default). The driver is used through its blocking `sync` API, with rustls and
//! without a DNS resolver, so `mongodb+srv://` URLs are refused: use `mongodb://host,...`.

use mongodb::IndexModel;
use mongodb::bson::{Bson, Document, doc};
use mongodb::error::ErrorKind;
use mongodb::options::{IndexOptions, ReturnDocument};
use mongodb::sync::{Client, ClientSession, Collection, Database};

use super::{
    Changeset, FeedChange, FeedCounts, FeedState, FeedStore, FeedStoreError, MergeChange,
    StoredMergeEvent, StoredRecord, validate,
};
use crate::advisory::canonical::CanonicalAdvisory;
use crate::feedser::{Skipped, Source, SourceRecord};

/// The newest layout version this build knows (kept in `store_info`).
pub const SCHEMA_VERSION: i64 = 1;

/// `$in` lists are sent in chunks of this many names, well under the 16 MiB command limit.
const IN_CHUNK: usize = 1000;

/// A feed store in one MongoDB database.
#[derive(Debug)]
pub struct MongoFeedStore {
    client: Client,
    db: Database,
    name: String,
}

fn is_transaction_refusal(err: &mongodb::error::Error) -> bool {
    match &*err.kind {
        // IllegalOperation: "Transaction numbers are only allowed on a replica set member
        // or mongos".
        ErrorKind::Command(c) => c.code == 20 && c.message.contains("Transaction numbers"),
        // The driver's own check of the topology.
        ErrorKind::Transaction { message, .. } => message.contains("not supported"),
        ErrorKind::SessionsNotSupported => true,
        _ => false,
    }
}

/// The driver's message, with the way out when the server cannot run transactions.
fn describe(e: &mongodb::error::Error) -> String {
    if is_transaction_refusal(e) {
        format!(
            "the server refused a transaction ({e}); the feed store needs a replica set or a \
             sharded cluster (for one node: start mongod with --replSet rs0, then rs.initiate())"
        )
    } else {
        e.to_string()
    }
}

impl MongoFeedStore {
    /// Connects to `url` (`mongodb://…`) and uses `database`, creating its indexes and
    /// checking its layout version.
    pub fn connect(url: &str, database: &str) -> Result<MongoFeedStore, FeedStoreError> {
        let err = |e: mongodb::error::Error| FeedStoreError::Mongo {
            database: database.to_owned(),
            reason: format!("connecting to {}: {e}", redact(url)),
        };
        let client = Client::with_uri_str(url).map_err(err)?;
        let db = client.database(database);
        let store = MongoFeedStore {
            client,
            db,
            name: database.to_owned(),
        };
        store.check_version()?;
        store.create_indexes()?;
        Ok(store)
    }

    /// The database name.
    pub fn database(&self) -> &str {
        &self.name
    }

    fn err(&self, doing: &str) -> impl Fn(mongodb::error::Error) -> FeedStoreError + '_ {
        let doing = doing.to_owned();
        move |e| FeedStoreError::Mongo {
            database: self.name.clone(),
            reason: format!("{doing}: {}", describe(&e)),
        }
    }

    fn corrupt(&self, what: String, reason: impl ToString) -> FeedStoreError {
        FeedStoreError::Corrupt {
            store: format!("MongoDB {}", self.name),
            what,
            reason: reason.to_string(),
        }
    }

    fn coll(&self, name: &str) -> Collection<Document> {
        self.db.collection(name)
    }

    fn check_version(&self) -> Result<(), FeedStoreError> {
        let info = self.coll("store_info");
        // Upsert, so two processes opening a new database at once agree.
        info.update_one(
            doc! { "_id": "schema" },
            doc! { "$setOnInsert": { "version": SCHEMA_VERSION } },
        )
        .upsert(true)
        .run()
        .map_err(self.err("writing the layout version"))?;
        let found = info
            .find_one(doc! { "_id": "schema" })
            .run()
            .map_err(self.err("reading the layout version"))?;
        match found.as_ref().and_then(|d| int(d, "version")) {
            Some(v) if v <= SCHEMA_VERSION => Ok(()),
            Some(v) => Err(FeedStoreError::SchemaTooNew {
                store: format!("MongoDB {}", self.name),
                found: v,
                known: SCHEMA_VERSION,
            }),
            None => Err(self.corrupt("store_info schema".into(), "no integer version")),
        }
    }

    fn create_indexes(&self) -> Result<(), FeedStoreError> {
        let unique = || IndexOptions::builder().unique(true).build();
        for (coll, keys, is_unique) in [
            ("records", doc! { "feed": 1, "document": 1, "pos": 1 }, true),
            ("skipped", doc! { "feed": 1, "document": 1, "pos": 1 }, true),
            ("documents", doc! { "feed": 1, "document": 1 }, true),
            ("records", doc! { "feed": 1, "modified": -1 }, false),
            ("advisories", doc! { "ids": 1 }, false),
        ] {
            let model = if is_unique {
                IndexModel::builder().keys(keys).options(unique()).build()
            } else {
                IndexModel::builder().keys(keys).build()
            };
            self.coll(coll)
                .create_index(model)
                .run()
                .map_err(self.err(&format!("creating an index on {coll}")))?;
        }
        Ok(())
    }

    /// Runs `body` in a transaction on a new session, committing when it succeeds.
    fn in_transaction(
        &self,
        body: impl FnOnce(&mut ClientSession) -> Result<(), FeedStoreError>,
    ) -> Result<(), FeedStoreError> {
        let refused = |e: mongodb::error::Error| FeedStoreError::Mongo {
            database: self.name.clone(),
            reason: format!("transaction: {}", describe(&e)),
        };
        let mut session = self.client.start_session().run().map_err(&refused)?;
        session.start_transaction().run().map_err(&refused)?;
        match body(&mut session) {
            Ok(()) => session.commit_transaction().run().map_err(&refused),
            Err(e) => {
                // Dropping the session would abort too; aborting now frees the locks at
                // once. The body's error is the one worth reporting.
                let _ = session.abort_transaction().run();
                Err(e)
            }
        }
    }

    fn write_feed(&self, s: &mut ClientSession, change: &FeedChange) -> Result<(), FeedStoreError> {
        let feed = change.feed.as_str();
        let replaced: Vec<&str> = change
            .documents
            .iter()
            .map(|d| d.document.as_str())
            .collect();
        let removed: Vec<&str> = change
            .removed_documents
            .iter()
            .map(String::as_str)
            .collect();
        for names in [&replaced, &removed] {
            for chunk in names.chunks(IN_CHUNK) {
                let filter = doc! { "feed": feed, "document": { "$in": chunk.to_vec() } };
                for coll in ["records", "skipped", "documents"] {
                    self.coll(coll)
                        .delete_many(filter.clone())
                        .session(&mut *s)
                        .run()
                        .map_err(self.err(&format!("deleting from {coll}")))?;
                }
            }
        }
        let mut documents = Vec::with_capacity(change.documents.len());
        let mut records = Vec::new();
        let mut skipped = Vec::new();
        for d in &change.documents {
            documents.push(doc! { "feed": feed, "document": &d.document });
            for (pos, stored) in d.records.iter().enumerate() {
                let r = &stored.record;
                let json = serde_json::to_string(&r.record).map_err(|e| {
                    self.corrupt(
                        format!("record {}", r.record.id),
                        format!("cannot be written: {e}"),
                    )
                })?;
                records.push(doc! {
                    "feed": feed,
                    "document": &d.document,
                    "pos": pos as i64,
                    "source": r.source.name(),
                    "record_id": &r.record.id,
                    "location": &r.location,
                    "fetch_id": &stored.fetch_id,
                    "modified": &r.record.modified,
                    "json": json,
                });
            }
            for (pos, sk) in d.skipped.iter().enumerate() {
                skipped.push(doc! {
                    "feed": feed,
                    "document": &d.document,
                    "pos": pos as i64,
                    "location": &sk.location,
                    "reason": &sk.reason,
                });
            }
        }
        for (coll, docs) in [
            ("documents", documents),
            ("records", records),
            ("skipped", skipped),
        ] {
            if !docs.is_empty() {
                self.coll(coll)
                    .insert_many(docs)
                    .session(&mut *s)
                    .run()
                    .map_err(self.err(&format!("inserting into {coll}")))?;
            }
        }
        if let Some(f) = &change.fetch {
            self.coll("fetches")
                .replace_one(
                    doc! { "_id": &f.id },
                    doc! { "_id": &f.id, "feed": feed, "started": &f.started, "finished": &f.finished },
                )
                .upsert(true)
                .session(&mut *s)
                .run()
                .map_err(self.err("writing the fetch"))?;
        }
        let st = &change.state;
        let cursor =
            serde_json::to_string(&st.cursor).map_err(|e| FeedStoreError::InvalidChange {
                reason: e.to_string(),
            })?;
        self.coll("feed_states")
            .replace_one(
                doc! { "_id": feed },
                doc! {
                    "_id": feed,
                    "source": &st.source,
                    "cursor": cursor,
                    "last_attempt": opt(&st.last_attempt),
                    "last_success": opt(&st.last_success),
                    "last_error": opt(&st.last_error),
                    "last_fetch": opt(&st.last_fetch),
                },
            )
            .upsert(true)
            .session(&mut *s)
            .run()
            .map_err(self.err("writing the feed state"))?;
        Ok(())
    }

    fn write_merge(
        &self,
        s: &mut ClientSession,
        merge: &MergeChange,
        at: &str,
    ) -> Result<(), FeedStoreError> {
        let advisories = self.coll("advisories");
        for chunk in merge.retracted.chunks(IN_CHUNK) {
            advisories
                .delete_many(doc! { "_id": { "$in": chunk.to_vec() } })
                .session(&mut *s)
                .run()
                .map_err(self.err("retracting advisories"))?;
        }
        for a in &merge.upserts {
            let json = serde_json::to_string(a).map_err(|e| FeedStoreError::InvalidChange {
                reason: e.to_string(),
            })?;
            let mut ids = Vec::with_capacity(a.aliases.len() + 1);
            ids.push(a.id.clone());
            ids.extend(a.aliases.iter().cloned());
            advisories
                .replace_one(
                    doc! { "_id": &a.id },
                    doc! { "_id": &a.id, "ids": ids, "json": json },
                )
                .upsert(true)
                .session(&mut *s)
                .run()
                .map_err(self.err("writing an advisory"))?;
        }
        if merge.events.is_empty() {
            return Ok(());
        }
        // The counter moves in the same transaction, so a rolled-back commit leaves no gap
        // and two writers cannot take the same numbers (the second gets a write conflict).
        let n = merge.events.len() as i64;
        let counter = self
            .coll("counters")
            .find_one_and_update(
                doc! { "_id": "merge_events" },
                doc! { "$inc": { "seq": n } },
            )
            .upsert(true)
            .return_document(ReturnDocument::After)
            .session(&mut *s)
            .run()
            .map_err(self.err("numbering merge events"))?;
        let last = match counter.as_ref().and_then(|d| d.get("seq")) {
            Some(Bson::Int64(v)) => *v,
            Some(Bson::Int32(v)) => i64::from(*v),
            _ => return Err(self.corrupt("counter merge_events".into(), "no integer seq")),
        };
        let mut docs = Vec::with_capacity(merge.events.len());
        for (i, ev) in merge.events.iter().enumerate() {
            let json = serde_json::to_string(ev).map_err(|e| FeedStoreError::InvalidChange {
                reason: e.to_string(),
            })?;
            docs.push(doc! {
                "_id": last - n + 1 + i as i64,
                "at": at,
                "canonical_id": &ev.canonical_id,
                "json": json,
            });
        }
        self.coll("merge_events")
            .insert_many(docs)
            .session(&mut *s)
            .run()
            .map_err(self.err("appending merge events"))?;
        Ok(())
    }

    fn states(&self, filter: Document) -> Result<Vec<FeedState>, FeedStoreError> {
        let cursor = self
            .coll("feed_states")
            .find(filter)
            .sort(doc! { "_id": 1 })
            .run()
            .map_err(self.err("reading feed states"))?;
        let mut out = Vec::new();
        for d in cursor {
            let d = d.map_err(self.err("reading feed states"))?;
            let feed = text(&d, "_id").unwrap_or_default();
            let what = || format!("feed state {feed}");
            let cursor_json =
                text(&d, "cursor").ok_or_else(|| self.corrupt(what(), "no cursor"))?;
            out.push(FeedState {
                source: text(&d, "source").ok_or_else(|| self.corrupt(what(), "no source"))?,
                cursor: serde_json::from_str(&cursor_json).map_err(|e| self.corrupt(what(), e))?,
                last_attempt: text(&d, "last_attempt"),
                last_success: text(&d, "last_success"),
                last_error: text(&d, "last_error"),
                last_fetch: text(&d, "last_fetch"),
                feed,
            });
        }
        Ok(out)
    }

    fn count(&self, coll: &str, feed: &str) -> Result<u64, FeedStoreError> {
        self.coll(coll)
            .count_documents(doc! { "feed": feed })
            .run()
            .map_err(self.err(&format!("counting {coll}")))
    }
}

fn opt(v: &Option<String>) -> Bson {
    v.as_ref().map_or(Bson::Null, |s| Bson::String(s.clone()))
}

fn text(d: &Document, key: &str) -> Option<String> {
    match d.get(key) {
        Some(Bson::String(s)) => Some(s.clone()),
        _ => None,
    }
}

fn int(d: &Document, key: &str) -> Option<i64> {
    match d.get(key) {
        Some(Bson::Int64(v)) => Some(*v),
        Some(Bson::Int32(v)) => Some(i64::from(*v)),
        _ => None,
    }
}

/// `url` without its password, for error messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://…@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

impl FeedStore for MongoFeedStore {
    fn records(&self) -> Result<Vec<StoredRecord>, FeedStoreError> {
        let cursor = self
            .coll("records")
            .find(doc! {})
            .sort(doc! { "feed": 1, "document": 1, "pos": 1 })
            .run()
            .map_err(self.err("reading records"))?;
        let mut out = Vec::new();
        for d in cursor {
            let d = d.map_err(self.err("reading records"))?;
            let feed = text(&d, "feed").unwrap_or_default();
            let document = text(&d, "document").unwrap_or_default();
            let pos = int(&d, "pos").unwrap_or(-1);
            let what = || format!("record {feed}/{document}#{pos}");
            let source_name = text(&d, "source").unwrap_or_default();
            let source = Source::from_name(&source_name)
                .ok_or_else(|| self.corrupt(what(), format!("unknown source `{source_name}`")))?;
            let json = text(&d, "json").ok_or_else(|| self.corrupt(what(), "no json"))?;
            let record = serde_json::from_str(&json).map_err(|e| self.corrupt(what(), e))?;
            out.push(StoredRecord {
                fetch_id: text(&d, "fetch_id")
                    .ok_or_else(|| self.corrupt(what(), "no fetch_id"))?,
                record: SourceRecord {
                    source,
                    location: text(&d, "location")
                        .ok_or_else(|| self.corrupt(what(), "no location"))?,
                    document,
                    record,
                },
                feed,
            });
        }
        Ok(out)
    }

    fn skipped(&self, feed: &str) -> Result<Vec<Skipped>, FeedStoreError> {
        let cursor = self
            .coll("skipped")
            .find(doc! { "feed": feed })
            .sort(doc! { "document": 1, "pos": 1 })
            .run()
            .map_err(self.err("reading skipped entries"))?;
        let mut out = Vec::new();
        for d in cursor {
            let d = d.map_err(self.err("reading skipped entries"))?;
            let document = text(&d, "document").unwrap_or_default();
            let what = || format!("skipped {feed}/{document}#{}", int(&d, "pos").unwrap_or(-1));
            out.push(Skipped {
                location: text(&d, "location")
                    .ok_or_else(|| self.corrupt(what(), "no location"))?,
                reason: text(&d, "reason").ok_or_else(|| self.corrupt(what(), "no reason"))?,
                document,
            });
        }
        Ok(out)
    }

    fn advisories(&self) -> Result<Vec<CanonicalAdvisory>, FeedStoreError> {
        let cursor = self
            .coll("advisories")
            .find(doc! {})
            .sort(doc! { "_id": 1 })
            .run()
            .map_err(self.err("reading advisories"))?;
        let mut out = Vec::new();
        for d in cursor {
            let d = d.map_err(self.err("reading advisories"))?;
            out.push(self.advisory_of(&d)?);
        }
        Ok(out)
    }

    fn advisory(&self, id: &str) -> Result<Option<CanonicalAdvisory>, FeedStoreError> {
        let coll = self.coll("advisories");
        // Its own id first; otherwise the first advisory naming `id` as an alias.
        let mut found = coll
            .find_one(doc! { "_id": id })
            .run()
            .map_err(self.err("reading an advisory"))?;
        if found.is_none() {
            found = coll
                .find_one(doc! { "ids": id })
                .sort(doc! { "_id": 1 })
                .run()
                .map_err(self.err("reading an advisory"))?;
        }
        found.map(|d| self.advisory_of(&d)).transpose()
    }

    fn feed_states(&self) -> Result<Vec<FeedState>, FeedStoreError> {
        self.states(doc! {})
    }

    fn feed_state(&self, feed: &str) -> Result<Option<FeedState>, FeedStoreError> {
        Ok(self.states(doc! { "_id": feed })?.into_iter().next())
    }

    fn feed_counts(&self, feed: &str) -> Result<FeedCounts, FeedStoreError> {
        let newest = self
            .coll("records")
            .find_one(doc! { "feed": feed, "modified": { "$ne": "" } })
            .sort(doc! { "modified": -1 })
            .run()
            .map_err(self.err("reading the newest record"))?;
        Ok(FeedCounts {
            documents: self.count("documents", feed)?,
            records: self.count("records", feed)?,
            skipped: self.count("skipped", feed)?,
            newest_modified: newest.and_then(|d| text(&d, "modified")),
        })
    }

    fn merge_events(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<StoredMergeEvent>, FeedStoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let cursor = self
            .coll("merge_events")
            .find(doc! { "_id": { "$gt": after } })
            .sort(doc! { "_id": 1 })
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .run()
            .map_err(self.err("reading merge events"))?;
        let mut out = Vec::new();
        for d in cursor {
            let d = d.map_err(self.err("reading merge events"))?;
            let seq = int(&d, "_id").unwrap_or(-1);
            let what = || format!("merge event {seq}");
            let json = text(&d, "json").ok_or_else(|| self.corrupt(what(), "no json"))?;
            out.push(StoredMergeEvent {
                seq: u64::try_from(seq).map_err(|_| self.corrupt(what(), "negative seq"))?,
                at: text(&d, "at").ok_or_else(|| self.corrupt(what(), "no time"))?,
                event: serde_json::from_str(&json).map_err(|e| self.corrupt(what(), e))?,
            });
        }
        Ok(out)
    }

    fn meta(&self, key: &str) -> Result<Option<serde_json::Value>, FeedStoreError> {
        let found = self
            .coll("meta")
            .find_one(doc! { "_id": key })
            .run()
            .map_err(self.err("reading meta"))?;
        found
            .map(|d| {
                let json = text(&d, "json")
                    .ok_or_else(|| self.corrupt(format!("meta {key}"), "no json"))?;
                serde_json::from_str(&json).map_err(|e| self.corrupt(format!("meta {key}"), e))
            })
            .transpose()
    }

    fn commit(&mut self, change: &Changeset) -> Result<(), FeedStoreError> {
        validate(change)?;
        self.in_transaction(|s| {
            if let Some(feed) = &change.feed {
                self.write_feed(s, feed)?;
            }
            self.write_merge(s, &change.merge, &change.at)?;
            for (key, value) in &change.meta {
                let json =
                    serde_json::to_string(value).map_err(|e| FeedStoreError::InvalidChange {
                        reason: e.to_string(),
                    })?;
                self.coll("meta")
                    .replace_one(doc! { "_id": key }, doc! { "_id": key, "json": json })
                    .upsert(true)
                    .session(&mut *s)
                    .run()
                    .map_err(self.err("writing meta"))?;
            }
            Ok(())
        })
    }

    fn record_failure(
        &mut self,
        feed: &str,
        source: &str,
        at: &str,
        error: &str,
    ) -> Result<(), FeedStoreError> {
        // A new state gets the default cursor (JSON null); an existing one keeps the rest.
        self.coll("feed_states")
            .update_one(
                doc! { "_id": feed },
                doc! {
                    "$set": { "last_attempt": at, "last_error": error },
                    "$setOnInsert": {
                        "source": source,
                        "cursor": "null",
                        "last_success": Bson::Null,
                        "last_fetch": Bson::Null,
                    },
                },
            )
            .upsert(true)
            .run()
            .map_err(self.err("recording a failure"))?;
        Ok(())
    }
}

impl MongoFeedStore {
    fn advisory_of(&self, d: &Document) -> Result<CanonicalAdvisory, FeedStoreError> {
        let id = text(d, "_id").unwrap_or_default();
        let json =
            text(d, "json").ok_or_else(|| self.corrupt(format!("advisory {id}"), "no json"))?;
        serde_json::from_str(&json).map_err(|e| self.corrupt(format!("advisory {id}"), e))
    }
}
