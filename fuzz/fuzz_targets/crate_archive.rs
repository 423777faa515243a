//! `read_crate_bytes` on any bytes: a typed error or a request, never a panic, and memory
//! bounded by the limits (libFuzzer's -rss_limit_mb catches a blow-up).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = registry_jobs::read_crate_bytes("fuzzed-1.0.0", data) {
        assert_eq!(request.name, "fuzzed");
        assert_eq!(request.vers, "1.0.0");
        assert_eq!(request.cksum.len(), 64);
    }
});
