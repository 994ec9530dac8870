//! Reports as people read them: the tables, trees and summaries the binary prints. These only
//! format, into any writer (the binary writes them to its standard output; tests to a buffer);
//! `--json` output is the reports' own serialisation and lives with them.

pub mod build;
pub mod family;
pub mod inspect;
pub mod publish;
