//! What the fuzz targets share, so that each target is one call and the checks can be read in
//! one place:
//!
//! - [`keys`]: fixed secrets (so a corpus stays valid from run to run), among them two pairs whose
//!   key ids collide, and the key ring every target opens with;
//! - [`reference`]: an independent implementation of opening, written from `docs/WIRE_FORMAT.md`
//!   with the RustCrypto crates called directly, which says whether a value was sealed under a
//!   listed key for a name;
//! - one module per target with its `check` (the invariants, as assertions) and its `seeds`
//!   (valid inputs the seed step of `scripts/fuzz.sh` writes to `fuzz/corpus/<target>/`).
//!
//! Every check asserts three things: nothing panics, nothing opens that was not sealed under a
//! listed key for that name, and round trips are exact.

#![forbid(unsafe_code)]

pub mod config;
pub mod envelope;
pub mod intake;
pub mod keys;
pub mod reference;
pub mod sealed;

/// The fuzz targets, by name, with their seeds.
pub fn seeds() -> Vec<(&'static str, Vec<Vec<u8>>)> {
    vec![
        ("open_sealed", sealed::seeds()),
        ("cookie_intake", intake::seeds()),
        ("envelope", envelope::seeds()),
        ("config", config::seeds()),
    ]
}

/// The check of the fuzz target `target`.
pub fn check_of(target: &str) -> fn(&[u8]) {
    match target {
        "open_sealed" => sealed::check,
        "cookie_intake" => intake::check,
        "envelope" => envelope::check,
        "config" => config::check,
        _ => panic!("no fuzz target named `{target}`"),
    }
}

/// The text of a fuzz input as a request would carry it: only UTF-8 reaches the core (adapters
/// skip header values that are not), so other input is read lossily rather than thrown away.
pub fn text(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}

/// Runs `future` on the targets' one current-thread Tokio runtime.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RUNTIME
        .get_or_init(
            || match tokio::runtime::Builder::new_current_thread().build() {
                Ok(runtime) => runtime,
                Err(error) => panic!("could not start a Tokio runtime: {error}"),
            },
        )
        .block_on(future)
}
