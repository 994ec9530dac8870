//! Where plans come from: the archive client (mirrors, keyring, policy, fetcher), the product
//! cache, and a memo of each release's verified indexes and parsed universe, kept for the whole
//! process (a matrix reads each once).

#[allow(clippy::wildcard_imports)]
use super::*;

/// Where packages come from and how they are trusted.
#[derive(Debug, Clone, Default)]
pub struct SourceSettings {
    /// The Debian mirror; `None` reads the host's apt sources.
    pub mirror: Option<String>,
    /// The security mirror; `None` reads the host's apt sources or derives it from `mirror`.
    pub security_mirror: Option<String>,
    /// Extra OpenPGP key files trusted to sign `InRelease`.
    pub keyrings: Vec<PathBuf>,
    /// Trust only `keyrings`, not the embedded Debian archive keys.
    pub no_default_keyring: bool,
    pub allow_expired_release: bool,
    pub cache_dir: PathBuf,
    pub offline: bool,
    /// Connect and idle timeouts and attempts of every download.
    pub timeouts: Timeouts,
    /// A registry repository shared as a cache (`--cache-repo`).
    pub cache_repo: Option<Arc<crate::cache::remote::Remote>>,
}

/// Where packages come from and where derived facts are kept: the archive client, the
/// product's cache and the reporter, shared by every step of a build.
pub struct Source<'a> {
    pub archive: Archive<'a>,
    pub cache: Cache,
    pub reporter: &'a dyn Reporter,
    /// What this process has read already: a matrix of images reads each release's
    /// `InRelease` files once and parses each `Packages` file once.
    memo: Memo,
}

#[derive(Default)]
struct Memo {
    indexes: Mutex<HashMap<(String, String), Indexes>>,
    universes: Mutex<HashMap<String, Arc<Universe>>>,
}

impl Source<'_> {
    /// The verified indexes of a release for an architecture (read once per process).
    pub fn indexes(&self, codename: &str, arch: &str) -> anyhow::Result<Indexes> {
        let key = (codename.to_string(), arch.to_string());
        if let Some(i) = lock(&self.memo.indexes).get(&key) {
            return Ok(i.clone());
        }
        let read = self.archive.indexes(codename, arch)?;
        lock(&self.memo.indexes).insert(key, read.clone());
        Ok(read)
    }

    /// The package universe of verified indexes (parsed once per process).
    pub fn universe(&self, indexes: &Indexes) -> anyhow::Result<Arc<Universe>> {
        let key = indexes.fingerprint();
        if let Some(u) = lock(&self.memo.universes).get(&key) {
            return Ok(Arc::clone(u));
        }
        let parsed = Arc::new(self.archive.universe(indexes)?);
        lock(&self.memo.universes).insert(key, Arc::clone(&parsed));
        Ok(parsed)
    }
}

/// A memo's map, even if another thread panicked holding it (it only ever holds whole values).
pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl<'a> Source<'a> {
    /// Opens the archive and the cache as the settings say: mirrors from the settings or the
    /// host's apt sources, the embedded Debian keys unless refused, plus extra key files.
    pub fn open(settings: &SourceSettings, reporter: &'a dyn Reporter) -> anyhow::Result<Self> {
        let mut keyring = if settings.no_default_keyring {
            Keyring::default()
        } else {
            Keyring::embedded()?
        };
        for k in &settings.keyrings {
            keyring.add_file(k)?;
        }
        anyhow::ensure!(
            !keyring.is_empty(),
            "no trusted keys: the embedded Debian keys are refused and no key file is given"
        );
        let cache = Cache::open(&settings.cache_dir)?.with_remote(settings.cache_repo.clone());
        let archive = Archive {
            mirrors: mirrors(settings)?,
            keyring,
            policy: ReleasePolicy {
                allow_expired: settings.allow_expired_release,
                now: chrono::Utc::now(),
            },
            offline: settings.offline,
            cache: cache.blobs().clone(),
            fetcher: Fetcher::with_timeouts(settings.timeouts)?,
            reporter,
        };
        Ok(Source {
            archive,
            cache,
            reporter,
            memo: Memo::default(),
        })
    }
}

/// The mirrors: the settings first, then the host's apt configuration.
fn mirrors(settings: &SourceSettings) -> anyhow::Result<Mirrors> {
    match &settings.mirror {
        Some(m) => Ok(Mirrors::from_urls(m, settings.security_mirror.as_deref())?),
        None => {
            let mut m = host_mirrors(std::path::Path::new("/"))?;
            if let Some(s) = &settings.security_mirror {
                m.security = parse_url(s)?;
            }
            Ok(m)
        }
    }
}
