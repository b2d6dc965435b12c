//! Fuzz target: the node's datagram handling, timers and hooks.
#![no_main]

include!("../checks.rs");

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    check_node(data);
});
