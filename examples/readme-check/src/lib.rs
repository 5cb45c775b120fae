//! The READMEs' code blocks as doctests, so that a README can never drift from the code:
//! `cargo test -p readme-check --doc`. The adapter crates test their own READMEs, which are
//! their crate documentation.

#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
mod repository_readme {}

#[cfg(doctest)]
#[doc = include_str!("../../../session-core/README.md")]
mod session_core_readme {}

#[cfg(doctest)]
#[doc = include_str!("../../../session-stores/README.md")]
mod session_stores_readme {}

#[cfg(doctest)]
#[doc = include_str!("../../../session-cli/README.md")]
mod session_cli_readme {}
