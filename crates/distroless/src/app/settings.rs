//! Runtime settings of an application image: durations, ports and the user, checked; and
//! the config fields they become (`Entrypoint`, `Env`, `Healthcheck`, …).

use serde_json::{Value, json};

use super::{Accounts, AppPrepared, AppSpec};
use crate::layers::GenEntry;
use crate::model::{Destination, PATH};
use crate::rootfs::view::{ImageView, Resolved};

/// Checks the health check's durations and test, the exposed ports, the environment, the
/// working directory, the volumes and the stop signal: what an engine would refuse at start
/// (or silently misread) is refused here.
pub fn check(spec: &AppSpec) -> anyhow::Result<()> {
    if let Some(h) = &spec.recipe.healthcheck {
        check_healthcheck(spec, h)?;
    }
    let r = &spec.recipe;
    for p in &r.exposed_ports {
        if normalise_port(p).is_none() {
            return Err(spec.error(
                None,
                "exposed_ports",
                format!("{p:?} is not a port like \"8080\" or \"53/udp\""),
            ));
        }
    }
    for (k, v) in &r.env {
        if k.is_empty()
            || k.chars()
                .any(|c| c == '=' || c.is_whitespace() || c.is_control())
        {
            return Err(spec.error(
                None,
                "env",
                format!(
                    "{k:?} is not a variable name (not empty; no `=`, spaces or control characters)"
                ),
            ));
        }
        if v.contains('\0') {
            return Err(spec.error(None, "env", format!("the value of {k} holds a NUL byte")));
        }
    }
    let absolute = |key: &str, path: &str| {
        if path.starts_with('/')
            && !path.chars().any(char::is_control)
            && !path.split('/').any(|c| c == "..")
        {
            Ok(())
        } else {
            Err(spec.error(
                None,
                key,
                format!("{path:?} must be an absolute path without `..` or control characters"),
            ))
        }
    };
    if let Some(w) = &r.workdir {
        absolute("workdir", w)?;
    }
    for v in &r.volumes {
        absolute("volumes", v)?;
    }
    if let Some(sig) = &r.stop_signal
        && !is_signal(sig)
    {
        return Err(spec.error(
            None,
            "stop_signal",
            format!("{sig:?} is not a signal like \"SIGTERM\", \"TERM\" or \"15\""),
        ));
    }
    Ok(())
}

/// The durations and the test of a health check (`["CMD", program, …]`,
/// `["CMD-SHELL", "command"]` or `["NONE"]`).
fn check_healthcheck(spec: &AppSpec, h: &crate::model::recipe::Healthcheck) -> anyhow::Result<()> {
    for (key, value) in [
        ("interval", &h.interval),
        ("timeout", &h.timeout),
        ("start_period", &h.start_period),
    ] {
        if let Some(v) = value
            && duration_ns(v).is_none()
        {
            return Err(spec.error(
                None,
                key,
                format!("{v:?} is not a duration like \"30s\" or \"1m30s\""),
            ));
        }
    }
    let words: Vec<&str> = h.test.iter().map(String::as_str).collect();
    let ok = match words.as_slice() {
        ["NONE"] => true,
        ["CMD", program, ..] | ["CMD-SHELL", program] => !program.is_empty(),
        _ => false,
    };
    if !ok {
        return Err(spec.error(
            None,
            "test",
            format!(
                "{:?} is not a health check test: use [\"CMD\", \"/app\", \"arg\"…], [\"CMD-SHELL\", \"command\"] or [\"NONE\"]",
                h.test
            ),
        ));
    }
    Ok(())
}

/// Whether a stop signal is one the engines accept: a Linux signal name, with or without
/// `SIG`, `RTMIN+n`/`RTMAX-n`, or a number from 1 to 64.
fn is_signal(text: &str) -> bool {
    const NAMES: &[&str] = &[
        "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "IOT", "BUS", "FPE", "KILL", "USR1", "SEGV",
        "USR2", "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU",
        "URG", "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "POLL", "PWR", "SYS",
    ];
    if let Ok(n) = text.parse::<u32>() {
        return (1..=64).contains(&n);
    }
    let name = text.strip_prefix("SIG").unwrap_or(text);
    let realtime = |prefix: &str| {
        // RTMIN counts up, RTMAX down: 15 each way stays inside Linux's 32..=64.
        let sign = if prefix == "RTMIN" { '+' } else { '-' };
        name.strip_prefix(prefix).is_some_and(|rest| {
            rest.is_empty()
                || rest
                    .strip_prefix(sign)
                    .is_some_and(|n| n.parse::<u32>().is_ok_and(|n| n <= 15))
        })
    };
    NAMES.contains(&name) || realtime("RTMIN") || realtime("RTMAX")
}

/// `8080` → `8080/tcp`; `None` for anything that is not a port and protocol.
/// Parses a Docker-style duration (`30s`, `1m30s`, `500ms`, `2h`) into nanoseconds.
pub fn duration_ns(text: &str) -> Option<u64> {
    let mut total: u64 = 0;
    let mut num = String::new();
    let mut chars = text.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let mut unit = c.to_string();
        if c == 'm' && chars.peek() == Some(&'s') {
            chars.next();
            unit = "ms".into();
        }
        let n: u64 = num.parse().ok()?;
        num.clear();
        let scale = match unit.as_str() {
            "h" => 3_600_000_000_000,
            "m" => 60_000_000_000,
            "s" => 1_000_000_000,
            "ms" => 1_000_000,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(scale)?)?;
        any = true;
    }
    (num.is_empty() && any).then_some(total)
}

/// Checks the `user` setting against the accounts; returns the config value, numeric
/// (`nonroot` → `65532`, `shop:shop` → `2000:2000`) as the catalog's nonroot tag writes it:
/// Kubernetes' `runAsNonRoot` can only verify a numeric user.
pub fn user_setting(spec: &AppSpec, accounts: &Accounts) -> anyhow::Result<Option<String>> {
    let Some(user) = &spec.recipe.user else {
        return Ok(None);
    };
    let (uid, gid) = accounts
        .owner(user)
        .map_err(|e| spec.error(None, "user", e))?;
    Ok(Some(if user.contains(':') {
        format!("{uid}:{gid}")
    } else {
        uid.to_string()
    }))
}

pub fn normalise_port(p: &str) -> Option<String> {
    let (n, proto) = p.split_once('/').unwrap_or((p, "tcp"));
    (n.parse::<u16>().is_ok_and(|n| n > 0) && matches!(proto, "tcp" | "udp" | "sctp"))
        .then(|| format!("{n}/{proto}"))
}

/// Applies a recipe's runtime settings to an image config (JSON, so a foreign base's other
/// fields survive), and checks that the entrypoint exists in the image.
pub fn apply_settings(
    app: &AppPrepared,
    config: &mut Value,
    view: &ImageView,
) -> anyhow::Result<()> {
    let r = &app.spec.recipe;
    let c = &mut config["config"];
    if let Some(e) = &r.entrypoint {
        c["Entrypoint"] = json!(e);
    }
    if let Some(cmd) = &r.cmd {
        c["Cmd"] = json!(cmd);
    }
    let mut env: Vec<String> = c["Env"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    for (k, v) in &r.env {
        env.retain(|e| !e.starts_with(&format!("{k}=")));
        env.push(format!("{k}={v}"));
    }
    if let Some(u) = &app.user {
        c["User"] = json!(u);
    }
    if let Some(w) = &r.workdir {
        c["WorkingDir"] = json!(w);
    }
    for (k, v) in &r.labels {
        c["Labels"][k] = json!(v);
    }
    for p in r.exposed_ports.iter().filter_map(|p| normalise_port(p)) {
        c["ExposedPorts"][p] = json!({});
    }
    for v in &r.volumes {
        c["Volumes"][v] = json!({});
    }
    if let Some(s) = &r.stop_signal {
        c["StopSignal"] = json!(s);
    }
    if let Some(h) = healthcheck(app) {
        c["Healthcheck"] = h;
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(PATH)
        .to_string();
    if let Some(program) = r.entrypoint.as_ref().and_then(|e| e.first()) {
        check_program(app, view, &path, "entrypoint", program)?;
    } else if let Some(program) = r.cmd.as_ref().and_then(|c| c.first())
        && c["Entrypoint"].as_array().is_none_or(Vec::is_empty)
    {
        // Without an entrypoint the engine runs the cmd's first word.
        check_program(app, view, &path, "cmd", program)?;
    }
    if let Some(h) = &r.healthcheck {
        match h.test.first().map(String::as_str) {
            Some("CMD") => check_program(app, view, &path, "test", &h.test[1])?,
            Some("CMD-SHELL") if !matches!(view.resolve("bin/sh"), Resolved::File(_)) => {
                return Err(app.spec.error(
                    None,
                    "test",
                    "CMD-SHELL runs /bin/sh, which the image does not have; use [\"CMD\", \"/program\", …]",
                ));
            }
            _ => {}
        }
    }
    c["Env"] = json!(env);
    Ok(())
}

/// Checks that a program the config starts (the entrypoint, the health check's command) is
/// in the image (absolute, or found on `PATH`); a copied one must also be executable and a
/// program (ELF, or a `#!` script).
fn check_program(
    app: &AppPrepared,
    view: &ImageView,
    path: &str,
    key: &str,
    program: &str,
) -> anyhow::Result<()> {
    if program.starts_with('/')
        && matches!(
            view.resolve(program.trim_start_matches('/')),
            Resolved::Dir(_)
        )
    {
        return Err(app.spec.error(
            None,
            key,
            format!("{program} is a directory, not a program"),
        ));
    }
    let file = |p: &str| match view.resolve(p.trim_start_matches('/')) {
        Resolved::File(real) => Some(real),
        _ => None,
    };
    let found = if program.starts_with('/') {
        file(program)
    } else {
        path.split(':')
            .find_map(|d| file(&format!("{d}/{program}")))
    };
    let Some(real) = found else {
        return Err(app
            .spec
            .error(None, key, format!("{program} is not in the image")));
    };
    let copied = app
        .copies
        .iter()
        .flat_map(|(_, e)| e)
        .find_map(|e| match e {
            GenEntry::Host(dest, host, meta) if *dest == real => Some((host, meta.mode)),
            _ => None,
        });
    let Some((host, mode)) = copied else {
        return Ok(());
    };
    if mode & 0o111 == 0 {
        return Err(app.spec.error(
            None,
            key,
            format!("{program} is not executable (mode {mode:04o}); give its copy mode = \"0755\""),
        ));
    }
    let mut head = [0u8; 4];
    let n = std::io::Read::read(&mut fs_err::File::open(host)?, &mut head)?;
    if !(crate::rootfs::elf::is_elf(&head[..n]) || head[..n].starts_with(b"#!")) {
        return Err(app.spec.error(
            None,
            key,
            format!("{program} is not a program (neither ELF nor a #! script)"),
        ));
    }
    Ok(())
}

/// A warning when the recipe's health check goes into an image format an engine ignores it
/// in: Podman reads `Healthcheck` only from docker-format images (Docker reads the config of
/// either), and Kubernetes never does.
pub fn healthcheck_warning(spec: &AppSpec, destination: &Destination) -> Option<String> {
    let h = spec.recipe.healthcheck.as_ref()?;
    if h.test == ["NONE"] || matches!(destination, Destination::DockerArchive(_)) {
        return None;
    }
    Some(format!(
        "{}: the healthcheck is in the image config, where Docker reads it; Podman ignores it in \
         OCI-format images (build with --format docker for Podman), and Kubernetes uses its \
         own probes",
        spec.file
    ))
}

/// The Docker/Podman `Healthcheck` object of a recipe.
fn healthcheck(app: &AppPrepared) -> Option<Value> {
    let h = app.spec.recipe.healthcheck.as_ref()?;
    let mut v = json!({ "Test": h.test });
    for (key, value) in [
        ("Interval", &h.interval),
        ("Timeout", &h.timeout),
        ("StartPeriod", &h.start_period),
    ] {
        if let Some(ns) = value.as_deref().and_then(duration_ns) {
            v[key] = ns.into();
        }
    }
    if let Some(n) = h.retries {
        v["Retries"] = n.into();
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration_ns("30s"), Some(30_000_000_000));
        assert_eq!(duration_ns("1m30s"), Some(90_000_000_000));
        assert_eq!(duration_ns("500ms"), Some(500_000_000));
        assert_eq!(duration_ns("5"), None);
        assert_eq!(duration_ns("3x"), None);
    }

    #[test]
    fn signals() {
        for good in ["SIGTERM", "TERM", "15", "SIGRTMIN+3", "RTMAX-1", "SIGWINCH"] {
            assert!(is_signal(good), "{good}");
        }
        for bad in [
            "SIGFOO",
            "0",
            "65",
            "",
            "SIG",
            "RTMIN+x",
            "RTMINé",
            "SIGRTMAX+5",
            "RTMIN+40",
        ] {
            assert!(!is_signal(bad), "{bad}");
        }
    }

    #[test]
    fn ports() {
        assert_eq!(normalise_port("8080").as_deref(), Some("8080/tcp"));
        assert_eq!(normalise_port("53/udp").as_deref(), Some("53/udp"));
        assert_eq!(normalise_port("0"), None);
        assert_eq!(normalise_port("80/icmp"), None);
    }
}
