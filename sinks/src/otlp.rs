//! Traces over OTLP/HTTP (the OpenTelemetry protocol, JSON encoding).
//!
//! Off unless [`install`]ed (`--otlp-endpoint`). A trace is sampled at its
//! root ([`Tracer::sample`], a fraction of `--otlp-sampling`, 10% by
//! default); its spans are queued without blocking (a full queue drops spans
//! and counts them) and a background thread posts them in batches to
//! `{endpoint}/v1/traces` as `ExportTraceServiceRequest` JSON — what every
//! OpenTelemetry collector, Jaeger and Tempo accept. The pipeline traces each
//! published batch of epochs (read, decode, compute, render, Redis,
//! ClickHouse, Kafka); the API traces each request down to its Redis and
//! Kafka calls ([`in_trace`], [`traced`]).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::OnceLock;
use std::time::Duration;

/// Spans waiting for export at most; beyond, spans are dropped (and counted).
const QUEUE: usize = 16_384;
/// Spans per export request at most.
const BATCH: usize = 512;
/// How long a span waits for its batch to fill before it is sent anyway.
const LINGER: Duration = Duration::from_secs(1);
/// How long one export may take.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// The tracer of this process, once installed.
static TRACER: OnceLock<Tracer> = OnceLock::new();

/// A trace's id and the span under which new spans go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Context {
    /// The trace.
    pub trace: [u8; 16],
    /// The parent span of spans started under this context.
    pub span: [u8; 8],
}

/// A value of a span attribute.
#[derive(Clone, Debug, PartialEq)]
pub enum Attr {
    /// A string.
    Str(String),
    /// An integer.
    Int(i64),
}

impl From<&str> for Attr {
    fn from(s: &str) -> Attr {
        Attr::Str(s.to_string())
    }
}

impl From<String> for Attr {
    fn from(s: String) -> Attr {
        Attr::Str(s)
    }
}

impl From<i64> for Attr {
    fn from(n: i64) -> Attr {
        Attr::Int(n)
    }
}

impl From<u64> for Attr {
    fn from(n: u64) -> Attr {
        Attr::Int(i64::try_from(n).unwrap_or(i64::MAX))
    }
}

impl From<usize> for Attr {
    fn from(n: usize) -> Attr {
        Attr::Int(i64::try_from(n).unwrap_or(i64::MAX))
    }
}

/// A finished span.
#[derive(Clone, Debug)]
pub struct Span {
    /// Its trace.
    pub trace: [u8; 16],
    /// Its id.
    pub id: [u8; 8],
    /// Its parent (none for a trace's root).
    pub parent: Option<[u8; 8]>,
    /// What it did.
    pub name: String,
    /// OTLP span kind: 1 internal, 2 server, 3 client.
    pub kind: u8,
    /// Start, nanoseconds since the Unix epoch.
    pub start_ns: u64,
    /// End, nanoseconds since the Unix epoch.
    pub end_ns: u64,
    /// Its attributes.
    pub attributes: Vec<(&'static str, Attr)>,
    /// Whether what it did failed.
    pub error: bool,
}

impl Span {
    /// A span of `name` under `parent` (a new span id), from `start_ns` to `end_ns`.
    pub fn under(parent: Context, name: impl Into<String>, start_ns: u64, end_ns: u64) -> Span {
        Span {
            trace: parent.trace,
            id: span_id(),
            parent: Some(parent.span),
            name: name.into(),
            kind: 1,
            start_ns,
            end_ns: end_ns.max(start_ns),
            attributes: Vec::new(),
            error: false,
        }
    }

    /// The root span of `context` (its span id is the context's).
    pub fn root(context: Context, name: impl Into<String>, start_ns: u64, end_ns: u64) -> Span {
        Span { id: context.span, parent: None, ..Span::under(context, name, start_ns, end_ns) }
    }

    /// With this attribute.
    pub fn with(mut self, key: &'static str, value: impl Into<Attr>) -> Span {
        self.attributes.push((key, value.into()));
        self
    }

    /// The context of spans under this one.
    pub fn context(&self) -> Context {
        Context { trace: self.trace, span: self.id }
    }

    fn to_json(&self) -> Value {
        let attributes: Vec<Value> = self
            .attributes
            .iter()
            .map(|(key, value)| {
                let value = match value {
                    Attr::Str(s) => json!({ "stringValue": s }),
                    // OTLP's JSON carries 64-bit integers as strings.
                    Attr::Int(n) => json!({ "intValue": n.to_string() }),
                };
                json!({ "key": key, "value": value })
            })
            .collect();
        let mut span = json!({
            "traceId": hex(&self.trace),
            "spanId": hex(&self.id),
            "name": self.name,
            "kind": self.kind,
            "startTimeUnixNano": self.start_ns.to_string(),
            "endTimeUnixNano": self.end_ns.to_string(),
            "attributes": attributes,
            "status": { "code": if self.error { 2 } else { 0 } },
        });
        if let Some(parent) = &self.parent {
            span["parentSpanId"] = Value::String(hex(parent));
        }
        span
    }
}

/// Now, in nanoseconds since the Unix epoch (the clock the sources stamp their reads with).
pub use shopflow_ingest::source::unix_ns as now_ns;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// 64 random bits: SplitMix64 over a counter, keyed per process by the
/// standard library's random hasher keys (ids need to be unique, not secret).
fn random() -> u64 {
    static KEY: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let key = *KEY.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(now_ns());
        hasher.write_u32(std::process::id());
        hasher.finish()
    });
    let mut z = key.wrapping_add(COUNTER.fetch_add(1, Ordering::Relaxed).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn span_id() -> [u8; 8] {
    // Never all zero: OTLP reads that as "no span".
    (random() | 1).to_be_bytes()
}

/// What the exporter thread takes.
enum Message {
    Span(Box<Span>),
    /// Send everything queued, then answer.
    Flush(SyncSender<()>),
}

/// The installed tracer: the sampling ratio and the exporter's queue.
pub struct Tracer {
    /// Traces sampled, as a fraction of 2^64.
    threshold: u64,
    queue: SyncSender<Message>,
    /// Spans dropped on a full queue.
    dropped: AtomicU64,
    /// Spans exported, and export requests that failed.
    exported: std::sync::Arc<AtomicU64>,
    failed: std::sync::Arc<AtomicU64>,
}

/// Installs the process's tracer: spans of sampled traces go to `endpoint`
/// (`http://host:port`, `/v1/traces` added unless given) as `service`.
/// `ratio` is the fraction of traces sampled (0 to 1). Once per process;
/// an error for a bad endpoint or a second install.
pub fn install(endpoint: &str, service: &str, ratio: f64) -> Result<(), String> {
    if !(0.0..=1.0).contains(&ratio) {
        return Err(format!("--otlp-sampling {ratio}: a fraction from 0 to 1"));
    }
    let url = if endpoint.trim_end_matches('/').ends_with("/v1/traces") {
        endpoint.to_string()
    } else {
        format!("{}/v1/traces", endpoint.trim_end_matches('/'))
    };
    let uri: hyper::Uri = url.parse().map_err(|e| format!("--otlp-endpoint {endpoint:?} is not a URL: {e}"))?;
    if uri.scheme_str() != Some("http") {
        return Err(format!("--otlp-endpoint {endpoint:?}: OTLP/HTTP over http:// (a local collector)"));
    }
    let (queue, spans) = std::sync::mpsc::sync_channel(QUEUE);
    let threshold = if ratio >= 1.0 { u64::MAX } else { (ratio * u64::MAX as f64) as u64 };
    let tracer = Tracer {
        threshold,
        queue,
        dropped: AtomicU64::new(0),
        exported: Default::default(),
        failed: Default::default(),
    };
    let (exported, failed) = (tracer.exported.clone(), tracer.failed.clone());
    let resource = json!({ "attributes": [
        { "key": "service.name", "value": { "stringValue": service } },
        { "key": "service.version", "value": { "stringValue": env!("CARGO_PKG_VERSION") } },
    ]});
    TRACER.set(tracer).map_err(|_| "the tracer is already installed".to_string())?;
    std::thread::Builder::new()
        .name("otlp".into())
        .spawn(move || export(uri, resource, spans, exported, failed))
        .map_err(|e| format!("starting the OTLP exporter: {e}"))?;
    tracing::info!(url, ratio, "traces exported over OTLP/HTTP");
    Ok(())
}

/// The installed tracer, if any.
pub fn tracer() -> Option<&'static Tracer> {
    TRACER.get()
}

/// A new trace's context when tracing is on and this trace is sampled.
pub fn sample() -> Option<Context> {
    tracer().and_then(Tracer::sample)
}

/// Queues a finished span (nothing when tracing is off).
pub fn record(span: Span) {
    if let Some(tracer) = tracer() {
        tracer.record(span);
    }
}

/// Exports what is queued and waits for it (at most `within`): before the process ends.
pub fn flush(within: Duration) {
    let Some(tracer) = tracer() else { return };
    let (done, finished) = std::sync::mpsc::sync_channel(1);
    let sent = tracer.queue.send(Message::Flush(done));
    if sent.is_ok() {
        let _ = finished.recv_timeout(within);
    }
    tracing::debug!(
        exported = tracer.exported.load(Ordering::Relaxed),
        failed_exports = tracer.failed.load(Ordering::Relaxed),
        dropped = tracer.dropped.load(Ordering::Relaxed),
        "OTLP exporter flushed"
    );
}

impl Tracer {
    /// A new trace's context, if this one is sampled.
    pub fn sample(&self) -> Option<Context> {
        if self.threshold == 0 || random() > self.threshold {
            return None;
        }
        let trace = (u128::from(random()) << 64 | u128::from(random()) | 1).to_be_bytes();
        Some(Context { trace, span: span_id() })
    }

    /// Queues a finished span; dropped (and counted) when the queue is full.
    pub fn record(&self, span: Span) {
        if let Err(TrySendError::Full(_)) = self.queue.try_send(Message::Span(Box::new(span))) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The exporter thread: batches of spans posted as they fill or linger.
fn export(
    uri: hyper::Uri,
    resource: Value,
    spans: Receiver<Message>,
    exported: std::sync::Arc<AtomicU64>,
    failed: std::sync::Arc<AtomicU64>,
) {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
        tracing::error!("the OTLP exporter could not start its runtime; traces are not exported");
        return;
    };
    let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut batch: Vec<Span> = Vec::new();
    // When the oldest span of the batch came.
    let mut since = std::time::Instant::now();
    let mut warned = false;
    loop {
        let message = if batch.is_empty() {
            spans.recv().map_err(|_| RecvTimeoutError::Disconnected)
        } else {
            spans.recv_timeout(LINGER.saturating_sub(since.elapsed()))
        };
        let mut flushed = None;
        let mut ended = false;
        match message {
            Ok(Message::Span(span)) => {
                if batch.is_empty() {
                    since = std::time::Instant::now();
                }
                batch.push(*span);
            }
            Ok(Message::Flush(done)) => flushed = Some(done),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => ended = true,
        }
        let due = batch.len() >= BATCH || flushed.is_some() || ended || since.elapsed() >= LINGER;
        if due && !batch.is_empty() {
            // A flush takes everything queued before it.
            while let Ok(Message::Span(span)) = spans.try_recv() {
                batch.push(*span);
            }
            let count = batch.len() as u64;
            let body = json!({ "resourceSpans": [{
                "resource": resource,
                "scopeSpans": [{
                    "scope": { "name": "shopflow", "version": env!("CARGO_PKG_VERSION") },
                    "spans": batch.drain(..).map(|s| s.to_json()).collect::<Vec<_>>(),
                }],
            }]});
            let request = hyper::Request::post(uri.clone())
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(body.to_string())));
            let outcome = runtime.block_on(async {
                let request = request.map_err(|e| e.to_string())?;
                let response = tokio::time::timeout(EXPORT_TIMEOUT, client.request(request))
                    .await
                    .map_err(|_| "no answer within 10 s".to_string())?
                    .map_err(|e| e.to_string())?;
                let status = response.status();
                let _ = response.into_body().collect().await;
                if status.is_success() {
                    Ok(())
                } else {
                    Err(format!("answered {status}"))
                }
            });
            match outcome {
                Ok(()) => {
                    exported.fetch_add(count, Ordering::Relaxed);
                    warned = false;
                }
                Err(error) => {
                    failed.fetch_add(1, Ordering::Relaxed);
                    // Once per outage, not once per batch.
                    if !warned {
                        tracing::warn!(%uri, "exporting {count} spans over OTLP failed: {error}; spans are dropped until it answers");
                        warned = true;
                    }
                }
            }
        }
        if let Some(done) = flushed {
            let _ = done.send(());
        }
        if ended {
            return;
        }
    }
}

tokio::task_local! {
    /// The trace of the request this task is answering, when sampled.
    static CURRENT: Context;
}

/// Runs `work` with `context` as the current trace of this task (a sampled request).
pub async fn in_trace<F: Future>(context: Context, work: F) -> F::Output {
    CURRENT.scope(context, work).await
}

/// The current task's trace, if it is sampled.
pub fn current() -> Option<Context> {
    CURRENT.try_with(|c| *c).ok()
}

/// Runs `work`; under a sampled trace, also records it as a client span
/// `name` (a call to `store`), marked failed when it returns an error.
pub async fn traced<T, E, F>(name: &'static str, store: &'static str, work: F) -> Result<T, E>
where
    F: Future<Output = Result<T, E>>,
{
    let Some(parent) = current() else { return work.await };
    let start = now_ns();
    let outcome = work.await;
    let mut span = Span::under(parent, name, start, now_ns()).with("db.system", store);
    span.kind = 3;
    span.error = outcome.is_err();
    record(span);
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_are_otlp_json() {
        let context = Context { trace: [0xab; 16], span: [0x01; 8] };
        let span = Span::under(context, "redis", 1_000, 2_000).with("keys", 3u64).with("db.system", "redis");
        let json = span.to_json();
        assert_eq!(json["traceId"], "abababababababababababababababab");
        assert_eq!(json["parentSpanId"], "0101010101010101");
        assert_eq!(json["spanId"].as_str().unwrap().len(), 16);
        assert_eq!(json["startTimeUnixNano"], "1000");
        assert_eq!(json["endTimeUnixNano"], "2000");
        assert_eq!(json["attributes"][0], json!({"key": "keys", "value": {"intValue": "3"}}));
        assert_eq!(json["attributes"][1]["value"]["stringValue"], "redis");
        let root = Span::root(context, "batch", 5, 1).to_json();
        assert!(root.get("parentSpanId").is_none());
        assert_eq!(root["spanId"], "0101010101010101");
        assert_eq!(root["endTimeUnixNano"], "5", "an end before the start is the start");
    }

    #[test]
    fn ids_differ_and_are_never_zero() {
        let ids: std::collections::BTreeSet<[u8; 8]> = (0..10_000).map(|_| span_id()).collect();
        assert_eq!(ids.len(), 10_000);
        assert!(!ids.contains(&[0; 8]));
    }
}
