//! libFuzzer entry point of the `object_chunk` target (see `wfstore_fuzz::object_chunk`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    wfstore_fuzz::object_chunk(data);
});
