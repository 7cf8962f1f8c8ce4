//! The CloudEvents 1.0 structured envelope around every event.

use crate::error::DecodeError;
use crate::events::Event;
use crate::fields::Obj;
use crate::json::Json;
use crate::registry::Topic;
use crate::time::EventTime;
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::Value;

/// The CloudEvents spec version the contract speaks.
pub const SPEC_VERSION: &str = "1.0";

/// The largest record value that can be an event: 1 MiB. The contract's
/// largest events (a product with its description, attributes and images)
/// are a few kilobytes; a larger record is a dead letter ("record too
/// large") before any of it is parsed, so one huge record costs neither the
/// memory nor the time of decoding it.
pub const MAX_RECORD_BYTES: usize = 1 << 20;
/// The only `datacontenttype` allowed.
pub const CONTENT_TYPE: &str = "application/json";

/// One event with its envelope: what a Kafka record value holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// Unique per event; a retry re-sends the same id.
    pub id: String,
    /// Who produced it (`storefront`, `shopflow-api`, ...).
    pub source: String,
    /// When it happened.
    pub time: EventTime,
    /// The entity id, equal to the record key.
    pub subject: String,
    /// The typed `data`.
    pub event: Event,
}

struct Data<'a>(&'a Event);

impl Serialize for Data<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize_data(s)
    }
}

impl Serialize for Envelope {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(8))?;
        map.serialize_entry("specversion", SPEC_VERSION)?;
        map.serialize_entry("id", &self.id)?;
        map.serialize_entry("source", &self.source)?;
        map.serialize_entry("type", self.event.type_name())?;
        map.serialize_entry("time", &self.time)?;
        map.serialize_entry("subject", &self.subject)?;
        map.serialize_entry("datacontenttype", CONTENT_TYPE)?;
        map.serialize_entry("data", &Data(&self.event))?;
        map.end()
    }
}

impl Envelope {
    /// Wraps `event`, with its entity id as the subject.
    pub fn new(id: impl Into<String>, source: impl Into<String>, time: EventTime, event: impl Into<Event>) -> Envelope {
        let event = event.into();
        Envelope { id: id.into(), source: source.into(), time, subject: event.key().to_string(), event }
    }

    /// The topic the event goes on.
    pub fn topic(&self) -> Topic {
        self.event.topic()
    }

    /// The record key: the subject.
    pub fn key(&self) -> &str {
        &self.subject
    }

    /// The CloudEvents `type`.
    pub fn type_name(&self) -> &'static str {
        self.event.type_name()
    }

    /// The record value: CloudEvents structured JSON.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an envelope always serialises")
    }

    /// Decodes a record value strictly, without knowing where it came from.
    /// A value larger than [`MAX_RECORD_BYTES`] is not an event.
    pub fn decode(bytes: &[u8]) -> Result<Envelope, DecodeError> {
        if bytes.len() > MAX_RECORD_BYTES {
            return Err(DecodeError::TooLarge { bytes: bytes.len(), limit: MAX_RECORD_BYTES });
        }
        // Parsed with its strings borrowed from `bytes`: the typed event copies what it keeps, once.
        let json = Json::parse(bytes).map_err(|e| DecodeError::NotJson(e.to_string()))?;
        Envelope::from_obj(Obj::of_json(&json, "").map_err(|_| DecodeError::NotObject { field: "record".to_string() })?)
    }

    /// Decodes a record read from `topic` with `key`: the event must belong on
    /// that topic and the key must be its subject.
    pub fn decode_record(topic: &str, key: Option<&[u8]>, bytes: &[u8]) -> Result<Envelope, DecodeError> {
        let envelope = Envelope::decode(bytes)?;
        let expected = envelope.topic();
        if expected.name() != topic {
            return Err(DecodeError::WrongTopic {
                event_type: envelope.type_name().to_string(),
                topic: topic.to_string(),
                expected: expected.name(),
            });
        }
        if let Some(key) = key {
            if key != envelope.subject.as_bytes() {
                return Err(DecodeError::KeyMismatch {
                    key: String::from_utf8_lossy(key).chars().take(80).collect(),
                    subject: envelope.subject,
                });
            }
        }
        Ok(envelope)
    }

    /// Decodes an already parsed JSON value.
    pub fn from_value(value: &Value) -> Result<Envelope, DecodeError> {
        Envelope::from_obj(Obj::new(value, "").map_err(|_| DecodeError::NotObject { field: "record".to_string() })?)
    }

    fn from_obj(o: Obj<'_>) -> Result<Envelope, DecodeError> {
        let spec = o.str_ref("specversion")?;
        if spec != SPEC_VERSION {
            return Err(DecodeError::BadSpecVersion(spec.chars().take(20).collect()));
        }
        let id = o.id("id")?;
        let source = o.str("source")?;
        if source.is_empty() {
            return Err(DecodeError::Invalid { field: "source".to_string(), detail: "must not be empty".to_string() });
        }
        let type_name = o.str_ref("type")?;
        if Event::topic_of_type(type_name).is_none() {
            return Err(DecodeError::UnknownType(type_name.chars().take(80).collect()));
        }
        let time = o.time("time")?;
        let subject = o.id("subject")?;
        if let Some(content_type) = o.opt_str("datacontenttype")? {
            if content_type != CONTENT_TYPE {
                return Err(DecodeError::BadContentType(content_type.chars().take(80).collect()));
            }
        }
        let data = o.obj("data")?;
        let event = Event::decode_data(type_name, &data)?;
        if !event.accepts_key(&subject) {
            return Err(DecodeError::SubjectMismatch { subject, expected: event.key().to_string() });
        }
        Ok(Envelope { id, source, time, subject, event })
    }
}
