//! Cuts the root README's configuration example out of the README, so that a test can hold the
//! TOML and the Rust code that the README calls equal to each other without a hidden line in
//! the rendered README.

use std::path::{Path, PathBuf};

/// The first fenced block of `language` after `marker`.
fn block_after<'a>(text: &'a str, marker: &str, language: &str) -> &'a str {
    let after = text
        .find(marker)
        .map(|at| &text[at..])
        .unwrap_or_else(|| panic!("README.md has no `{marker}`"));
    let fence = format!("```{language}\n");
    let start = after
        .find(&fence)
        .map(|at| at + fence.len())
        .unwrap_or_else(|| panic!("README.md has no {language} block after `{marker}`"));
    let end = after[start..].find("\n```").unwrap_or_else(|| {
        panic!("README.md: the {language} block after `{marker}` is not closed")
    });
    &after[start..start + end + 1]
}

fn main() {
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
    println!("cargo:rerun-if-changed={}", readme.display());
    let text = std::fs::read_to_string(&readme).expect("the repository's README.md");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));

    let toml = block_after(&text, "## Configuration", "toml");
    std::fs::write(out.join("configuration.toml"), toml).expect("OUT_DIR is writable");

    // A block expression: the README's statements, then the value they built.
    let code = block_after(&text, "The same configuration in code", "rust");
    std::fs::write(
        out.join("configuration_in_code.rs"),
        format!("{{\n{code}\nconfig\n}}\n"),
    )
    .expect("OUT_DIR is writable");
}
