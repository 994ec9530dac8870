//! Publishing: images sent to registries ([`push`]), signed and attested where they are
//! ([`signed`]), pulled into a destination or the cache ([`pull`]), and a family of catalog
//! images built into one layout and published at once ([`family`]). The binary turns flags
//! into a registry client and these calls, and prints what they return.

pub mod family;
pub mod pull;
pub mod push;
pub mod signed;
