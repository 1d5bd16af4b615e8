//! stella-core: the StellaOps core server.

fn main() {}
