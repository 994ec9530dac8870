//! The sources beyond Debian the command line and the environment name: `--archive-mirror`,
//! `--archive-key`, `--repository`, `--repository-key` and their comma-separated environment
//! variables, given to the library's [`Upstreams::merge`] once.

use distroless::model::upstream::{Given, Upstreams};

use super::args::SourceArgs;
use super::env;

/// The overrides the flags and their environment variables give.
pub(crate) fn read(args: &SourceArgs) -> anyhow::Result<Upstreams> {
    let given = |flag: &str, var: &str, items: &[String]| Given {
        flag: flag.to_string(),
        var: var.to_string(),
        env: env::value(var),
        items: items.to_vec(),
    };
    Upstreams::merge(&[
        given(
            "--archive-mirror",
            env::ARCHIVE_MIRROR,
            &args.archive_mirror,
        ),
        given("--archive-key", env::ARCHIVE_KEY, &args.archive_key),
        given("--repository", env::REPOSITORY, &args.repository),
        given(
            "--repository-key",
            env::REPOSITORY_KEY,
            &args.repository_key,
        ),
    ])
}
