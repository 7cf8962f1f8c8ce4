//! Mirroring: a range of topics copied to another cluster, record for
//! record — each to the same partition, with its key, value, headers and
//! timestamp (so its event id) unchanged — and idempotent: run again, it
//! copies only what the destination does not hold yet.
//!
//! Per partition, the destination's records are counted by content (key,
//! value and headers); a source record is copied only when no record of the
//! same content is left uncounted there. A record sent twice at the source
//! (a producer's retry that made a duplicate) is copied twice; a re-run
//! copies nothing.

use crate::producer::RecordProducer;
use crate::range::{read, reader, Span};
use crate::KafkaError;
use rdkafka::message::{BorrowedMessage, Headers, Message, OwnedHeaders};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

/// What one partition's mirroring did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Copied {
    /// Records of the range read at the source.
    pub read: u64,
    /// Of them, copied to the destination.
    pub copied: u64,
    /// Of them, already there.
    pub present: u64,
}

/// The content of a record, for telling whether the destination holds it.
fn content(message: &BorrowedMessage<'_>) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    message.key().hash(&mut hasher);
    message.payload().hash(&mut hasher);
    if let Some(headers) = message.headers() {
        for header in headers.iter() {
            header.key.hash(&mut hasher);
            header.value.hash(&mut hasher);
        }
    }
    hasher.finish()
}

fn headers_of(message: &BorrowedMessage<'_>) -> Option<OwnedHeaders> {
    message.headers().map(|h| h.detach())
}

/// Mirrors `spans` (each topic as named at the source) from `from_brokers`
/// to the same partitions of `to` (each span's topic as named at the
/// destination) at `to_brokers` through `producer`; what happened per span.
pub fn mirror(
    from_brokers: &str,
    to_brokers: &str,
    producer: &RecordProducer,
    spans: &[Span],
    to: &[String],
    mut progress: impl FnMut(&[Copied]),
) -> Result<Vec<Copied>, KafkaError> {
    // What the destination holds already, by span and content.
    let mut held: Vec<HashMap<u64, u64>> = vec![HashMap::new(); spans.len()];
    let whole: Vec<Span> = spans.iter().zip(to).map(|((_, p, _, _), topic)| (topic.clone(), *p, None, None)).collect();
    read(&reader(to_brokers, "shopflow-mirror")?, &whole, |i, message| {
        *held[i].entry(content(message)).or_default() += 1;
        Ok(())
    })?;
    let mut done = vec![Copied::default(); spans.len()];
    let mut read_so_far = 0u64;
    read(&reader(from_brokers, "shopflow-mirror")?, spans, |i, message| {
        let span = &mut done[i];
        span.read += 1;
        match held[i].get_mut(&content(message)).filter(|n| **n > 0) {
            Some(n) => {
                *n -= 1;
                span.present += 1;
            }
            None => {
                let timestamp = message.timestamp().to_millis();
                let (key, value, headers) = (message.key(), message.payload(), headers_of(message));
                producer.send_copy(&to[i], spans[i].1, key, value, headers, timestamp)?;
                span.copied += 1;
            }
        }
        read_so_far += 1;
        if read_so_far.is_multiple_of(10_000) {
            progress(&done);
        }
        Ok(())
    })?;
    Ok(done)
}
