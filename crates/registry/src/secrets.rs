//! Every secret this process holds for registries (passwords, their Basic encoding, tokens),
//! so that text from outside which quotes one is scrubbed before anyone sees it: a registry's
//! error message may echo the `Authorization` header it was sent. Errors this crate makes from
//! a registry's words are scrubbed where they are made; the binary scrubs whatever it prints.

use std::sync::Mutex;

static KNOWN: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Remembers a secret (shorter than 4 characters: not worth hiding, and would mangle text).
pub fn remember(secret: &str) {
    if secret.len() < 4 {
        return;
    }
    let mut known = KNOWN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !known.iter().any(|k| k == secret) {
        known.push(secret.to_string());
        // The longest first, so that a secret inside another is not left half shown.
        known.sort_by_key(|k| std::cmp::Reverse(k.len()));
    }
}

/// `text` with every remembered secret replaced by `<redacted>`.
pub fn scrub(text: &str) -> String {
    let known = KNOWN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut out = text.to_string();
    for k in known.iter() {
        if out.contains(k.as_str()) {
            out = out.replace(k.as_str(), "<redacted>");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembered_secrets_are_scrubbed() {
        remember("hunter2-pass");
        remember("YWxpY2U6aHVudGVyMi1wYXNz");
        remember("abc");
        assert_eq!(
            scrub("DENIED: Basic YWxpY2U6aHVudGVyMi1wYXNz (alice:hunter2-pass) abc"),
            "DENIED: Basic <redacted> (alice:<redacted>) abc"
        );
    }
}
