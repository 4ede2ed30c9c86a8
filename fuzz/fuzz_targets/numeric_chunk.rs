//! libFuzzer entry point of the `numeric_chunk` target (see `wfstore_fuzz::numeric_chunk`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    wfstore_fuzz::numeric_chunk(data);
});
