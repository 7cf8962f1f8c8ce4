//! Why a record could not be decoded. Each variant names the field it is
//! about, so a dead letter says exactly what to fix.

use thiserror::Error;

/// An error and its sources, `outer: inner: ...`: how a log line or a
/// message shows an error whose variant names only its own part.
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

/// A precise reason a record is not a valid event of the contract.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// The record is larger than any event may be ([`crate::envelope::MAX_RECORD_BYTES`]).
    #[error("record too large: {bytes} bytes (the limit is {limit})")]
    TooLarge {
        /// The record's size.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// The bytes are not JSON at all.
    #[error("not valid JSON: {0}")]
    NotJson(String),
    /// Valid JSON, but not an object where one is needed.
    #[error("{field}: expected a JSON object")]
    NotObject {
        /// Dotted path of the value (`<record>` for the whole record).
        field: String,
    },
    /// A required field is absent.
    #[error("missing field {0}")]
    MissingField(String),
    /// A field has the wrong JSON type.
    #[error("wrong type of {field}: expected {expected}, found {found}")]
    WrongType {
        /// Dotted path of the field.
        field: String,
        /// What the contract wants.
        expected: &'static str,
        /// The JSON type that was there.
        found: &'static str,
    },
    /// `specversion` is not "1.0".
    #[error("unsupported specversion {0:?} (expected \"1.0\")")]
    BadSpecVersion(String),
    /// `datacontenttype` is present and not JSON.
    #[error("unsupported datacontenttype {0:?} (expected \"application/json\")")]
    BadContentType(String),
    /// `type` names no event of the contract.
    #[error("unknown type {0:?}")]
    UnknownType(String),
    /// An id is empty, too long, or has characters outside `[A-Za-z0-9._:-]`.
    #[error("bad id in {field}: {value:?} (ids are 1-64 characters of [A-Za-z0-9._:-])")]
    BadId {
        /// Dotted path of the field.
        field: String,
        /// The offending value, cut to 80 characters.
        value: String,
    },
    /// A money field holds a fraction or a float.
    #[error("money not an integer in {field}: {value} (money is an integer in minor units)")]
    MoneyNotInteger {
        /// Dotted path of the field.
        field: String,
        /// The number as written.
        value: String,
    },
    /// A number that must be an integer has a fraction.
    #[error("not an integer in {field}: {value}")]
    NotInteger {
        /// Dotted path of the field.
        field: String,
        /// The number as written.
        value: String,
    },
    /// A number is outside the range the contract allows.
    #[error("out of range in {field}: {value} ({rule})")]
    OutOfRange {
        /// Dotted path of the field.
        field: String,
        /// The number as written.
        value: String,
        /// The rule it breaks.
        rule: &'static str,
    },
    /// A string is not one of the allowed values.
    #[error("bad value in {field}: {value:?} (expected one of {allowed})")]
    BadEnum {
        /// Dotted path of the field.
        field: String,
        /// The value found.
        value: String,
        /// The allowed values, comma separated.
        allowed: &'static str,
    },
    /// A timestamp is not RFC 3339 UTC.
    #[error("bad time in {field}: {value:?}: {detail}")]
    BadTime {
        /// Dotted path of the field.
        field: String,
        /// The value found.
        value: String,
        /// What is wrong with it.
        detail: String,
    },
    /// A field's value breaks a rule of the contract not covered above.
    #[error("invalid {field}: {detail}")]
    Invalid {
        /// Dotted path of the field.
        field: String,
        /// What is wrong.
        detail: String,
    },
    /// The event's type belongs on another topic.
    #[error("type {event_type} does not belong on topic {topic} (it belongs on {expected})")]
    WrongTopic {
        /// The event type.
        event_type: String,
        /// The topic it arrived on.
        topic: String,
        /// The topic the contract puts it on.
        expected: &'static str,
    },
    /// `subject` is not the entity id of the event.
    #[error("subject {subject:?} does not match the entity id {expected:?} of the data")]
    SubjectMismatch {
        /// The envelope's subject.
        subject: String,
        /// The entity id from `data`.
        expected: String,
    },
    /// The Kafka record key is not the subject.
    #[error("record key {key:?} does not match subject {subject:?}")]
    KeyMismatch {
        /// The record key (lossy UTF-8).
        key: String,
        /// The envelope's subject.
        subject: String,
    },
}

impl DecodeError {
    /// A short stable code for the kind of failure (for metrics and dashboards).
    pub fn code(&self) -> &'static str {
        match self {
            DecodeError::TooLarge { .. } => "too_large",
            DecodeError::NotJson(_) => "not_json",
            DecodeError::NotObject { .. } => "not_object",
            DecodeError::MissingField(_) => "missing_field",
            DecodeError::WrongType { .. } => "wrong_type",
            DecodeError::BadSpecVersion(_) => "bad_specversion",
            DecodeError::BadContentType(_) => "bad_datacontenttype",
            DecodeError::UnknownType(_) => "unknown_type",
            DecodeError::BadId { .. } => "bad_id",
            DecodeError::MoneyNotInteger { .. } => "money_not_integer",
            DecodeError::NotInteger { .. } => "not_integer",
            DecodeError::OutOfRange { .. } => "out_of_range",
            DecodeError::BadEnum { .. } => "bad_enum",
            DecodeError::BadTime { .. } => "bad_time",
            DecodeError::Invalid { .. } => "invalid",
            DecodeError::WrongTopic { .. } => "wrong_topic",
            DecodeError::SubjectMismatch { .. } => "subject_mismatch",
            DecodeError::KeyMismatch { .. } => "key_mismatch",
        }
    }

    /// The dotted path of the field the failure is about, when it is about one.
    pub fn field(&self) -> Option<&str> {
        match self {
            DecodeError::NotObject { field }
            | DecodeError::MissingField(field)
            | DecodeError::WrongType { field, .. }
            | DecodeError::BadId { field, .. }
            | DecodeError::MoneyNotInteger { field, .. }
            | DecodeError::NotInteger { field, .. }
            | DecodeError::OutOfRange { field, .. }
            | DecodeError::BadEnum { field, .. }
            | DecodeError::BadTime { field, .. }
            | DecodeError::Invalid { field, .. } => Some(field),
            _ => None,
        }
    }
}
