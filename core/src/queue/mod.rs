//! Scan jobs: a queue (Redis Stream with a consumer group, or in-process), the
//! runner pool that takes jobs from it, and the scan records runners write.
