//! Fuzzes the whole pipeline entry (any frame on any interface) and checks
//! the fast path against the general path. Run with
//! `cargo +nightly fuzz run pipeline` from `dataplane/`; the committed seed
//! corpus is replayed on stable by `tests/fuzz_corpus.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    dataplane::testkit::fuzz_pipeline(data);
});
