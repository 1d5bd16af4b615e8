//! Prints how many of its arguments look like versions.
use regex::Regex;

fn main() {
    let version = Regex::new(r"^\d+(\.\d+)*$").expect("valid pattern");
    let count = std::env::args().skip(1).filter(|a| version.is_match(a)).count();
    let mut buf = itoa::Buffer::new();
    println!("{}", buf.format(count));
}
