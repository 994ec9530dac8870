//! Which packages and generated files go in each layer: one layer per tier (or per package),
//! the skeleton in the first, the tiers' upstream archives above their packages, busybox last.

use debian::index::Package;

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{Layering, Unit};
use crate::model::recipe::Recipe;
use crate::plan::Plan;
use crate::rootfs::busybox::Busybox;
use crate::rootfs::cacerts::CaBundle;
use crate::rootfs::effect::Effect;
use crate::rootfs::javacerts::JavaTrustStore;
use crate::rootfs::skeleton::Skeleton;
use crate::rootfs::tier_files::{Removals, Symlinks};

/// Splits a plan into layers. `chain` holds the recipe of every tier, in order.
pub fn units(
    plan: &Plan,
    chain: &[&Recipe],
    layering: Layering,
    debug: bool,
    mut after: Vec<(String, Unit)>,
) -> Vec<Unit> {
    let mut out = Vec::new();
    for (i, tier) in plan.tiers.iter().enumerate() {
        tier_units(&mut out, i, tier, chain, plan, layering);
        // Units a tier's recipe adds above its packages (its upstream archives).
        let (own, rest): (Vec<_>, Vec<_>) = after.into_iter().partition(|(t, _)| *t == tier.name);
        out.extend(own.into_iter().map(|(_, u)| u));
        after = rest;
    }
    // Those of a tier the plan does not have (an application without packages).
    out.extend(after.into_iter().map(|(_, u)| u));
    if debug {
        out.push(Unit {
            label: "distroless debug: busybox".into(),
            effects: vec![Arc::new(Busybox)],
            ..Unit::default()
        });
    }
    out
}

/// The units of one tier: one layer, or one per package and one for what it generates.
fn tier_units(
    out: &mut Vec<Unit>,
    i: usize,
    tier: &crate::plan::Tier,
    chain: &[&Recipe],
    plan: &Plan,
    layering: Layering,
) {
    let expand = |paths: &[String]| -> Vec<String> {
        paths
            .iter()
            .map(|p| p.replace("{arch}", plan.arch.debian()))
            .collect()
    };
    // The `:debug` tier (debug_packages) has its own removals.
    let debug_of = chain
        .iter()
        .find(|r| tier.name.strip_suffix(":debug") == Some(r.name.as_str()));
    let extras = chain
        .iter()
        .find(|r| r.name == tier.name)
        .map(|r| Extras {
            symlinks: r.symlinks_for(plan.release, plan.arch.debian()),
            remove: expand(&r.remove),
            remove_if_present: false,
            java_trust_store: r.java_trust_store,
        })
        .or_else(|| {
            debug_of.map(|r| Extras {
                remove: expand(&r.debug_remove),
                symlinks: (r.debug_symlinks.iter())
                    .map(|(k, v)| (k.clone(), v.replace("{arch}", plan.arch.debian())))
                    .collect(),
                ..Extras::default()
            })
        })
        .unwrap_or_default();
    match layering {
        Layering::Tier => {
            let changes = !tier.packages.is_empty()
                || !tier.partial.is_empty()
                || extras != Extras::default();
            out.push(Unit {
                label: format!("distroless {} tier: {}", tier.name, names(&tier.packages)),
                packages: tier.packages.clone(),
                partial: tier.partial.clone(),
                effects: if i == 0 { skeleton() } else { Vec::new() }
                    .into_iter()
                    .chain(extras.effects())
                    .collect(),
                ldcache: changes,
                ..Unit::default()
            });
        }
        Layering::Package => {
            // The recipe's removals happen in the layer of the package that ships the file.
            let removals = Extras {
                remove: extras.remove.clone(),
                remove_if_present: true,
                ..Extras::default()
            };
            for p in &tier.packages {
                out.push(Unit {
                    label: format!("distroless package: {} {}", p.name, p.version),
                    packages: vec![p.clone()],
                    effects: removals.effects(),
                    ..Unit::default()
                });
            }
            // Above the first tier's packages: what it generates (os-release, accounts)
            // replaces what base-files ships, as in a tier's single layer.
            if i == 0 {
                out.push(Unit {
                    label: "distroless skeleton: accounts, os-release, CA bundle".into(),
                    effects: skeleton(),
                    ..Unit::default()
                });
            }
            out.push(Unit {
                label: format!("distroless {} generated files", tier.name),
                partial: tier.partial.clone(),
                effects: Extras {
                    remove: Vec::new(),
                    ..extras
                }
                .effects(),
                ldcache: true,
                ..Unit::default()
            });
        }
    }
}

fn names(packages: &[Package]) -> String {
    packages
        .iter()
        .map(|p| p.name.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// What generates the first layer's own files: accounts, os-release, directories, then the CA
/// bundle over base-files'.
fn skeleton() -> Vec<Arc<dyn Effect>> {
    vec![Arc::new(Skeleton), Arc::new(CaBundle)]
}

/// Files a recipe generates or removes in its tier.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Extras {
    symlinks: BTreeMap<String, String>,
    remove: Vec<String>,
    /// Remove only what this unit has of `remove` (one package's layer of a tier whose recipe
    /// removes files: the other packages' layers hold the rest).
    remove_if_present: bool,
    java_trust_store: bool,
}

impl Extras {
    /// Its effects, in the order they apply: removals, links, the Java trust store.
    fn effects(&self) -> Vec<Arc<dyn Effect>> {
        let mut out: Vec<Arc<dyn Effect>> = Vec::new();
        if !self.remove.is_empty() {
            out.push(Arc::new(Removals {
                paths: self.remove.clone(),
                if_present: self.remove_if_present,
            }));
        }
        if !self.symlinks.is_empty() {
            out.push(Arc::new(Symlinks(self.symlinks.clone())));
        }
        if self.java_trust_store {
            out.push(Arc::new(JavaTrustStore));
        }
        out
    }
}
