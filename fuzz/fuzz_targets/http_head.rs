//! The egress HTTP/1.1 request-head parser (vodpack-service `http::conn`), and the check that
//! recognises hyper's automatic error answers.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vodpack_service::http::conn::{Head, automatic_error_status, parse};

fuzz_target!(|data: &[u8]| {
    if let Head::Complete { req, used, .. } = parse(data) {
        assert!(
            used > 0 && used <= data.len(),
            "head length outside the input"
        );
        assert!(
            req.uri().path().starts_with("/out/"),
            "a non-egress path taken"
        );
        // The head alone parses to the same request: nothing after it was read.
        match parse(&data[..used]) {
            Head::Complete {
                req: again,
                used: u,
                ..
            } => {
                assert_eq!(u, used);
                assert_eq!(again.uri(), req.uri());
                assert_eq!(again.method(), req.method());
            }
            other => panic!("the head alone parses as {other:?}"),
        }
    }
    let _ = automatic_error_status(data);
});
