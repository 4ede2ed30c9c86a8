//! libFuzzer entry point of the `record_array` target (see `wfstore_fuzz::record_array`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    wfstore_fuzz::record_array(data);
});
