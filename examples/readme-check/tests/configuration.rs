//! The root README shows one configuration twice, as TOML and as code, and says they are equal
//! field for field: this holds it to that. `build.rs` cuts both out of the README.

use session_axum::SessionsConfig;

// The README's statements end in `let config = ...;`, which the block then returns.
#[allow(clippy::let_and_return)]
fn from_code() -> SessionsConfig {
    include!(concat!(env!("OUT_DIR"), "/configuration_in_code.rs"))
}

#[test]
fn the_readme_configuration_in_code_equals_its_toml() {
    let toml = include_str!(concat!(env!("OUT_DIR"), "/configuration.toml"));
    let from_toml = SessionsConfig::from_toml(toml).expect("the README's TOML parses");
    assert_eq!(from_code(), from_toml);
}
