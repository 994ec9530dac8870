//! Recipe keys given as flags (`--copy`, `--entrypoint`, `--env`, …), laid over a recipe file
//! (or standing alone): values replace the recipe's, lists extend them. The binary fills an
//! [`Overrides`] from its flags; this is the one place that says how each key is overridden.

use anyhow::Context;

use crate::model::recipe::{CopySpec, Healthcheck, Recipe};

/// The keys given as flags, as they were given (`SRC:DEST`, `KEY=VALUE`, words).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub from: Option<String>,
    pub copy: Vec<String>,
    pub packages: Vec<String>,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub label: Vec<String>,
    pub annotation: Vec<String>,
    pub expose: Vec<String>,
    pub volume: Vec<String>,
    pub stop_signal: Option<String>,
    pub tag: Vec<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub debian: Option<u32>,
    pub exclude_packages: Vec<String>,
    pub ca_certificates: Vec<String>,
    pub healthcheck: Vec<String>,
    pub healthcheck_interval: Option<String>,
}

impl Overrides {
    /// Whether any key was given (flags alone make a recipe).
    pub fn any(&self) -> bool {
        self.from.is_some()
            || !self.copy.is_empty()
            || !self.packages.is_empty()
            || !self.entrypoint.is_empty()
            || !self.cmd.is_empty()
            || !self.env.is_empty()
            || self.workdir.is_some()
            || self.user.is_some()
            || !self.label.is_empty()
            || !self.annotation.is_empty()
            || !self.expose.is_empty()
            || !self.volume.is_empty()
            || self.stop_signal.is_some()
            || !self.tag.is_empty()
            || self.name.is_some()
            || self.description.is_some()
            || self.debian.is_some()
            || !self.exclude_packages.is_empty()
            || !self.ca_certificates.is_empty()
            || !self.healthcheck.is_empty()
    }

    /// Applies the overrides to a recipe: values replace the recipe's, lists extend them.
    pub fn apply(&self, r: &mut Recipe) -> anyhow::Result<()> {
        let a = self;
        if let Some(f) = &a.from {
            r.from = Some(f.clone());
        }
        for c in &a.copy {
            let (src, dest) = c
                .rsplit_once(':')
                .with_context(|| format!("--copy {c:?}: expected SRC:DEST"))?;
            r.copy.push(CopySpec {
                src: src.into(),
                dest: dest.into(),
                ..Default::default()
            });
        }
        r.packages.extend(a.packages.iter().cloned());
        if !a.entrypoint.is_empty() {
            r.entrypoint = Some(a.entrypoint.clone());
        }
        if !a.cmd.is_empty() {
            r.cmd = Some(a.cmd.clone());
        }
        r.env.extend(pairs(&a.env, "env")?);
        r.labels.extend(pairs(&a.label, "label")?);
        r.annotations.extend(pairs(&a.annotation, "annotation")?);
        if a.workdir.is_some() {
            r.workdir.clone_from(&a.workdir);
        }
        if a.user.is_some() {
            r.user.clone_from(&a.user);
        }
        r.exposed_ports.extend(a.expose.iter().cloned());
        r.volumes.extend(a.volume.iter().cloned());
        if a.stop_signal.is_some() {
            r.stop_signal.clone_from(&a.stop_signal);
        }
        if !a.tag.is_empty() {
            r.tags.clone_from(&a.tag);
        }
        if let Some(n) = &a.name {
            r.name.clone_from(n);
        }
        if let Some(d) = &a.description {
            r.description.clone_from(d);
        }
        if a.debian.is_some() {
            r.debian = a.debian;
        }
        r.exclude.extend(a.exclude_packages.iter().cloned());
        r.ca_certificates.extend(a.ca_certificates.iter().cloned());
        if !a.healthcheck.is_empty() {
            let test = if a.healthcheck == ["NONE"] {
                a.healthcheck.clone()
            } else {
                std::iter::once("CMD".to_string())
                    .chain(a.healthcheck.iter().cloned())
                    .collect()
            };
            let old = r.healthcheck.take().unwrap_or_default();
            r.healthcheck = Some(Healthcheck {
                test,
                interval: a.healthcheck_interval.clone().or(old.interval),
                ..old
            });
        }
        Ok(())
    }
}

/// `KEY=VALUE` flags as pairs.
fn pairs(items: &[String], what: &str) -> anyhow::Result<Vec<(String, String)>> {
    items
        .iter()
        .map(|i| {
            i.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .with_context(|| format!("--{what} {i:?}: expected KEY=VALUE"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_replace_and_lists_extend() {
        let mut r = Recipe::parse(
            "t.toml",
            "name = \"t\"\npackages = [\"libpq5\"]\nentrypoint = [\"/old\"]\n",
        )
        .unwrap();
        let o = Overrides {
            packages: vec!["libssl3".into()],
            entrypoint: vec!["/app".into()],
            env: vec!["A=1".into()],
            copy: vec!["build/app:/app".into()],
            healthcheck: vec!["/app".into(), "--ping".into()],
            ..Overrides::default()
        };
        assert!(o.any() && !Overrides::default().any());
        o.apply(&mut r).unwrap();
        assert_eq!(r.packages, ["libpq5", "libssl3"]);
        assert_eq!(r.entrypoint.as_deref(), Some(&["/app".to_string()][..]));
        assert_eq!(r.env["A"], "1");
        assert_eq!(
            (r.copy[0].src.as_str(), r.copy[0].dest.as_str()),
            ("build/app", "/app")
        );
        assert_eq!(r.healthcheck.unwrap().test, ["CMD", "/app", "--ping"]);
    }

    #[test]
    fn malformed_pairs_are_refused_naming_the_flag() {
        let mut r = Recipe::parse("t.toml", "name = \"t\"\n").unwrap();
        let e = Overrides {
            label: vec!["nolabel".into()],
            ..Overrides::default()
        }
        .apply(&mut r)
        .unwrap_err();
        assert_eq!(e.to_string(), "--label \"nolabel\": expected KEY=VALUE");
        let e = Overrides {
            copy: vec!["nodest".into()],
            ..Overrides::default()
        }
        .apply(&mut r)
        .unwrap_err();
        assert!(e.to_string().contains("expected SRC:DEST"), "{e}");
    }
}
