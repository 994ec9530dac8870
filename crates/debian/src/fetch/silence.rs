//! Hosts that never answer: a fetcher remembers, per host, whether it sent a byte this run
//! and how many idle timeouts in a row it caused, and gives a silent host up early.

use url::Url;

use super::Fetcher;
use crate::error::{Error, Result};

/// Idle timeouts in a row, with not one byte from the host this run, after which a host is
/// given up: a dead or stalled mirror fails a build in about two idle timeouts, not in six
/// attempts of one (191 s by default).
const SILENT_TIMEOUTS: u32 = 2;

/// Whether a host has sent anything this run, and how many idle timeouts in a row it caused.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Heard {
    answered: bool,
    silent_in_a_row: u32,
}

impl Fetcher {
    /// Notes what a host did: answered (headers or a body byte), or timed out without a byte.
    pub(super) fn heard(&self, url: &Url, answered: bool) {
        let mut hosts = self
            .hosts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let h = hosts.entry(host_of(url)).or_default();
        if answered {
            *h = Heard {
                answered: true,
                silent_in_a_row: 0,
            };
        } else {
            h.silent_in_a_row += 1;
        }
    }

    /// Fails at once for a host that sent nothing this run and timed out twice in a row.
    pub(super) fn still_worth_asking(&self, url: &Url) -> Result<()> {
        let host = host_of(url);
        let hosts = self
            .hosts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match hosts.get(&host) {
            Some(h) if !h.answered && h.silent_in_a_row >= SILENT_TIMEOUTS => Err(Error::Silent {
                host,
                reason: format!(
                    "{} idle timeouts of {} s in a row",
                    h.silent_in_a_row,
                    self.timeouts.idle.as_secs_f32()
                ),
                cached: false,
            }),
            _ => Ok(()),
        }
    }
}

/// `host:port` of a URL (without any user information: it is shown in errors).
fn host_of(url: &Url) -> String {
    let host = url.host_str().unwrap_or("");
    match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    }
}
