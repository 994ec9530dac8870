//! The user an image runs as, resolved as runtimes resolve it (moby's `user.GetExecUser`,
//! which Docker, containerd and runc use): the audit's `non-root-user` rule asks it.

use serde_json::Value;

/// The configured user, unless it is a non-root user of the image's passwd, as runtimes
/// resolve it (moby's `user.GetExecUser`, which Docker, containerd and runc use): the part
/// before `:`; a number is a uid, matched against passwd uids, a name against passwd names;
/// passwd lines trimmed, the first match wins, numeric fields read like Go's `Atoi` with a
/// malformed one read as 0, and the uid finally truncated to 32 bits.
pub(super) fn root_user(config: &Value, passwd: &[u8]) -> Option<String> {
    let user = config["config"]["User"].as_str().unwrap_or("");
    let arg = user.split(':').next().unwrap_or("");
    if arg.is_empty() || arg == "root" {
        return Some(format!("the image runs as root (User {user:?})"));
    }
    match runtime_uid(arg, passwd) {
        None => Some(format!("user {arg:?} is not in the image's /etc/passwd")),
        Some(0) => Some(format!("user {arg:?} has uid 0 as runtimes read it")),
        Some(_) => None,
    }
}

/// The uid a runtime runs `arg` (a name or a number) as, given the image's passwd bytes;
/// `None` when it would refuse to start (a name no line has). Names are compared as bytes,
/// as Go compares them (a lossy conversion would make two different names equal).
fn runtime_uid(arg: &str, passwd: &[u8]) -> Option<u32> {
    // A number that does not fit is a name to Go (`Atoi` fails), as any other text is.
    let numeric = go_atoi(arg).filter(|(_, fits)| *fits).map(|(v, _)| v);
    let uid_of = |f: &[&[u8]]| {
        let text = std::str::from_utf8(f.get(2).copied().unwrap_or(b"")).unwrap_or("");
        // A malformed field is 0; one that does not fit is clamped (Go keeps Atoi's value).
        go_atoi(text).map_or(0, |(v, _)| v)
    };
    let entry = passwd
        .split(|&b| b == b'\n')
        .map(go_trim_space)
        .filter(|l| !l.is_empty())
        .map(|l| l.split(|&b| b == b':').collect::<Vec<&[u8]>>())
        .find(|f| match numeric {
            Some(uid) => uid_of(f) == uid,
            None => f.first().copied() == Some(arg.as_bytes()),
        });
    let uid = match (entry, numeric) {
        (Some(f), _) => uid_of(&f),
        (None, Some(uid)) => uid,
        (None, None) => return None,
    };
    // Go's `uint32(uid)`: the low 32 bits, whatever the sign.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Some(uid as u32)
}

/// Go's `bytes.TrimSpace`: Unicode white space off both ends (bytes that are not UTF-8 stop
/// it).
fn go_trim_space(mut b: &[u8]) -> &[u8] {
    let char_at = |b: &[u8], from_end: bool| -> Option<(char, usize)> {
        (1..=b.len().min(4)).find_map(|n| {
            let part = if from_end { &b[b.len() - n..] } else { &b[..n] };
            std::str::from_utf8(part)
                .ok()
                .and_then(|s| s.chars().next())
                .map(|c| (c, n))
        })
    };
    while let Some((_, n)) = char_at(b, false).filter(|(c, _)| c.is_whitespace()) {
        b = &b[n..];
    }
    while let Some((_, n)) = char_at(b, true).filter(|(c, _)| c.is_whitespace()) {
        b = &b[..b.len() - n];
    }
    b
}

/// Go's `strconv.Atoi` as `moby/sys/user` uses it: an optional sign and decimal digits;
/// `None` for anything else. A value beyond 64 bits comes back clamped with `false` (Go
/// returns the clamped value with its error).
fn go_atoi(text: &str) -> Option<(i64, bool)> {
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let signed = if negative {
        format!("-{digits}")
    } else {
        digits.to_string()
    };
    Some(match signed.parse::<i64>() {
        Ok(v) => (v, true),
        Err(_) if negative => (i64::MIN, false),
        Err(_) => (i64::MAX, false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_resolve_to_the_uid_runtimes_use() {
        let root_for = |passwd: &str| runtime_uid("nonroot", passwd.as_bytes());
        for passwd in [
            "nonroot:x:0:0::/:/x",
            "nonroot:x:00:0::/:/x",
            "nonroot:x:+0:0::/:/x",
            "nonroot:x:abc:0::/:/x",
            "nonroot:x::0::/:/x",
            "  nonroot:x:0:0::/:/x\nnonroot:x:65532:65532::/:/x",
            "nonroot:x:4294967296:0::/:/x",
            "nonroot:x:-4294967296:0::/:/x",
            "zzz:x:nonroot:0::/:/x\nnonroot:x:0:0::/:/x",
        ] {
            assert_eq!(root_for(passwd), Some(0), "{passwd}");
        }
        assert_eq!(root_for("nonroot:x:65532:65532::/:/x"), Some(65532));
        assert_eq!(root_for("other:x:1:1::/:/x"), None);
        // A number is a uid: matched against uids, and taken as it is without a line.
        assert_eq!(runtime_uid("65532", b""), Some(65532));
        assert_eq!(runtime_uid("00", b""), Some(0));
        assert_eq!(
            runtime_uid("1000", b"root:x:0:0::/:/x\nu:x:1000:1::/:/x"),
            Some(1000)
        );
        // A number too large for Go is a name.
        let big = "99999999999999999999";
        assert_eq!(
            runtime_uid(big, format!("{big}:x:0:0::/:/x").as_bytes()),
            Some(0)
        );
        // Names are bytes: an invalid one is not the replacement character.
        let lines = b"nonroot\xff:x:65532:1::/:/x\nnonroot\xef\xbf\xbd:x:0:0::/:/x";
        assert_eq!(runtime_uid("nonroot\u{fffd}", lines), Some(0));
        // Lines trimmed as Go trims them (a no-break space is white space).
        let nbsp = "\u{a0}nonroot:x:0:0::/:/x\r";
        assert_eq!(runtime_uid("nonroot", nbsp.as_bytes()), Some(0));
    }
}
