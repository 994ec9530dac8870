//! The fields of tar header blocks and of PAX and GNU extension bodies, each read as Go's
//! `archive/tar` reads it or refused where readers part.

use super::{BLOCK, Block};

/// Reads a header block's fields as Go's `readHeader` does, refusing forms it or other
/// readers would read another way.
pub(super) fn parse_block(b: &[u8; BLOCK]) -> Result<Block, String> {
    check_sum(b)?;
    let magic = &b[257..265];
    let (gnu, v7) = match magic {
        b"ustar\x0000" => (false, false),
        b"ustar  \x00" => (true, false),
        // Readers tell ustar from GNU by these bytes in different ways: only the two exact
        // forms are read.
        _ if magic.starts_with(b"ustar") => {
            return Err("a header of an unknown tar format (ustar magic, other version)".into());
        }
        // V7: every reader ignores what follows the link name, but Python's applies a name
        // prefix from it, so it must be empty.
        _ if b[345..500].iter().any(|&x| x != 0) => {
            return Err("a V7 header with data where a ustar name prefix would be".into());
        }
        _ => (false, true),
    };
    if &b[257..263] == b"ustar\x00" && &b[508..512] == b"tar\x00" {
        return Err("a STAR header (readers disagree on its name prefix)".into());
    }
    let mut name = text(&b[0..100], "name")?;
    let link = text(&b[157..257], "link target")?;
    let number = |range: std::ops::Range<usize>, what: &str| numeric(&b[range], what);
    let size = number(124..136, "size")?;
    let mode = number(100..108, "mode")?;
    let uid = number(108..116, "uid")?;
    let gid = number(116..124, "gid")?;
    number(136..148, "mtime")?;
    let device = if v7 {
        (0, 0)
    } else {
        (
            number(329..337, "device major")?,
            number(337..345, "device minor")?,
        )
    };
    if gnu {
        // GNU keeps times here where ustar keeps a name prefix some readers would apply.
        if b[345..500].iter().any(|&x| x != 0) {
            return Err("a GNU header with data where a ustar name prefix would be".into());
        }
    } else if !v7 {
        let prefix = text(&b[345..500], "name prefix")?;
        if !prefix.is_empty() {
            name = format!("{prefix}/{name}");
        }
    }
    Ok(Block {
        name,
        link,
        size,
        mode: u32::try_from(mode).map_err(|_| format!("a mode of {mode}"))?,
        uid,
        gid,
        device,
    })
}

/// Go accepts the octal checksum as the unsigned or the signed sum of the block, with the
/// checksum field itself counted as spaces.
fn check_sum(b: &[u8; BLOCK]) -> Result<(), String> {
    let stored = octal(&b[148..156]).ok_or("a header checksum that is not a number")?;
    let (mut unsigned, mut signed) = (0i64, 0i64);
    for (i, &c) in b.iter().enumerate() {
        let c = if (148..156).contains(&i) { b' ' } else { c };
        unsigned += i64::from(c);
        signed += i64::from(c.cast_signed());
    }
    if i64::try_from(stored).ok() != Some(unsigned) && i64::try_from(stored).ok() != Some(signed) {
        return Err("a header whose checksum does not match".into());
    }
    Ok(())
}

/// A string field: up to its first NUL, UTF-8.
fn text(field: &[u8], what: &str) -> Result<String, String> {
    let end = field.iter().position(|&c| c == 0).unwrap_or(field.len());
    String::from_utf8(field[..end].to_vec()).map_err(|_| format!("a {what} that is not UTF-8"))
}

/// A numeric field: positive base-256, or octal in the one form every reader reads alike
/// (leading spaces, digits, then only spaces and NULs). Go trims NULs from both ends and cuts
/// at the first NUL, the `tar` crate cuts first: `\0 644` is 420 to one and an error to the
/// other.
fn numeric(field: &[u8], what: &str) -> Result<u64, String> {
    if field[0] & 0x80 != 0 {
        if field[0] & 0x40 != 0 {
            return Err(format!("a negative {what}"));
        }
        let mut x: u64 = u64::from(field[0] & 0x7f);
        for &c in &field[1..] {
            if x >> 56 != 0 {
                return Err(format!("a {what} too large"));
            }
            x = x << 8 | u64::from(c);
        }
        return if x >> 63 == 0 {
            Ok(x)
        } else {
            Err(format!("a {what} too large"))
        };
    }
    octal(field).ok_or_else(|| format!("a {what} that is not an octal number"))
}

fn octal(field: &[u8]) -> Option<u64> {
    let start = field.iter().position(|&c| c != b' ').unwrap_or(field.len());
    let digits = &field[start..];
    let end = digits
        .iter()
        .position(|&c| !c.is_ascii_digit() || c > b'7')
        .unwrap_or(digits.len());
    if digits[end..].iter().any(|&c| c != b' ' && c != 0) {
        return None;
    }
    if end == 0 {
        return Some(0);
    }
    let value = u64::from_str_radix(std::str::from_utf8(&digits[..end]).ok()?, 8).ok()?;
    (value >> 63 == 0).then_some(value)
}

/// A GNU long name: up to its first NUL (as Go reads it), nothing but NULs after, not empty.
pub(super) fn long_name(body: &[u8]) -> Result<String, String> {
    let end = body.iter().position(|&c| c == 0).unwrap_or(body.len());
    if body[end..].iter().any(|&c| c != 0) {
        return Err("a GNU long name with data after its end".into());
    }
    if end == 0 {
        return Err("an empty GNU long name".into());
    }
    text(body, "GNU long name")
}

/// PAX records, `LENGTH KEY=VALUE\n` each, refused where Go's `parsePAX` fails and where
/// readers could disagree (a key twice, a length with a sign or leading zeros).
pub(super) fn pax_records(body: &[u8]) -> Result<Vec<(String, Vec<u8>)>, String> {
    let bad = || "a malformed PAX header".to_string();
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let space = rest.iter().position(|&c| c == b' ').ok_or_else(bad)?;
        let digits = &rest[..space];
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) || (digits[0] == b'0') {
            return Err(bad());
        }
        let len: usize = std::str::from_utf8(digits)
            .ok()
            .and_then(|d| d.parse().ok())
            .ok_or_else(bad)?;
        if len < 5 || len > rest.len() || len <= space + 1 || rest[len - 1] != b'\n' {
            return Err(bad());
        }
        let record = &rest[space + 1..len - 1];
        let eq = record.iter().position(|&c| c == b'=').ok_or_else(bad)?;
        let (key, value) = (&record[..eq], &record[eq + 1..]);
        let key = std::str::from_utf8(key).map_err(|_| bad())?;
        if key.is_empty() || key.contains('\0') {
            return Err(bad());
        }
        if matches!(key, "path" | "linkpath" | "uname" | "gname") && value.contains(&0) {
            return Err(bad());
        }
        if out.iter().any(|(k, _)| k == key) {
            return Err(format!("a PAX header naming {key} twice"));
        }
        out.push((key.to_string(), value.to_vec()));
        rest = &rest[len..];
    }
    Ok(out)
}

/// A PAX decimal: digits only, below 2^63.
pub(super) fn pax_number(value: &[u8]) -> Option<u64> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n: u64 = std::str::from_utf8(value).ok()?.parse().ok()?;
    (n >> 63 == 0).then_some(n)
}

/// A PAX time Go parses: `[-]SECONDS[.DIGITS]`.
pub(super) fn pax_time(value: &[u8]) -> bool {
    let value = value.strip_prefix(b"-").unwrap_or(value);
    let (secs, frac) = match value.iter().position(|&c| c == b'.') {
        Some(dot) => (&value[..dot], Some(&value[dot + 1..])),
        None => (value, None),
    };
    let secs_ok = !secs.is_empty() && secs.len() <= 18 && secs.iter().all(u8::is_ascii_digit);
    secs_ok && frac.is_none_or(|f| !f.is_empty() && f.iter().all(u8::is_ascii_digit))
}

pub(super) fn shown_flag(f: u8) -> String {
    if f.is_ascii_graphic() {
        format!("'{}'", f as char)
    } else {
        format!("{f:#04x}")
    }
}
