//! libFuzzer entry point of the `zip_archive` target (see `wfstore_fuzz::zip_archive`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    wfstore_fuzz::zip_archive(data);
});
