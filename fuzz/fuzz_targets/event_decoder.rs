//! The event decoder: any bytes, read from any topic with any key, either
//! decode or are refused with a reason (never a panic); what decodes encodes
//! to a record that decodes to the same event.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shopflow_topics::{Envelope, Topic};

fuzz_target!(|data: &[u8]| {
    // The first byte chooses the topic, the second how many of the rest are the key.
    let [which, key_length, rest @ ..] = data else { return };
    let topic = Topic::ALL[usize::from(*which) % Topic::ALL.len()];
    let (key, value) = rest.split_at(usize::from(*key_length).min(rest.len()));
    let key = (*key_length != 0).then_some(key);
    if let Ok(envelope) = Envelope::decode_record(topic.name(), key, value) {
        let again = Envelope::decode_record(topic.name(), Some(envelope.key().as_bytes()), &envelope.to_json())
            .expect("an event encoded decodes");
        assert_eq!(again, envelope, "encoding and decoding again changed the event");
    }
});
