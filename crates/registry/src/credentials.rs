//! Where registry credentials come from, and where `login` keeps them: the files Docker and
//! Podman use, read in containers' order — `$REGISTRY_AUTH_FILE`,
//! `$XDG_RUNTIME_DIR/containers/auth.json`, then `$DOCKER_CONFIG/config.json` (or
//! `~/.docker/config.json`) — with their `auths` entries, `credHelpers` and `credsStore`
//! (the `docker-credential-NAME get` protocol). Secrets are never printed: [`Credential`]'s
//! `Debug` hides them, and errors name files and helpers, not values.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use serde_json::{Value, json};

use crate::error::{Error, Result};

/// A user name and a password (or token), and where it came from (for errors: a file or a
/// helper, never the secret).
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    pub username: String,
    pub secret: String,
    pub from: String,
}

impl Credential {
    /// A credential given directly (`login`, tests).
    pub fn given(username: &str, secret: &str) -> Self {
        Credential {
            username: username.to_string(),
            secret: secret.to_string(),
            from: "the ones given".into(),
        }
    }
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Credential({}, <hidden>, from {})",
            self.username, self.from
        )
    }
}

/// The files that may hold credentials, in the order they are consulted.
pub fn files() -> Vec<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let mut out = Vec::new();
    out.extend(env("REGISTRY_AUTH_FILE"));
    out.extend(env("XDG_RUNTIME_DIR").map(|d| d.join("containers/auth.json")));
    out.push(docker_config());
    out
}

/// Docker's client configuration file, which `login` writes.
pub fn docker_config() -> PathBuf {
    let dir = std::env::var_os("DOCKER_CONFIG")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")))
        .unwrap_or_else(|| PathBuf::from(".docker"));
    dir.join("config.json")
}

/// The keys an `auths` map may use for a registry.
fn keys(registry: &str) -> [String; 4] {
    [
        registry.to_string(),
        format!("https://{registry}"),
        format!("http://{registry}"),
        format!("https://{registry}/v1/"),
    ]
}

/// The largest credentials file read (they hold a few entries; a FIFO or `/dev/zero` named as
/// one is refused, not read forever).
const MAX_FILE: u64 = 4 << 20;

fn read_json(path: &Path) -> Result<Option<Value>> {
    use std::io::Read as _;
    let meta = match fs_err::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    if !meta.is_file() || meta.len() > MAX_FILE {
        return Err(Error::Credentials(format!(
            "{}: not a regular file of at most {MAX_FILE} bytes",
            path.display()
        )));
    }
    let mut text = String::new();
    fs_err::File::open(path)?
        .take(MAX_FILE)
        .read_to_string(&mut text)
        .map_err(|_| Error::Credentials(format!("{}: not UTF-8 text", path.display())))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| Error::Credentials(format!("{}: not JSON ({e})", path.display())))
}

/// The credential for a registry, if any file or helper has one.
pub fn lookup(registry: &str) -> Result<Option<Credential>> {
    for path in files() {
        let Some(doc) = read_json(&path)? else {
            continue;
        };
        if let Some(helper) = doc["credHelpers"][registry].as_str() {
            return helper_get(helper, registry);
        }
        for key in keys(registry) {
            let entry = &doc["auths"][&key];
            if entry.is_object() {
                return decode(entry, &path).map(Some);
            }
        }
        if let Some(store) = doc["credsStore"].as_str()
            && let Some(c) = helper_get(store, registry)?
        {
            return Ok(Some(c));
        }
    }
    Ok(None)
}

/// An `auths` entry: `auth` (base64 of `user:password`), or `username` and `password`.
fn decode(entry: &Value, path: &Path) -> Result<Credential> {
    let bad = || Error::Credentials(format!("{}: an auths entry is malformed", path.display()));
    let from = path.display().to_string();
    if let (Some(u), Some(p)) = (entry["username"].as_str(), entry["password"].as_str()) {
        return Ok(Credential {
            username: u.to_string(),
            secret: p.to_string(),
            from,
        });
    }
    let auth = entry["auth"].as_str().ok_or_else(bad)?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let (u, p) = text.split_once(':').ok_or_else(bad)?;
    Ok(Credential {
        username: u.to_string(),
        secret: p.to_string(),
        from,
    })
}

/// Asks `docker-credential-NAME get` for a registry's credential.
fn helper_get(name: &str, registry: &str) -> Result<Option<Credential>> {
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return Err(Error::Credentials(format!(
            "credential helper name {name:?} is not a plain name"
        )));
    }
    let program = format!("docker-credential-{name}");
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        // Never read (it may quote the secret), so never piped: a chatty helper cannot fill
        // a pipe nobody drains and hang the run.
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| Error::Credentials(format!("{program}: cannot run it ({e})")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(registry.as_bytes())?;
    }
    // A helper's answer is a few hundred bytes: read at most 1 MiB of it, then stop it.
    let mut stdout = Vec::new();
    if let Some(out) = child.stdout.take() {
        std::io::Read::read_to_end(&mut std::io::Read::take(out, 1 << 20), &mut stdout)?;
    }
    if stdout.len() >= 1 << 20 {
        let _ = child.kill();
    }
    let status = child.wait()?;
    let out = std::process::Output {
        status,
        stdout,
        stderr: Vec::new(),
    };
    if !out.status.success() {
        // The protocol's way of saying "none": not an error.
        if String::from_utf8_lossy(&out.stdout).contains("credentials not found") {
            return Ok(None);
        }
        return Err(Error::Credentials(format!(
            "{program} get failed for {registry}"
        )));
    }
    let doc: Value = serde_json::from_slice(&out.stdout).map_err(|_| {
        Error::Credentials(format!("{program} answered something that is not JSON"))
    })?;
    match (doc["Username"].as_str(), doc["Secret"].as_str()) {
        (Some(u), Some(s)) => Ok(Some(Credential {
            username: u.to_string(),
            secret: s.to_string(),
            from: program,
        })),
        _ => Err(Error::Credentials(format!(
            "{program} answered without Username and Secret"
        ))),
    }
}

/// The file `login` writes: `$REGISTRY_AUTH_FILE` when set (it is read first, so a login
/// elsewhere would not take effect), else Docker's configuration file.
pub fn login_file() -> PathBuf {
    std::env::var_os("REGISTRY_AUTH_FILE")
        .filter(|v| !v.is_empty())
        .map_or_else(docker_config, PathBuf::from)
}

/// Writes a credential into [`login_file`] (created 0600, written atomically); returns the
/// file.
pub fn store(registry: &str, credential: &Credential) -> Result<PathBuf> {
    let path = login_file();
    let mut doc = read_json(&path)?.unwrap_or_else(|| json!({}));
    let auth = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", credential.username, credential.secret));
    if !doc["auths"].is_object() {
        doc["auths"] = json!({});
    }
    doc["auths"][registry] = json!({ "auth": auth });
    write_private(&path, &doc)?;
    Ok(path)
}

/// Removes a registry's entries from every file that may hold one; the files changed.
pub fn erase(registry: &str) -> Result<Vec<PathBuf>> {
    let mut changed = Vec::new();
    for path in files() {
        let Some(mut doc) = read_json(&path)? else {
            continue;
        };
        let mut found = false;
        if let Some(auths) = doc["auths"].as_object_mut() {
            for key in keys(registry) {
                found |= auths.remove(&key).is_some();
            }
        }
        if found {
            write_private(&path, &doc)?;
            changed.push(path);
        }
    }
    Ok(changed)
}

fn write_private(path: &Path, doc: &Value) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    // A config kept elsewhere and linked into place (dotfiles) is written where it lives.
    let real = fs_err::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let path = real.as_path();
    let dir = path.parent().unwrap_or(Path::new("."));
    if !dir.exists() {
        fs_err::create_dir_all(dir)?;
        // A new credentials directory is the user's alone.
        fs_err::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    let mut tmp = tempfile::Builder::new()
        .prefix(".config.json.")
        .permissions(std::fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)?;
    tmp.write_all(&serde_json::to_vec_pretty(doc).map_err(std::io::Error::other)?)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_decode_both_ways_and_debug_hides_the_secret() {
        let p = Path::new("x.json");
        let a = decode(&json!({"auth": "dXNlcjpwYTpzcw=="}), p).unwrap();
        assert_eq!((a.username.as_str(), a.secret.as_str()), ("user", "pa:ss"));
        let b = decode(&json!({"username": "u", "password": "p"}), p).unwrap();
        assert_eq!(b.secret, "p");
        assert!(!format!("{a:?}").contains("pa:ss"));
        assert!(decode(&json!({"auth": "!!"}), p).is_err());
    }
}
