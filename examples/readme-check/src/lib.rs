//! The READMEs' code blocks as doctests, so that a README can never drift from the code:
//! `cargo test -p readme-check --doc`. They compile against this crate's dependencies, which are
//! what the READMEs tell a user to add, and nothing more. The adapters' READMEs are also their
//! crate documentation (compiled there against the adapters' own development dependencies);
//! here they are held to the dependency lines they print.

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

#[cfg(doctest)]
#[doc = include_str!("../../../session-axum/README.md")]
mod session_axum_readme {}

#[cfg(doctest)]
#[doc = include_str!("../../../session-actix/README.md")]
mod session_actix_readme {}

#[cfg(doctest)]
#[doc = include_str!("../../../session-rocket/README.md")]
mod session_rocket_readme {}
