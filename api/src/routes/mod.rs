//! One module per family of routes.

pub mod analytics;
pub mod orders;
pub mod products;
pub mod recommend;
pub mod session;
pub mod status;
pub mod writes;

use crate::error::AppError;
use crate::AppState;
use serde_json::Value;
use shopflow_sinks::Family;

/// Any path the API does not have.
pub async fn not_found() -> AppError {
    AppError::not_found("route")
}

/// Reads objects of the current generation: (asOf, values).
pub async fn read(state: &AppState, objects: &[(Family, &str)]) -> Result<(i64, Vec<Option<Value>>), AppError> {
    let served = state
        .breakers
        .redis
        .call(state.redis.read(objects))
        .await?
        .ok_or_else(|| AppError::unavailable("not_ready", "no state is published yet; is the pipeline running?"))?;
    let values = served
        .values
        .into_iter()
        .map(|v| v.map(|json| serde_json::from_str(&json)).transpose())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| AppError::store("redis", e))?;
    Ok((served.as_of, values))
}

/// `value` with `asOf` added.
pub fn with_as_of(mut value: Value, as_of: i64) -> Value {
    if let Value::Object(map) = &mut value {
        map.insert("asOf".into(), Value::from(as_of));
    }
    value
}

/// 400 unless `id` is a valid id of the contract.
pub fn check_id(field: &str, id: &str) -> Result<(), AppError> {
    if shopflow_topics::fields::is_valid_id(id) {
        Ok(())
    } else {
        Err(AppError::bad_request(format!("{field}: ids are 1-64 characters of [A-Za-z0-9._:-]")))
    }
}

/// Whether a served product is in the catalog (not deleted).
pub fn is_live(product: &Value) -> bool {
    product["deleted"].as_bool() != Some(true)
}

/// The product a read found, or 404 when the catalog does not have it or has deleted it.
pub fn live_product(product: Option<Value>) -> Result<Value, AppError> {
    product.filter(is_live).ok_or_else(|| AppError::not_found("product"))
}
