//! The widget's inbound bodies, `POST /widget/v1/visitors` and `POST /widget/v1/messages`: any
//! body goes through each handler's parser and checks without a panic.

#![no_main]

use centralita::http::{NewVisitor, VisitorMessage, parse_body};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let _ = parse_body::<NewVisitor>(body).and_then(NewVisitor::profile);
    let _ = parse_body::<VisitorMessage>(body).and_then(VisitorMessage::checked);
});
