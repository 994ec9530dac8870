//! The command line: clap types ([`args`]), one module per subcommand that turns its
//! arguments into a typed request, calls the library and prints, the progress bars, and the
//! hints that name flags in errors. Private to the binary.

pub(crate) mod args;
pub(crate) mod build;
pub(crate) mod debug;
pub(crate) mod hints;
pub(crate) mod inspect;
pub(crate) mod keys;
pub(crate) mod list;
pub(crate) mod lock;
pub(crate) mod matrix;
pub(crate) mod needs;
pub(crate) mod progress;
pub(crate) mod registry;
pub(crate) mod signing;
pub(crate) mod source;
