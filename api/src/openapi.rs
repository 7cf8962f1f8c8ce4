//! `GET /openapi.json`: the OpenAPI 3.0 description of every route, made
//! from the same list the router is built from (`crate::app`), so a route
//! cannot exist undocumented.

use serde_json::{json, Map, Value};

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// No token needed.
    Anyone,
    /// A token is optional (it names the user when given).
    Optional,
    /// Any valid token; the caller's own objects.
    Caller,
    /// Vendors (their own store).
    Vendor,
    /// Admins.
    Admin,
}

/// A request body.
#[derive(Clone, Copy, Debug)]
pub enum Input {
    /// None.
    Nothing,
    /// The `data` of this event of `events.md`, less what the API sets.
    Event(&'static str),
    /// An object with these (name, JSON type, required) fields.
    Fields(&'static [(&'static str, &'static str, bool)]),
}

/// What a success looks like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// 200, a JSON object.
    Object,
    /// 202, where a write landed.
    Written,
    /// 202, a JSON object (taken; what follows is not told).
    Accepted,
    /// 200, Prometheus text.
    Text,
    /// 200, XML.
    Xml,
    /// 200, an HTML page.
    Html,
}

/// One operation.
#[derive(Clone, Copy, Debug)]
pub struct Doc {
    /// GET, POST, PUT or DELETE.
    pub method: &'static str,
    /// The full path, `{id}` for a path parameter.
    pub path: &'static str,
    /// What it does.
    pub summary: &'static str,
    /// Who may call it.
    pub access: Access,
    /// Its body.
    pub input: Input,
    /// Its success.
    pub output: Output,
    /// Query parameters (name, description), besides `after` on reads.
    pub query: &'static [(&'static str, &'static str)],
}

fn error_schema() -> Value {
    json!({
        "type": "object",
        "required": ["error"],
        "properties": {"error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "requestId": {"type": "string", "nullable": true},
                "fields": {"type": "array", "items": {
                    "type": "object",
                    "required": ["field", "message"],
                    "properties": {"field": {"type": "string"}, "message": {"type": "string"}}
                }}
            }
        }}
    })
}

fn written_schema() -> Value {
    json!({
        "type": "object",
        "required": ["eventId", "topic", "partition", "offset", "consistencyToken"],
        "properties": {
            "eventId": {"type": "string"},
            "topic": {"type": "string"},
            "partition": {"type": "integer"},
            "offset": {"type": "integer"},
            "consistencyToken": {"type": "string", "description": "pass as ?after= to read this write back"}
        }
    })
}

fn body_schema(input: Input) -> Option<Value> {
    match input {
        Input::Nothing => None,
        Input::Event(type_name) => Some(json!({
            "type": "object",
            "description": format!("the `data` of {type_name} (shared/contract/events.md); the token's user, the path's id and new ids are set by the API"),
        })),
        Input::Fields(fields) => {
            let properties: Map<String, Value> =
                fields.iter().map(|(name, kind, _)| (name.to_string(), json!({"type": kind}))).collect();
            let required: Vec<&str> =
                fields.iter().filter(|(_, _, required)| *required).map(|(name, _, _)| *name).collect();
            let mut schema = json!({"type": "object", "properties": properties});
            if !required.is_empty() {
                schema["required"] = json!(required);
            }
            Some(schema)
        }
    }
}

fn operation(doc: &Doc) -> Value {
    let mut parameters: Vec<Value> = doc
        .path
        .split('/')
        .filter_map(|segment| segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect();
    for (name, description) in doc.query {
        parameters.push(json!({"name": name, "in": "query", "required": false, "description": description, "schema": {"type": "string"}}));
    }
    if doc.method == "GET" && doc.path.starts_with("/api/v1/") {
        parameters.push(json!({
            "name": "after", "in": "query", "required": false,
            "description": "a consistencyToken: wait until the served state includes that write",
            "schema": {"type": "string"}
        }));
    }
    let error = |description: &str| json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    let mut responses = Map::new();
    match doc.output {
        Output::Object => {
            responses.insert(
                "200".into(),
                json!({"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}),
            );
        }
        Output::Accepted => {
            responses.insert(
                "202".into(),
                json!({"description": "accepted", "content": {"application/json": {"schema": {"type": "object"}}}}),
            );
        }
        Output::Written => {
            responses.insert(
                "202".into(),
                json!({"description": "produced", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Written"}}}}),
            );
        }
        Output::Text => {
            responses.insert(
                "200".into(),
                json!({"description": "OK", "content": {"text/plain": {"schema": {"type": "string"}}}}),
            );
        }
        Output::Html => {
            responses.insert(
                "200".into(),
                json!({"description": "OK", "content": {"text/html": {"schema": {"type": "string"}}}}),
            );
        }
        Output::Xml => {
            responses.insert(
                "200".into(),
                json!({"description": "OK", "content": {"application/xml": {"schema": {"type": "string"}}}}),
            );
        }
    }
    for (code, description) in [
        ("400", "a bad field, parameter or header (every bad field listed)"),
        ("401", "no valid token"),
        ("403", "the caller's role may not, or the vendor is suspended (vendor_suspended)"),
        ("404", "no such object (or another user's)"),
        (
            "409",
            "conflicts with the current state (insufficient_stock, insufficient_funds, insufficient_balance, \
             payment_in_progress, invalid_state, request_in_progress, email_taken, not_enrolling)",
        ),
        ("413", "body too large"),
        (
            "422",
            "idempotency_key_reused; a promoCode that does not apply (unknown_promotion, promotion_ended, \
             promotion_not_started, promotion_expired, promotion_minimum_not_met)",
        ),
        ("429", "rate limited (Retry-After)"),
        ("503", "a store is down or behind, or a setting is missing (not_ready, not_caught_up, store_unavailable, circuit_open, webhook_not_configured, cannot_mint, mfa_unavailable)"),
    ] {
        responses.insert(code.into(), error(description));
    }
    let mut op = json!({"summary": doc.summary, "parameters": parameters, "responses": responses});
    if let Some(schema) = body_schema(doc.input) {
        op["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": schema}}});
    }
    if doc.method != "GET" {
        let mut params = op["parameters"].as_array().cloned().unwrap_or_default();
        params.push(json!({
            "name": "Idempotency-Key", "in": "header", "required": false,
            "description": "makes the write happen once; becomes the event id",
            "schema": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,64}$"}
        }));
        op["parameters"] = json!(params);
    }
    op["security"] = match doc.access {
        Access::Anyone => json!([]),
        Access::Optional => json!([{}, {"bearer": []}]),
        Access::Caller | Access::Vendor | Access::Admin => json!([{"bearer": []}]),
    };
    if matches!(doc.access, Access::Vendor | Access::Admin) {
        op["description"] = json!(format!("{:?}s only", doc.access).to_lowercase());
    }
    op
}

/// The document for `docs`.
pub fn document(docs: &[Doc]) -> Value {
    let mut paths = Map::new();
    for doc in docs {
        let path = paths.entry(doc.path.to_string()).or_insert_with(|| json!({}));
        path[doc.method.to_lowercase()] = operation(doc);
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "shopflow API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Reads of the incrementally maintained views, and writes that become events (shared/contract/api.md)."
        },
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": {"Error": error_schema(), "Written": written_schema()}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_parameters_queries_and_bodies_are_described() {
        let docs = [
            Doc {
                method: "GET",
                path: "/api/v1/orders/{id}",
                summary: "one order",
                access: Access::Caller,
                input: Input::Nothing,
                output: Output::Object,
                query: &[],
            },
            Doc {
                method: "POST",
                path: "/api/v1/cart/items",
                summary: "add",
                access: Access::Caller,
                input: Input::Fields(&[("productId", "string", true), ("quantity", "integer", true)]),
                output: Output::Written,
                query: &[],
            },
        ];
        let document = document(&docs);
        let get = &document["paths"]["/api/v1/orders/{id}"]["get"];
        let names: Vec<&str> =
            get["parameters"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["id", "after"]);
        let post = &document["paths"]["/api/v1/cart/items"]["post"];
        assert_eq!(
            post["requestBody"]["content"]["application/json"]["schema"]["required"],
            json!(["productId", "quantity"])
        );
        assert!(post["responses"]["202"].is_object() && post["responses"]["429"].is_object());
    }
}
