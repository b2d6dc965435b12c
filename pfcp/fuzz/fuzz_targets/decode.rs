//! Fuzz target: PFCP datagram decode (and encode of what decodes).
#![no_main]

include!("../checks.rs");

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    check_decode(data);
});
