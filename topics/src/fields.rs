//! Strict field access over a parsed JSON object. Every accessor knows the
//! dotted path of its field, so an error names exactly what is wrong.

use crate::error::DecodeError;
use crate::json::Json;
use crate::time::EventTime;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// The longest id the contract allows.
pub const MAX_ID_LEN: usize = 64;

/// Whether `id` is 1–64 characters of `[A-Za-z0-9._:-]`.
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// The JSON type name of a value, for error messages.
pub fn json_type(value: &Value) -> &'static str {
    Node::Value(value).json_type()
}

fn clip(text: &str) -> String {
    text.chars().take(80).collect()
}

/// One value of the object being read, from either kind of parsed document.
#[derive(Clone, Copy, Debug)]
pub enum Node<'a> {
    /// From a [`serde_json::Value`] (the API's request bodies).
    Value(&'a Value),
    /// From a [`Json`] (records read from the topics).
    Json(&'a Json<'a>),
}

impl<'a> Node<'a> {
    /// The JSON type name, for error messages.
    pub fn json_type(self) -> &'static str {
        match self {
            Node::Value(Value::Null) | Node::Json(Json::Null) => "null",
            Node::Value(Value::Bool(_)) | Node::Json(Json::Bool(_)) => "boolean",
            Node::Value(Value::Number(_)) | Node::Json(Json::Number(_)) => "number",
            Node::Value(Value::String(_)) | Node::Json(Json::Str(_)) => "string",
            Node::Value(Value::Array(_)) | Node::Json(Json::Array(_)) => "array",
            Node::Value(Value::Object(_)) | Node::Json(Json::Object(_)) => "object",
        }
    }

    /// Whether it is `null`.
    pub fn is_null(self) -> bool {
        matches!(self, Node::Value(Value::Null) | Node::Json(Json::Null))
    }

    /// The string, if it is one.
    pub fn as_str(self) -> Option<&'a str> {
        match self {
            Node::Value(Value::String(s)) => Some(s),
            Node::Json(Json::Str(s)) => Some(s),
            _ => None,
        }
    }

    /// The boolean, if it is one.
    pub fn as_bool(self) -> Option<bool> {
        match self {
            Node::Value(Value::Bool(b)) | Node::Json(Json::Bool(b)) => Some(*b),
            _ => None,
        }
    }

    /// The number, if it is one.
    pub fn as_number(self) -> Option<&'a serde_json::Number> {
        match self {
            Node::Value(Value::Number(n)) | Node::Json(Json::Number(n)) => Some(n),
            _ => None,
        }
    }

    /// Whether it is an object.
    pub fn is_object(self) -> bool {
        matches!(self, Node::Value(Value::Object(_)) | Node::Json(Json::Object(_)))
    }

    /// The elements, if it is an array.
    pub fn elements(self) -> Option<Vec<Node<'a>>> {
        match self {
            Node::Value(Value::Array(items)) => Some(items.iter().map(Node::Value).collect()),
            Node::Json(Json::Array(items)) => Some(items.iter().map(Node::Json).collect()),
            _ => None,
        }
    }
}

/// The fields of an object, from either kind of document.
#[derive(Clone, Copy)]
enum Fields<'a> {
    Value(&'a Map<String, Value>),
    Json(&'a [(Cow<'a, str>, Json<'a>)]),
}

impl<'a> Fields<'a> {
    /// Field `name` (the last, if given twice).
    fn get(self, name: &str) -> Option<Node<'a>> {
        match self {
            Fields::Value(map) => map.get(name).map(Node::Value),
            Fields::Json(fields) => fields.iter().rev().find(|(key, _)| key == name).map(|(_, v)| Node::Json(v)),
        }
    }

    /// Every field once (the last value of a name given twice), by name.
    fn entries(self) -> BTreeMap<&'a str, Node<'a>> {
        match self {
            Fields::Value(map) => map.iter().map(|(k, v)| (k.as_str(), Node::Value(v))).collect(),
            Fields::Json(fields) => fields.iter().map(|(k, v)| (k.as_ref(), Node::Json(v))).collect(),
        }
    }
}

/// A JSON object with the path that leads to it.
pub struct Obj<'a> {
    map: Fields<'a>,
    path: String,
}

impl<'a> Obj<'a> {
    /// Wraps `value`, which must be an object, found at `path`.
    pub fn new(value: &'a Value, path: impl Into<String>) -> Result<Obj<'a>, DecodeError> {
        Obj::of(Node::Value(value), path)
    }

    /// Wraps a parsed record's `value`, which must be an object, found at `path`.
    pub fn of_json(value: &'a Json<'a>, path: impl Into<String>) -> Result<Obj<'a>, DecodeError> {
        Obj::of(Node::Json(value), path)
    }

    /// Wraps `node`, which must be an object, found at `path`.
    pub fn of(node: Node<'a>, path: impl Into<String>) -> Result<Obj<'a>, DecodeError> {
        let path = path.into();
        match node {
            Node::Value(Value::Object(map)) => Ok(Obj { map: Fields::Value(map), path }),
            Node::Json(Json::Object(fields)) => Ok(Obj { map: Fields::Json(fields), path }),
            _ => Err(DecodeError::NotObject { field: path }),
        }
    }

    /// The dotted path of field `name` of this object.
    pub fn path_of(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_string()
        } else {
            format!("{}.{}", self.path, name)
        }
    }

    fn wrong(&self, name: &str, expected: &'static str, found: Node<'a>) -> DecodeError {
        DecodeError::WrongType { field: self.path_of(name), expected, found: found.json_type() }
    }

    /// A field that must be present (null counts as present, for type errors).
    pub fn required(&self, name: &str) -> Result<Node<'a>, DecodeError> {
        self.map.get(name).ok_or_else(|| DecodeError::MissingField(self.path_of(name)))
    }

    /// A field that may be absent or null.
    pub fn optional(&self, name: &str) -> Option<Node<'a>> {
        self.map.get(name).filter(|value| !value.is_null())
    }

    fn as_str(&self, name: &str, value: Node<'a>) -> Result<&'a str, DecodeError> {
        value.as_str().ok_or_else(|| self.wrong(name, "string", value))
    }

    /// A required string.
    pub fn str(&self, name: &str) -> Result<String, DecodeError> {
        let value = self.required(name)?;
        self.as_str(name, value).map(str::to_string)
    }

    /// A required string, borrowed.
    pub fn str_ref(&self, name: &str) -> Result<&'a str, DecodeError> {
        let value = self.required(name)?;
        self.as_str(name, value)
    }

    /// An optional string.
    pub fn opt_str(&self, name: &str) -> Result<Option<String>, DecodeError> {
        self.optional(name).map(|v| self.as_str(name, v).map(str::to_string)).transpose()
    }

    /// A required field that may be a string or null.
    pub fn nullable_str(&self, name: &str) -> Result<Option<String>, DecodeError> {
        match self.required(name)? {
            value if value.is_null() => Ok(None),
            value => self.as_str(name, value).map(|s| Some(s.to_string())),
        }
    }

    fn check_id(&self, name: &str, text: &str) -> Result<String, DecodeError> {
        if is_valid_id(text) {
            Ok(text.to_string())
        } else {
            Err(DecodeError::BadId { field: self.path_of(name), value: clip(text) })
        }
    }

    /// A required id.
    pub fn id(&self, name: &str) -> Result<String, DecodeError> {
        let text = self.str_ref(name)?;
        self.check_id(name, text)
    }

    /// An optional id.
    pub fn opt_id(&self, name: &str) -> Result<Option<String>, DecodeError> {
        match self.optional(name) {
            None => Ok(None),
            Some(value) => {
                let text = self.as_str(name, value)?;
                self.check_id(name, text).map(Some)
            }
        }
    }

    /// A required field that may be an id or null (e.g. `parentId`).
    pub fn nullable_id(&self, name: &str) -> Result<Option<String>, DecodeError> {
        match self.required(name)? {
            value if value.is_null() => Ok(None),
            value => {
                let text = self.as_str(name, value)?;
                self.check_id(name, text).map(Some)
            }
        }
    }

    fn integer(&self, name: &str, value: Node<'a>, money: bool) -> Result<i64, DecodeError> {
        let Some(number) = value.as_number() else {
            return Err(self.wrong(name, "integer", value));
        };
        if let Some(i) = number.as_i64() {
            return Ok(i);
        }
        if number.is_u64() {
            return Err(DecodeError::OutOfRange {
                field: self.path_of(name),
                value: number.to_string(),
                rule: "must fit in a signed 64-bit integer",
            });
        }
        let field = self.path_of(name);
        let value = number.to_string();
        Err(if money {
            DecodeError::MoneyNotInteger { field, value }
        } else {
            DecodeError::NotInteger { field, value }
        })
    }

    fn at_least(&self, name: &str, value: i64, min: i64, rule: &'static str) -> Result<i64, DecodeError> {
        if value < min {
            Err(DecodeError::OutOfRange { field: self.path_of(name), value: value.to_string(), rule })
        } else {
            Ok(value)
        }
    }

    /// A required amount of money: a non-negative integer of minor units.
    pub fn money(&self, name: &str) -> Result<i64, DecodeError> {
        let value = self.integer(name, self.required(name)?, true)?;
        self.at_least(name, value, 0, "money must not be negative")
    }

    /// An optional amount of money.
    pub fn opt_money(&self, name: &str) -> Result<Option<i64>, DecodeError> {
        match self.optional(name) {
            None => Ok(None),
            Some(v) => {
                let value = self.integer(name, v, true)?;
                self.at_least(name, value, 0, "money must not be negative").map(Some)
            }
        }
    }

    /// A required signed integer.
    pub fn int(&self, name: &str) -> Result<i64, DecodeError> {
        self.integer(name, self.required(name)?, false)
    }

    /// A required positive integer (a quantity).
    pub fn positive(&self, name: &str) -> Result<i64, DecodeError> {
        let value = self.int(name)?;
        self.at_least(name, value, 1, "must be a positive integer")
    }

    /// A required integer ≥ 0.
    pub fn non_negative(&self, name: &str) -> Result<i64, DecodeError> {
        let value = self.int(name)?;
        self.at_least(name, value, 0, "must not be negative")
    }

    /// A required integer within `min..=max`.
    pub fn int_in(&self, name: &str, min: i64, max: i64, rule: &'static str) -> Result<i64, DecodeError> {
        let value = self.int(name)?;
        if value < min || value > max {
            return Err(DecodeError::OutOfRange { field: self.path_of(name), value: value.to_string(), rule });
        }
        Ok(value)
    }

    /// An optional integer within `min..=max`.
    pub fn opt_int_in(&self, name: &str, min: i64, max: i64, rule: &'static str) -> Result<Option<i64>, DecodeError> {
        match self.optional(name) {
            None => Ok(None),
            Some(_) => self.int_in(name, min, max, rule).map(Some),
        }
    }

    /// A required boolean.
    pub fn bool(&self, name: &str) -> Result<bool, DecodeError> {
        let value = self.required(name)?;
        value.as_bool().ok_or_else(|| self.wrong(name, "boolean", value))
    }

    /// A required RFC 3339 UTC time.
    pub fn time(&self, name: &str) -> Result<EventTime, DecodeError> {
        let text = self.str_ref(name)?;
        EventTime::parse(text).map_err(|detail| DecodeError::BadTime {
            field: self.path_of(name),
            value: clip(text),
            detail,
        })
    }

    /// A required string that must be one of `allowed` (given as "a, b, c").
    pub fn one_of(&self, name: &str, allowed: &'static str) -> Result<&'a str, DecodeError> {
        let text = self.str_ref(name)?;
        if allowed.split(", ").any(|a| a == text) {
            Ok(text)
        } else {
            Err(DecodeError::BadEnum { field: self.path_of(name), value: clip(text), allowed })
        }
    }

    /// A currency code: three upper-case letters; `USD` when absent.
    pub fn currency(&self, name: &str) -> Result<String, DecodeError> {
        match self.optional(name) {
            None => Ok("USD".to_string()),
            Some(value) => {
                let text = self.as_str(name, value)?;
                if text.len() == 3 && text.bytes().all(|b| b.is_ascii_uppercase()) {
                    Ok(text.to_string())
                } else {
                    Err(DecodeError::Invalid {
                        field: self.path_of(name),
                        detail: format!("{:?} is not an ISO 4217 code (three upper-case letters)", clip(text)),
                    })
                }
            }
        }
    }

    /// A required nested object.
    pub fn obj(&self, name: &str) -> Result<Obj<'a>, DecodeError> {
        let value = self.required(name)?;
        if !value.is_object() {
            return Err(self.wrong(name, "object", value));
        }
        Obj::of(value, self.path_of(name))
    }

    /// An optional nested object.
    pub fn opt_obj(&self, name: &str) -> Result<Option<Obj<'a>>, DecodeError> {
        match self.optional(name) {
            None => Ok(None),
            Some(value) if value.is_object() => Obj::of(value, self.path_of(name)).map(Some),
            Some(value) => Err(self.wrong(name, "object", value)),
        }
    }

    /// A required array's elements.
    pub fn array(&self, name: &str) -> Result<Vec<Node<'a>>, DecodeError> {
        let value = self.required(name)?;
        value.elements().ok_or_else(|| self.wrong(name, "array", value))
    }

    /// Each element of a required array as an object.
    pub fn objects(&self, name: &str) -> Result<Vec<Obj<'a>>, DecodeError> {
        self.array(name)?
            .into_iter()
            .enumerate()
            .map(|(i, v)| {
                let path = format!("{}[{i}]", self.path_of(name));
                if v.is_object() {
                    Obj::of(v, path)
                } else {
                    Err(DecodeError::WrongType { field: path, expected: "object", found: v.json_type() })
                }
            })
            .collect()
    }

    /// A required array of strings.
    pub fn strings(&self, name: &str) -> Result<Vec<String>, DecodeError> {
        self.array(name)?
            .into_iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_str().map(str::to_string).ok_or_else(|| DecodeError::WrongType {
                    field: format!("{}[{i}]", self.path_of(name)),
                    expected: "string",
                    found: v.json_type(),
                })
            })
            .collect()
    }

    /// An optional array of strings.
    pub fn opt_strings(&self, name: &str) -> Result<Option<Vec<String>>, DecodeError> {
        match self.optional(name) {
            None => Ok(None),
            Some(_) => self.strings(name).map(Some),
        }
    }

    /// A required object whose values are all strings.
    pub fn string_map(&self, name: &str) -> Result<BTreeMap<String, String>, DecodeError> {
        let inner = self.obj(name)?;
        inner
            .map
            .entries()
            .into_iter()
            .map(|(k, v)| match v.as_str() {
                Some(s) => Ok((k.to_string(), s.to_string())),
                None => Err(inner.wrong(k, "string", v)),
            })
            .collect()
    }

    /// An optional object of strings.
    pub fn opt_string_map(&self, name: &str) -> Result<Option<BTreeMap<String, String>>, DecodeError> {
        match self.optional(name) {
            None => Ok(None),
            Some(_) => self.string_map(name).map(Some),
        }
    }
}
