//! Runtime settings of an application image: durations, ports and the user, checked; and
//! the config fields they become (`Entrypoint`, `Env`, `Healthcheck`, …).

use serde_json::{Value, json};

use super::{Accounts, AppPrepared, AppSpec};
use crate::model::PATH;
use crate::rootfs::view::{ImageView, Resolved};

/// Checks the health check's durations and test, and the exposed ports.
pub fn check(spec: &AppSpec) -> anyhow::Result<()> {
    if let Some(h) = &spec.recipe.healthcheck {
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
        if h.test.is_empty() {
            return Err(spec.error(None, "test", "the health check needs a test command"));
        }
    }
    for p in &spec.recipe.exposed_ports {
        if normalise_port(p).is_none() {
            return Err(spec.error(
                None,
                "exposed_ports",
                format!("{p:?} is not a port like \"8080\" or \"53/udp\""),
            ));
        }
    }
    Ok(())
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

/// Checks the `user` setting against the accounts; returns the config value.
pub fn user_setting(spec: &AppSpec, accounts: &Accounts) -> anyhow::Result<Option<String>> {
    let Some(user) = &spec.recipe.user else {
        return Ok(None);
    };
    let (u, _) = user.split_once(':').unwrap_or((user, ""));
    if u.parse::<u32>().is_err() {
        accounts
            .owner(user)
            .map_err(|e| spec.error(None, "user", e))?;
    }
    Ok(Some(user.clone()))
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
    if let Some(program) = r.entrypoint.as_ref().and_then(|e| e.first()) {
        let is_file = |p: &str| matches!(view.resolve(p), Resolved::File(_));
        let found = if program.starts_with('/') {
            is_file(program)
        } else {
            let path = env
                .iter()
                .find_map(|e| e.strip_prefix("PATH="))
                .unwrap_or(PATH);
            path.split(':').any(|d| is_file(&format!("{d}/{program}")))
        };
        if !found {
            return Err(app.spec.error(
                None,
                "entrypoint",
                format!("{program} is not in the image"),
            ));
        }
    }
    c["Env"] = json!(env);
    Ok(())
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
    fn ports() {
        assert_eq!(normalise_port("8080").as_deref(), Some("8080/tcp"));
        assert_eq!(normalise_port("53/udp").as_deref(), Some("53/udp"));
        assert_eq!(normalise_port("0"), None);
        assert_eq!(normalise_port("80/icmp"), None);
    }
}
