//! `GET /api/v1/status`, `GET /health`, `GET /ready`.

use crate::error::AppError;
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

/// The published frontier: generation, asOf and the offsets it covers.
pub async fn status(State(state): State<AppState>) -> Result<Json<Value>, AppError> {
    let status = state
        .breakers
        .redis
        .call(state.redis.status())
        .await?
        .ok_or_else(|| AppError::unavailable("not_ready", "no state is published yet; is the pipeline running?"))?;
    Ok(Json(json!({"generation": status.generation, "asOf": status.as_of, "offsets": status.offsets})))
}

/// The process is up.
pub async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Redis, ClickHouse and Kafka answer, and the published state is fresh.
pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let mut checks = serde_json::Map::new();
    let mut ok = true;
    let mut note = |name: &str, result: Result<(), String>| {
        ok &= result.is_ok();
        checks.insert(name.to_string(), json!(result.err().unwrap_or_else(|| "ok".into())));
    };
    note("redis", state.redis.ping().await.map_err(|e| e.to_string()));
    note("clickhouse", state.clickhouse.ping().await.map_err(|e| e.to_string()));
    for (name, check) in &state.ready_checks {
        let check = check.clone();
        let result = tokio::task::spawn_blocking(move || check()).await.unwrap_or_else(|e| Err(e.to_string()));
        note(name, result);
    }
    let freshness = match state.redis.status().await {
        Ok(Some(status)) => {
            let age_ms = chrono::Utc::now().timestamp_millis() - status.as_of;
            if age_ms <= state.max_staleness.as_millis() as i64 {
                Ok(())
            } else {
                Err(format!("published state is {age_ms} ms old"))
            }
        }
        Ok(None) => Err("nothing published yet".to_string()),
        Err(e) => Err(e.to_string()),
    };
    note("frontier", freshness);
    let code = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(json!({"ready": ok, "checks": checks})))
}
