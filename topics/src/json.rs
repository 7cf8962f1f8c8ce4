//! A JSON document parsed for one strict read: strings borrowed from the
//! record wherever they hold no escape, objects as their fields in order.
//!
//! Decoding a record through [`serde_json::Value`] allocates every key and
//! every string and builds a sorted map per object, only for the typed
//! decoder to read a dozen fields once and copy the strings it keeps. [`Json`]
//! parses the same grammar, with the same limits (serde_json's nesting limit
//! of 128, numbers as [`serde_json::Number`]), into borrowed text: what the
//! typed event keeps is copied once, from the record itself.
//!
//! A name given twice in one object reads as its last value, as with
//! [`serde_json::Value`].

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Number;
use std::borrow::Cow;
use std::fmt;

/// One JSON value, borrowing from the text it was parsed from.
#[derive(Clone, Debug, PartialEq)]
pub enum Json<'a> {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, as serde_json reads it.
    Number(Number),
    /// A string: borrowed unless it held an escape.
    Str(Cow<'a, str>),
    /// An array.
    Array(Vec<Json<'a>>),
    /// An object: its fields in the order written.
    Object(Vec<(Cow<'a, str>, Json<'a>)>),
}

impl<'a> Json<'a> {
    /// Parses `bytes`, which must hold exactly one JSON value.
    pub fn parse(bytes: &'a [u8]) -> Result<Json<'a>, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// The value of field `name` of an object (the last, if given twice).
    pub fn get(&self, name: &str) -> Option<&Json<'a>> {
        match self {
            Json::Object(fields) => fields.iter().rev().find(|(key, _)| key == name).map(|(_, value)| value),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for Json<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Json<'de>, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Json<'de>, E> {
        Ok(Json::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Json<'de>, E> {
        Ok(Json::Number(value.into()))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Json<'de>, E> {
        Ok(Json::Number(value.into()))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Json<'de>, E> {
        Ok(Number::from_f64(value).map_or(Json::Null, Json::Number))
    }

    fn visit_borrowed_str<E>(self, value: &'de str) -> Result<Json<'de>, E> {
        Ok(Json::Str(Cow::Borrowed(value)))
    }

    fn visit_str<E>(self, value: &str) -> Result<Json<'de>, E> {
        Ok(Json::Str(Cow::Owned(value.to_string())))
    }

    fn visit_string<E>(self, value: String) -> Result<Json<'de>, E> {
        Ok(Json::Str(Cow::Owned(value)))
    }

    fn visit_unit<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }

    fn visit_none<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Json<'de>, D::Error> {
        Json::deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json<'de>, A::Error> {
        let mut elements = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(element) = seq.next_element()? {
            elements.push(element);
        }
        Ok(Json::Array(elements))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json<'de>, A::Error> {
        let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(8).min(64));
        while let Some(Key(key)) = map.next_key()? {
            fields.push((key, map.next_value()?));
        }
        Ok(Json::Object(fields))
    }
}

/// An object's field name, borrowed when it can be.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Key<'de>, D::Error> {
        deserializer.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_borrowed_str<E>(self, value: &'de str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Borrowed(value)))
    }

    fn visit_str<E>(self, value: &str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(value.to_string())))
    }

    fn visit_string<E>(self, value: String) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(value)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_borrowed_unless_escaped() {
        let text = br#"{"a":"plain","b\u0020":"esc\"aped","n":[1,-2,2.5,18446744073709551615],"t":true,"z":null}"#;
        let json = Json::parse(text).unwrap();
        assert!(matches!(json.get("a"), Some(Json::Str(Cow::Borrowed("plain")))));
        assert!(matches!(json.get("b "), Some(Json::Str(Cow::Owned(s))) if s == "esc\"aped"));
        let Some(Json::Array(numbers)) = json.get("n") else { panic!("{json:?}") };
        let numbers: Vec<String> =
            numbers.iter().map(|n| if let Json::Number(n) = n { n.to_string() } else { panic!() }).collect();
        assert_eq!(numbers, ["1", "-2", "2.5", "18446744073709551615"]);
        assert_eq!(json.get("t"), Some(&Json::Bool(true)));
        assert_eq!(json.get("z"), Some(&Json::Null));
        assert_eq!(json.get("missing"), None);
    }

    #[test]
    fn a_name_given_twice_reads_as_its_last_value_as_with_value() {
        let text = br#"{"k":"first","k":"last"}"#;
        let value: serde_json::Value = serde_json::from_slice(text).unwrap();
        assert_eq!(value["k"], "last");
        assert_eq!(Json::parse(text).unwrap().get("k"), Some(&Json::Str(Cow::Borrowed("last"))));
    }

    #[test]
    fn what_value_refuses_json_refuses() {
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        for bad in [&b"{"[..], b"{\"a\":1}x", b"\xff", b"[1,]", b"{\"a\" 1}", deep.as_bytes(), b"\"\\ud800\""] {
            assert!(serde_json::from_slice::<serde_json::Value>(bad).is_err());
            assert!(Json::parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
