//! libFuzzer entry point of the `metadata` target (see `wfstore_fuzz::metadata`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    wfstore_fuzz::metadata(data);
});
