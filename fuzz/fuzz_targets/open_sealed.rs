//! See `session_fuzz_support::sealed` for the input format and the invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| session_fuzz_support::sealed::check(data));
