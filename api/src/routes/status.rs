//! `GET /health`, `/ready`, `/metrics`, `/openapi.json`, `/api/v1/status`.

use super::{read_doc, Route};
use crate::error::AppError;
use crate::openapi::{Access, Doc, Input, Output};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Json;
use serde_json::{json, Value};

/// The routes of this family.
pub fn routes() -> Vec<Route> {
    use Access::Anyone;
    vec![
        (read_doc("/health", "the process is up", Anyone), get(health)),
        (read_doc("/ready", "Redis, ClickHouse and Kafka answer and the served state is fresh", Anyone), get(ready)),
        (
            Doc {
                method: "GET",
                path: "/metrics",
                summary: "Prometheus metrics",
                access: Anyone,
                input: Input::Nothing,
                output: Output::Text,
                query: &[],
            },
            get(crate::metrics::metrics),
        ),
        (read_doc("/openapi.json", "this document", Anyone), get(openapi)),
        (read_doc("/api/v1/status", "the served frontier: generation, asOf, offsets", Anyone), get(status)),
    ]
}

/// This API described as OpenAPI 3.0, made from the route list the router is made from.
async fn openapi() -> Json<Value> {
    static DOCUMENT: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    Json(DOCUMENT.get_or_init(|| crate::openapi::document(&crate::docs())).clone())
}

/// The published frontier: generation, asOf and the offsets it covers.
pub async fn status(State(state): State<AppState>) -> Result<Json<Value>, AppError> {
    let status = state
        .breakers
        .redis
        .call(state.stores.views.status())
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
    let chain = |e: shopflow_sinks::SinkError| shopflow_topics::error::chain(&e);
    note("redis", state.stores.views.ping().await.map_err(chain));
    note("clickhouse", state.stores.analytics.ping().await.map_err(chain));
    for (name, check) in &state.ready_checks {
        let check = check.clone();
        let result = tokio::task::spawn_blocking(move || check()).await.unwrap_or_else(|e| Err(e.to_string()));
        note(name, result);
    }
    let freshness = match state.stores.views.status().await {
        Ok(Some(status)) => {
            let age_ms = chrono::Utc::now().timestamp_millis() - status.as_of;
            if age_ms <= state.max_staleness.as_millis() as i64 {
                Ok(())
            } else {
                Err(format!("published state is {age_ms} ms old"))
            }
        }
        Ok(None) => Err("nothing published yet".to_string()),
        Err(e) => Err(chain(e)),
    };
    note("frontier", freshness);
    let code = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(json!({"ready": ok, "checks": checks})))
}
