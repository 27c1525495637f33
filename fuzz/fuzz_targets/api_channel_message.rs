//! `POST /api/v1/channels/{id}/messages`: any body goes through the handler's parser and checks
//! (`parse_body` then `Inbound::checked`) without a panic; a bad one is an `ApiError`.

#![no_main]

use centralita::http::{Inbound, parse_body};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let _ = parse_body::<Inbound>(body).and_then(Inbound::checked);
});
