//! `stella`: the StellaOps command-line scanner.

fn main() {}
