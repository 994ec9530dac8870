//! Publishing: images sent to registries ([`push`]), signed and attested where they are
//! ([`signed`]), pulled into a destination or the cache ([`pull`]), and a family of catalog
//! images built into one layout and published at once ([`family`]). The binary turns flags
//! into a registry client and these calls, and prints what they return.

pub mod family;
pub mod login;
pub mod pull;
pub mod push;
pub mod signed;

use std::path::Path;
use std::rc::Rc;

use registry::push::Pushed;
use registry::{Client, Reference};

use crate::output::BuildSummary;

/// Pushes what a build wrote (the layout at `output`, under the summary's tags) to every
/// target, then with a key signs and attests it (from the summary's evidence) in every
/// repository it went to. Returns what was pushed and the lines of what was signed.
pub fn push_built(
    client: &Rc<Client>,
    (summary, output): (&BuildSummary, &Path),
    targets: &[Reference],
    (arch_tags, cache): (bool, &Path),
    key: Option<&sign::KeyPair>,
) -> anyhow::Result<(Vec<Pushed>, Vec<String>)> {
    let image = oci::read::ForeignImage::open(output, summary.tags.first().map(String::as_str))?;
    let refs = push::targets_for_tags(targets, &summary.tags);
    let pushed = push::push_image(client, &image, &refs, arch_tags, cache)?;
    let signed = match (key, &summary.evidence) {
        (Some(key), Some(evidence)) => signed::sign_pushed(client, &refs, key, evidence)?,
        _ => Vec::new(),
    };
    Ok((pushed, signed))
}

/// Signs and attests a build's image in the layout it was written to (the referrers travel
/// with `distroless push`); returns how many artifacts were stored.
pub fn sign_in_layout(
    summary: &BuildSummary,
    dir: &Path,
    key: &sign::KeyPair,
) -> anyhow::Result<usize> {
    let image = signed::Image::Layout {
        dir: dir.to_path_buf(),
        tag: summary.tags.first().cloned(),
    };
    Ok(signed::sign_and_attest(&image, key, true, summary.evidence.as_ref())?.len())
}
