//! Writes the seed corpus of every fuzz target (`seeds <dir>` fills `<dir>/<target>/`), after
//! running each seed through its target's check, so a seed step that passes on a stable
//! toolchain already says the invariants hold on valid input.

use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let root = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("corpus"));
    for (target, seeds) in session_fuzz_support::seeds() {
        let check = session_fuzz_support::check_of(target);
        let dir = root.join(target);
        std::fs::create_dir_all(&dir)?;
        for (index, seed) in seeds.iter().enumerate() {
            check(seed);
            std::fs::write(dir.join(format!("seed-{index:03}")), seed)?;
        }
        println!(
            "{target}: {} seeds checked and written to {}",
            seeds.len(),
            dir.display()
        );
    }
    Ok(())
}
