//! Request bodies: parsed once, every field checked, and every bad field
//! reported together (a client fixes a form in one round trip).
//!
//! ```
//! # use shopflow_api::form::Form;
//! let body = serde_json::json!({"productId": "prd-1", "quantity": 0});
//! let form = Form::new(&body).unwrap();
//! let product = form.take(form.obj().id("productId"));
//! let quantity = form.take(form.obj().int_in("quantity", 1, 1000, "1..1000"));
//! let error = form.finish().unwrap_err();
//! assert_eq!(error.fields.len(), 1);
//! assert!(product.is_some() && quantity.is_none());
//! ```

use crate::error::AppError;
use serde_json::Value;
use shopflow_topics::fields::Obj;
use shopflow_topics::json::Json;
use shopflow_topics::DecodeError;
use std::cell::RefCell;

/// A JSON request body being checked.
pub struct Form<'a> {
    obj: Obj<'a>,
    errors: RefCell<Vec<(String, String)>>,
}

/// Parses a request body as a JSON object: 400 naming `body` when it is not
/// UTF-8, not JSON or not an object, and naming the field when an object
/// gives one name twice (which value was meant cannot be known).
pub fn parse(bytes: &[u8]) -> Result<Value, AppError> {
    let body = |problem: String| AppError::invalid_fields(vec![("body".to_string(), problem)]);
    if let Err(error) = std::str::from_utf8(bytes) {
        return Err(body(format!("not UTF-8: the byte at {} is not part of a UTF-8 character", error.valid_up_to())));
    }
    let json = Json::parse(bytes).map_err(|e| body(format!("not valid JSON: {e}")))?;
    if !matches!(json, Json::Object(_)) {
        return Err(body("expected a JSON object".to_string()));
    }
    if let Some(field) = repeated_name(&json, "") {
        return Err(AppError::invalid_fields(vec![(field, "given more than once".to_string())]));
    }
    serde_json::from_slice(bytes).map_err(|e| body(format!("not valid JSON: {e}")))
}

/// The dotted path of the first name an object within `json` gives twice.
fn repeated_name(json: &Json<'_>, path: &str) -> Option<String> {
    match json {
        Json::Object(fields) => {
            let mut names: Vec<&str> = fields.iter().map(|(name, _)| name.as_ref()).collect();
            names.sort_unstable();
            if let Some(twice) = names.windows(2).find(|pair| pair[0] == pair[1]) {
                return Some(join(path, twice[0]));
            }
            fields.iter().find_map(|(name, value)| repeated_name(value, &join(path, name)))
        }
        Json::Array(items) => {
            items.iter().enumerate().find_map(|(i, item)| repeated_name(item, &format!("{path}[{i}]")))
        }
        _ => None,
    }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

impl<'a> Form<'a> {
    /// Checks `body`, which must be a JSON object.
    pub fn new(body: &'a Value) -> Result<Form<'a>, AppError> {
        let obj = Obj::new(body, "")
            .map_err(|_| AppError::invalid_fields(vec![("body".to_string(), "expected a JSON object".to_string())]))?;
        Ok(Form { obj, errors: RefCell::new(Vec::new()) })
    }

    /// The body's fields, for the accessors of [`Obj`].
    pub fn obj(&self) -> &Obj<'a> {
        &self.obj
    }

    /// The value of a field, or `None` with its error noted.
    pub fn take<T>(&self, result: Result<T, DecodeError>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                let field = error.field().unwrap_or("body").to_string();
                let message = problem(&error);
                self.errors.borrow_mut().push((field, message));
                None
            }
        }
    }

    /// Notes `field` as bad with `problem` unless `ok`.
    pub fn check(&self, ok: bool, field: &str, problem: &str) {
        if !ok {
            self.errors.borrow_mut().push((field.to_string(), problem.to_string()));
        }
    }

    /// Whether no field is bad so far.
    pub fn is_clean(&self) -> bool {
        self.errors.borrow().is_empty()
    }

    /// 400 listing every bad field, if any.
    pub fn finish(self) -> Result<(), AppError> {
        let errors = self.errors.into_inner();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(AppError::invalid_fields(errors))
        }
    }
}

/// What is wrong, without repeating the field's name.
fn problem(error: &DecodeError) -> String {
    match error {
        DecodeError::MissingField(_) => "required".to_string(),
        DecodeError::WrongType { expected, found, .. } => format!("expected {expected}, found {found}"),
        DecodeError::BadId { .. } => "ids are 1-64 characters of [A-Za-z0-9._:-]".to_string(),
        DecodeError::MoneyNotInteger { .. } => "money is an integer in minor units".to_string(),
        DecodeError::NotInteger { .. } => "expected an integer".to_string(),
        DecodeError::OutOfRange { rule, .. } => format!("out of range ({rule})"),
        DecodeError::BadEnum { allowed, .. } => format!("expected one of {allowed}"),
        DecodeError::NotObject { .. } => "expected a JSON object".to_string(),
        DecodeError::Invalid { detail, .. } | DecodeError::BadTime { detail, .. } => detail.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn named(bytes: &[u8]) -> Vec<(String, String)> {
        parse(bytes).unwrap_err().fields
    }

    #[test]
    fn a_body_not_utf8_or_naming_a_field_twice_is_refused_naming_where() {
        let mut not_utf8 = br#"{"productId":"prd-1"}"#.to_vec();
        not_utf8[15] = 0xff;
        assert_eq!(named(&not_utf8)[0].0, "body");
        assert!(named(&not_utf8)[0].1.starts_with("not UTF-8: the byte at 15"), "{:?}", named(&not_utf8));
        assert_eq!(
            named(br#"{"productId":"prd-1","quantity":1,"productId":"prd-2"}"#),
            [("productId".to_string(), "given more than once".to_string())]
        );
        assert_eq!(
            named(br#"{"items":[{"productId":"a"},{"productId":"b","quantity":1,"quantity":2}]}"#)[0].0,
            "items[1].quantity"
        );
        assert_eq!(named(br#"{"address":{"city":"a","city":"b"}}"#)[0].0, "address.city");
        let deep = format!(r#"{{"x":{}{}}}"#, "[".repeat(10_000), "]".repeat(10_000));
        assert!(named(deep.as_bytes())[0].1.contains("recursion limit"), "{:?}", named(deep.as_bytes()));
        // The same names in different objects are no repetition.
        let body = parse(br#"{"a":{"id":"1"},"b":{"id":"2"},"items":[{"id":"3"},{"id":"4"}]}"#).unwrap();
        assert_eq!(body["items"][1]["id"], "4");
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let body = json!({"productId": "bad id!", "quantity": "3", "rating": 9});
        let form = Form::new(&body).unwrap();
        form.take(form.obj().id("productId"));
        form.take(form.obj().positive("quantity"));
        form.take(form.obj().int_in("rating", 1, 5, "1..5"));
        form.take(form.obj().str("title"));
        let error = form.finish().unwrap_err();
        let fields: Vec<&str> = error.fields.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["productId", "quantity", "rating", "title"]);
        assert_eq!(error.status, axum::http::StatusCode::BAD_REQUEST);
        assert!(error.message.contains("title: required"), "{}", error.message);
    }

    #[test]
    fn bodies_must_be_json_objects() {
        assert_eq!(parse(b"[1]").unwrap_err().fields[0].0, "body");
        assert_eq!(parse(b"{").unwrap_err().fields[0].0, "body");
        assert!(parse(b"{}").is_ok());
    }
}
