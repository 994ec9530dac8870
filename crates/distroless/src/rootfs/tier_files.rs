//! What a catalog recipe asks of its tier's files: paths removed (`remove`, `debug_remove`)
//! and symbolic links made (`symlinks`, `debug_symlinks`).

use std::collections::BTreeMap;

use super::Tree;
use super::effect::{Effect, Inputs};

/// Paths the recipe removes from the tier's packages. `if_present`: only those this layer has
/// (with one layer per package, the other packages' layers hold the rest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removals {
    pub paths: Vec<String>,
    pub if_present: bool,
}

impl Effect for Removals {
    fn name(&self) -> &'static str {
        "remove"
    }

    fn key(&self, _: &dyn Inputs) -> anyhow::Result<String> {
        Ok(format!("{:?} {}", self.paths, self.if_present))
    }

    fn apply(&self, tree: &mut Tree, _: &dyn Inputs) -> anyhow::Result<()> {
        for path in &self.paths {
            let path = path.trim_start_matches('/');
            anyhow::ensure!(
                tree.remove(path) || self.if_present,
                "recipe removes /{path}, which no package of the tier ships"
            );
        }
        Ok(())
    }
}

/// Links the recipe makes (path → target).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Symlinks(pub BTreeMap<String, String>);

impl Effect for Symlinks {
    fn name(&self) -> &'static str {
        "symlinks"
    }

    fn key(&self, _: &dyn Inputs) -> anyhow::Result<String> {
        Ok(format!("{:?}", self.0))
    }

    fn apply(&self, tree: &mut Tree, _: &dyn Inputs) -> anyhow::Result<()> {
        for (path, target) in &self.0 {
            tree.put_symlink(path.trim_start_matches('/'), target)?;
        }
        Ok(())
    }
}
