#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| whatsapi_fuzz::meta_webhook(data));
