//! Strict field access over a parsed JSON object. Every accessor knows the
//! dotted path of its field, so an error names exactly what is wrong.

use crate::error::DecodeError;
use crate::time::EventTime;
use serde_json::{Map, Value};
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
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn clip(text: &str) -> String {
    text.chars().take(80).collect()
}

/// A JSON object with the path that leads to it.
pub struct Obj<'a> {
    map: &'a Map<String, Value>,
    path: String,
}

impl<'a> Obj<'a> {
    /// Wraps `value`, which must be an object, found at `path`.
    pub fn new(value: &'a Value, path: impl Into<String>) -> Result<Obj<'a>, DecodeError> {
        let path = path.into();
        match value {
            Value::Object(map) => Ok(Obj { map, path }),
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

    fn wrong(&self, name: &str, expected: &'static str, found: &Value) -> DecodeError {
        DecodeError::WrongType { field: self.path_of(name), expected, found: json_type(found) }
    }

    /// A field that must be present (null counts as present, for type errors).
    pub fn required(&self, name: &str) -> Result<&'a Value, DecodeError> {
        self.map.get(name).ok_or_else(|| DecodeError::MissingField(self.path_of(name)))
    }

    /// A field that may be absent or null.
    pub fn optional(&self, name: &str) -> Option<&'a Value> {
        match self.map.get(name) {
            None | Some(Value::Null) => None,
            Some(value) => Some(value),
        }
    }

    fn as_str(&self, name: &str, value: &'a Value) -> Result<&'a str, DecodeError> {
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
            Value::Null => Ok(None),
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
            Value::Null => Ok(None),
            value => {
                let text = self.as_str(name, value)?;
                self.check_id(name, text).map(Some)
            }
        }
    }

    fn integer(&self, name: &str, value: &Value, money: bool) -> Result<i64, DecodeError> {
        let Value::Number(number) = value else {
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
        Obj::new(value, self.path_of(name))
    }

    /// An optional nested object.
    pub fn opt_obj(&self, name: &str) -> Result<Option<Obj<'a>>, DecodeError> {
        match self.optional(name) {
            None => Ok(None),
            Some(value) if value.is_object() => Obj::new(value, self.path_of(name)).map(Some),
            Some(value) => Err(self.wrong(name, "object", value)),
        }
    }

    /// A required array.
    pub fn array(&self, name: &str) -> Result<&'a Vec<Value>, DecodeError> {
        let value = self.required(name)?;
        value.as_array().ok_or_else(|| self.wrong(name, "array", value))
    }

    /// Each element of a required array as an object.
    pub fn objects(&self, name: &str) -> Result<Vec<Obj<'a>>, DecodeError> {
        self.array(name)?
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let path = format!("{}[{i}]", self.path_of(name));
                if v.is_object() {
                    Obj::new(v, path)
                } else {
                    Err(DecodeError::WrongType { field: path, expected: "object", found: json_type(v) })
                }
            })
            .collect()
    }

    /// A required array of strings.
    pub fn strings(&self, name: &str) -> Result<Vec<String>, DecodeError> {
        self.array(name)?
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_str().map(str::to_string).ok_or_else(|| DecodeError::WrongType {
                    field: format!("{}[{i}]", self.path_of(name)),
                    expected: "string",
                    found: json_type(v),
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
            .iter()
            .map(|(k, v)| match v.as_str() {
                Some(s) => Ok((k.clone(), s.to_string())),
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
