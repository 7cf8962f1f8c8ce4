//! The consistency token of `?after=`: any text is a token or not (never a
//! panic), and a token written out again parses to the same records.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shopflow_api::write::parse_token;

fuzz_target!(|text: &str| {
    if let Some(records) = parse_token(text) {
        assert!(!records.is_empty());
        let again: Vec<String> = records.iter().map(|(t, p, o)| format!("{t}:{p}:{o}")).collect();
        assert_eq!(parse_token(&again.join(",")), Some(records), "{text:?}");
    }
});
