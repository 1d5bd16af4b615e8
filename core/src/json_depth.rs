//! Nesting depth of untrusted JSON, measured before parsing so that our own limit,
//! not serde_json's recursion guard, decides what is too deep.

/// True when the bracket depth outside strings goes above `max` anywhere in `bytes`.
pub(crate) fn exceeds(bytes: &[u8], max: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in bytes {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::exceeds;

    #[test]
    fn counts_brackets_outside_strings_only() {
        assert!(!exceeds(br#"{"a":[1,{"b":2}]}"#, 3));
        assert!(exceeds(br#"{"a":[1,{"b":2}]}"#, 2));
        assert!(!exceeds(br#"{"a":"[[[[{{{{\"[["}"#, 1));
        assert!(exceeds(&[b'['; 100], 64));
    }
}
