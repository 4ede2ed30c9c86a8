//! libFuzzer entry point of the `json_spans` target (see `wfstore_fuzz::json_spans`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    wfstore_fuzz::json_spans(data);
});
