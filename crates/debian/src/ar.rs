//! The `ar` container of a `.deb`, read as a stream.
//!
//! Written by hand: the `ar` crate (0.9) panics on a malformed GNU name-table index and
//! allocates whatever size a name-table header claims (both found by fuzzing `.deb` input),
//! and a `.deb` needs none of the variants it supports: dpkg writes the common format with
//! short member names only. Anything else is refused.

use std::io::{self, Read};

const MAGIC: &[u8; 8] = b"!<arch>\n";
const HEADER: usize = 60;
/// The largest member we accept (the `data.tar` of the largest Debian packages is a few GiB).
const MAX_MEMBER: u64 = 16 << 30;

/// A member header: its name and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub size: u64,
}

/// Reads members one after the other.
pub struct Reader<R> {
    inner: R,
    /// Bytes of the current member (and its padding) not read yet.
    pending: u64,
    started: bool,
}

fn bad(why: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.into())
}

impl<R: Read> Reader<R> {
    pub fn new(inner: R) -> Self {
        Reader {
            inner,
            pending: 0,
            started: false,
        }
    }

    /// The next member's header; `None` at the end. Whatever was not read of the previous
    /// member is skipped.
    pub fn next_member(&mut self) -> io::Result<Option<Member>> {
        if !self.started {
            let mut magic = [0u8; 8];
            self.inner
                .read_exact(&mut magic)
                .map_err(|_| bad("not an ar archive"))?;
            if &magic != MAGIC {
                return Err(bad("not an ar archive"));
            }
            self.started = true;
        }
        io::copy(&mut (&mut self.inner).take(self.pending), &mut io::sink())?;
        self.pending = 0;
        let mut h = [0u8; HEADER];
        let mut got = 0;
        while got < HEADER {
            let n = self.inner.read(&mut h[got..])?;
            if n == 0 {
                return if got == 0 {
                    Ok(None)
                } else {
                    Err(bad("truncated ar member header"))
                };
            }
            got += n;
        }
        if &h[58..60] != b"`\n" {
            return Err(bad("bad ar member header"));
        }
        let name = std::str::from_utf8(&h[..16])
            .map_err(|_| bad("non-ASCII ar member name"))?
            .trim_end_matches(' ')
            .trim_end_matches('/');
        if name.is_empty()
            || name.starts_with('/')
            || name.starts_with('#')
            || !name.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(bad(format!("unsupported ar member name {name:?}")));
        }
        let size: u64 = std::str::from_utf8(&h[48..58])
            .ok()
            .map(str::trim)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("bad ar member size"))?;
        if size > MAX_MEMBER {
            return Err(bad("ar member larger than 16 GiB"));
        }
        self.pending = size + (size % 2);
        Ok(Some(Member {
            name: name.to_string(),
            size,
        }))
    }

    /// The current member's bytes (exactly its size; its padding is skipped by the next call).
    pub fn member_data(&mut self, member: &Member) -> impl Read + '_ {
        self.pending -= member.size;
        (&mut self.inner).take(member.size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        for (name, data) in members {
            out.extend(
                format!(
                    "{name:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
                    0,
                    0,
                    0,
                    644,
                    data.len()
                )
                .bytes(),
            );
            out.extend_from_slice(data);
            if data.len() % 2 == 1 {
                out.push(b'\n');
            }
        }
        out
    }

    #[test]
    fn reads_members_in_order_skipping_unread_data() {
        let a = archive(&[
            ("debian-binary", b"2.0\n"),
            ("control.tar.gz", b"abc"),
            ("data.tar.xz/", b"xyz!"),
        ]);
        let mut r = Reader::new(a.as_slice());
        assert_eq!(r.next_member().unwrap().unwrap().name, "debian-binary");
        let m = r.next_member().unwrap().unwrap();
        assert_eq!((m.name.as_str(), m.size), ("control.tar.gz", 3));
        let m = r.next_member().unwrap().unwrap();
        let mut data = Vec::new();
        r.member_data(&m).read_to_end(&mut data).unwrap();
        assert_eq!(
            (m.name.as_str(), data.as_slice()),
            ("data.tar.xz", &b"xyz!"[..])
        );
        assert!(r.next_member().unwrap().is_none());
    }

    #[test]
    fn refuses_what_a_deb_never_holds() {
        for a in [
            b"garbage!".to_vec(),
            archive(&[("//", b"x")]),
            archive(&[("/163200100000000", b"x")]),
            archive(&[("#1/20", b"x")]),
        ] {
            let mut r = Reader::new(a.as_slice());
            assert!(r.next_member().is_err());
        }
    }
}
