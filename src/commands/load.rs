//! `shopflow load`: simulated shoppers through the HTTP API, on loopback.
//!
//! Each shopper is a task with its own token (`sub` = `load-<seed>-<n>`,
//! signed with the API's HS256 secret or RS256 private key) and its own
//! seeded choices. A journey is what a shopper does on a shop: browse a page
//! of the catalog, search for a word of a product's name, open a product,
//! add it to the cart, check out, read the order back with
//! `?after=<consistencyToken>` (the write-to-visible latency: from the
//! checkout's answer until the order can be read), and pay for it by card.
//! Journeys start at the target rate (`--rate`, spread over the shoppers;
//! 0: as fast as they go) until `--duration` has passed; a progress line
//! every second, then a report: requests/s and p50/p99 per step, errors by
//! status code, orders/s and the write-to-visible p50/p99 (`--report` also
//! writes it as JSON). It only talks to a loopback address.

use super::parse_duration;
use super::serve::AuthArgs;
use anyhow::{bail, Context};
use bytes::Bytes;
use clap::Args;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};
use shopflow_api::auth::{Role, MAX_TTL_SECONDS};
use shopflow_ingest::generate::Rng;
use shopflow_sinks::percent_encode as encode;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Arguments of `shopflow load`.
#[derive(Args, Clone, Debug)]
pub struct LoadArgs {
    /// The API's base URL; a loopback address only (127.0.0.0/8, ::1, localhost).
    #[arg(long, env = "SHOPFLOW_API_URL", default_value = "http://127.0.0.1:8080")]
    pub api: String,
    /// Concurrent shoppers, each with its own token and connection.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub shoppers: u32,
    /// Journeys started per second, over all shoppers; 0: each shopper starts its next
    /// journey as soon as the last one ends.
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
    /// How long to run (`30s`, `5m`); journeys under way then finish.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Seed of the shoppers' choices (and of their user ids).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    pub report: Option<std::path::PathBuf>,
    /// No progress line.
    #[arg(long)]
    pub quiet: bool,
    #[command(flatten)]
    pub auth: AuthArgs,
}

/// The steps of a journey, in order, as the report names them.
const STEPS: [&str; 7] = ["browse", "search", "product", "add_to_cart", "checkout", "read_order", "pay"];

/// Product pages a shopper browses among (the first of the catalog, 20 a page).
const BROWSED_PAGES: u64 = 5;

/// How long one request may take before it counts as failed (`timeout`).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A shopper's token is signed again after this long (tokens live 15 minutes).
const TOKEN_RENEWAL: Duration = Duration::from_secs(10 * 60);

/// What every shopper adds to.
#[derive(Default)]
struct Tally {
    /// Per step: latencies in microseconds.
    latencies: BTreeMap<&'static str, Vec<u32>>,
    /// Per step and status (or `timeout`/`connect`): answers that were not 2xx.
    errors: BTreeMap<(&'static str, String), u64>,
    /// From a checkout's answer until its order was read with `?after=` (µs).
    visible: Vec<u32>,
    journeys: u64,
    orders: u64,
}

impl Tally {
    fn absorb(&mut self, other: Tally) {
        for (step, mut l) in other.latencies {
            self.latencies.entry(step).or_default().append(&mut l);
        }
        for (key, n) in other.errors {
            *self.errors.entry(key).or_default() += n;
        }
        self.visible.extend(other.visible);
        self.journeys += other.journeys;
        self.orders += other.orders;
    }
}

/// Live counts for the progress line.
#[derive(Default)]
struct Live {
    requests: AtomicU64,
    errors: AtomicU64,
    journeys: AtomicU64,
    orders: AtomicU64,
}

/// Why a step stopped the journey.
enum Stop {
    /// Not 2xx (or no answer): counted, the journey ends.
    Failed,
    /// Nothing to do (an empty catalog page, nothing in stock): the journey ends quietly.
    Nothing,
}

struct Shopper {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
    auth: Arc<shopflow_api::auth::Auth>,
    user: String,
    /// The access token and when it was signed (signed again before it runs out).
    token: (String, Instant),
    rng: Rng,
    tally: Tally,
    live: Arc<Live>,
    /// Words of product names seen while browsing: what the shopper searches for.
    words: Vec<String>,
}

impl Shopper {
    /// One request of `step`: its JSON answer when 2xx; otherwise the status is counted.
    async fn call(
        &mut self,
        step: &'static str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, Stop> {
        if self.token.1.elapsed() > TOKEN_RENEWAL {
            self.token = (self.auth.mint(&self.user, Role::Shopper, None, MAX_TTL_SECONDS), Instant::now());
        }
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("authorization", format!("Bearer {}", self.token.0));
        let body = match body {
            Some(body) => {
                request = request.header("content-type", "application/json");
                Full::new(Bytes::from(body.to_string()))
            }
            None => Full::new(Bytes::new()),
        };
        let request = request.body(body).map_err(|_| Stop::Failed)?;
        let started = Instant::now();
        self.live.requests.fetch_add(1, Ordering::Relaxed);
        let answered = tokio::time::timeout(REQUEST_TIMEOUT, async {
            let response = self.client.request(request).await.map_err(|_| "connect".to_string())?;
            let status = response.status();
            let bytes = response.into_body().collect().await.map_err(|_| "body".to_string())?.to_bytes();
            Ok::<_, String>((status, bytes))
        })
        .await
        .unwrap_or_else(|_| Err("timeout".to_string()));
        let micros = u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX);
        self.tally.latencies.entry(step).or_default().push(micros);
        let failure = match answered {
            Ok((status, bytes)) if status.is_success() => {
                return Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null));
            }
            // The status and the API's error code (`503 store_timeout`).
            Ok((status, bytes)) => {
                let answer: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                match answer["error"]["code"].as_str() {
                    Some(code) => format!("{} {code}", status.as_u16()),
                    None => status.as_u16().to_string(),
                }
            }
            Err(kind) => kind,
        };
        self.live.errors.fetch_add(1, Ordering::Relaxed);
        *self.tally.errors.entry((step, failure)).or_default() += 1;
        Err(Stop::Failed)
    }

    /// One journey, browse to payment.
    async fn journey(&mut self) -> Result<(), Stop> {
        let page = 1 + self.rng.below(BROWSED_PAGES);
        let listing =
            self.call("browse", Method::GET, &format!("/api/v1/products?page={page}&pageSize=20"), None).await?;
        let items: Vec<(String, String)> = listing["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|i| Some((i["productId"].as_str()?.to_string(), i["name"].as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        if items.is_empty() {
            return Err(Stop::Nothing);
        }
        for (_, name) in &items {
            for word in name.split_whitespace().filter(|w| w.len() > 3) {
                if self.words.len() < 64 && !self.words.iter().any(|w| w == word) {
                    self.words.push(word.to_lowercase());
                }
            }
        }
        if !self.words.is_empty() {
            let word = self.rng.pick(&self.words).clone();
            self.call("search", Method::GET, &format!("/api/v1/products?q={}&pageSize=20", encode(&word)), None)
                .await?;
        }
        let (product_id, _) = self.rng.pick(&items).clone();
        let product =
            self.call("product", Method::GET, &format!("/api/v1/products/{}", encode(&product_id)), None).await?;
        if product["available"].as_i64().unwrap_or(0) < 1 {
            return Err(Stop::Nothing);
        }
        let line = json!({"productId": product_id, "quantity": 1});
        self.call("add_to_cart", Method::POST, "/api/v1/cart/items", Some(line.clone())).await?;
        let address = json!({"street": "1 Load Street", "city": "Loopback", "zipcode": "12345", "country": "US"});
        let order = json!({"items": [line], "shippingAddress": address});
        let created = self.call("checkout", Method::POST, "/api/v1/orders", Some(order)).await?;
        let answered = Instant::now();
        let (Some(order_id), Some(token)) = (created["orderId"].as_str(), created["consistencyToken"].as_str()) else {
            return Err(Stop::Failed);
        };
        let (order_id, token) = (order_id.to_string(), token.to_string());
        self.tally.orders += 1;
        self.live.orders.fetch_add(1, Ordering::Relaxed);
        let path = format!("/api/v1/orders/{}?after={}", encode(&order_id), encode(&token));
        self.call("read_order", Method::GET, &path, None).await?;
        self.tally.visible.push(u32::try_from(answered.elapsed().as_micros()).unwrap_or(u32::MAX));
        self.call(
            "pay",
            Method::POST,
            "/api/v1/payments/initiate",
            Some(json!({"orderId": order_id, "method": "card"})),
        )
        .await?;
        Ok(())
    }
}

/// The base URL (no trailing slash) when it names a loopback host over http; an error otherwise.
fn loopback_base(api: &str) -> anyhow::Result<String> {
    let uri: hyper::Uri = api.parse().with_context(|| format!("--api {api:?} is not a URL"))?;
    if uri.scheme_str() != Some("http") {
        bail!("--api {api:?}: only http:// to a loopback address");
    }
    let host = uri.host().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
    let loopback = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        bail!(
            "--api {api:?}: shopflow load only talks to a loopback address (127.0.0.0/8, ::1, localhost), not {host:?}"
        );
    }
    Ok(api.trim_end_matches('/').to_string())
}

/// The value at quantile `q` of sorted `values`, in milliseconds.
fn quantile_ms(sorted: &[u32], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    f64::from(sorted[rank - 1]) / 1_000.0
}

/// The report: every figure the run measured.
fn report(tally: &mut Tally, elapsed: Duration, args: &LoadArgs) -> Value {
    let seconds = elapsed.as_secs_f64().max(1e-9);
    let mut steps = serde_json::Map::new();
    let mut requests = 0u64;
    for step in STEPS {
        let latencies = tally.latencies.entry(step).or_default();
        latencies.sort_unstable();
        requests += latencies.len() as u64;
        let errors: u64 = tally.errors.iter().filter(|((s, _), _)| *s == step).map(|(_, n)| n).sum();
        steps.insert(
            step.to_string(),
            json!({
                "requests": latencies.len(),
                "perSecond": round(latencies.len() as f64 / seconds),
                "p50Ms": round(quantile_ms(latencies, 0.50)),
                "p99Ms": round(quantile_ms(latencies, 0.99)),
                "errors": errors,
            }),
        );
    }
    let mut errors = serde_json::Map::new();
    for ((step, code), n) in &tally.errors {
        errors.insert(format!("{step} {code}"), json!(n));
    }
    let server_errors: u64 = tally.errors.iter().filter(|((_, code), _)| code.starts_with('5')).map(|(_, n)| n).sum();
    tally.visible.sort_unstable();
    json!({
        "api": args.api,
        "shoppers": args.shoppers,
        "targetRate": args.rate,
        "seconds": round(seconds),
        "journeys": tally.journeys,
        "requests": requests,
        "requestsPerSecond": round(requests as f64 / seconds),
        "orders": tally.orders,
        "ordersPerSecond": round(tally.orders as f64 / seconds),
        "writeToVisible": {
            "count": tally.visible.len(),
            "p50Ms": round(quantile_ms(&tally.visible, 0.50)),
            "p99Ms": round(quantile_ms(&tally.visible, 0.99)),
        },
        "steps": steps,
        "errors": errors,
        "serverErrors": server_errors,
    })
}

fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The report as a person reads it.
fn print_report(report: &Value) {
    println!(
        "shopflow load: {} shoppers for {} s against {}: {} journeys, {} requests ({}/s), {} orders ({}/s)",
        report["shoppers"],
        report["seconds"],
        report["api"].as_str().unwrap_or_default(),
        report["journeys"],
        report["requests"],
        report["requestsPerSecond"],
        report["orders"],
        report["ordersPerSecond"],
    );
    println!("{:<12} {:>9} {:>9} {:>10} {:>10} {:>7}", "step", "requests", "per s", "p50 ms", "p99 ms", "errors");
    for step in STEPS {
        let s = &report["steps"][step];
        // serde_json's numbers ignore widths: as text first.
        let [requests, rate, p50, p99, errors] =
            ["requests", "perSecond", "p50Ms", "p99Ms", "errors"].map(|field| s[field].to_string());
        println!("{step:<12} {requests:>9} {rate:>9} {p50:>10} {p99:>10} {errors:>7}");
    }
    let visible = &report["writeToVisible"];
    println!(
        "write to visible (checkout answered → order read with ?after=): p50 {} ms, p99 {} ms over {} orders",
        visible["p50Ms"], visible["p99Ms"], visible["count"]
    );
    match report["errors"].as_object() {
        Some(errors) if !errors.is_empty() => {
            let listed: Vec<String> = errors.iter().map(|(k, n)| format!("{k}: {n}")).collect();
            println!("errors by step and code: {}", listed.join(", "));
        }
        _ => println!("errors: none"),
    }
}

/// Runs `shopflow load`.
pub fn run(args: LoadArgs) -> anyhow::Result<()> {
    let base = loopback_base(&args.api)?;
    if !args.rate.is_finite() || args.rate < 0.0 {
        bail!("--rate {}: journeys per second, 0 or more", args.rate);
    }
    let auth = Arc::new(args.auth.auth()?);
    if !auth.can_mint() {
        bail!("shopflow load signs its shoppers' tokens: it needs the API's HS256 secret (SHOPFLOW_JWT_SECRET) or RS256 private key (SHOPFLOW_JWT_PRIVATE_KEY)");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let live = Arc::new(Live::default());
    let started = Instant::now();
    let deadline = started + args.duration;
    let done = Arc::new(AtomicBool::new(false));
    let progress = (!args.quiet).then(|| {
        let (live, done) = (live.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_secs(1));
                let seconds = started.elapsed().as_secs_f64();
                let requests = live.requests.load(Ordering::Relaxed);
                eprintln!(
                    "load: {seconds:>5.0} s  journeys {}  requests {requests} ({:.0}/s)  orders {}  errors {}",
                    live.journeys.load(Ordering::Relaxed),
                    requests as f64 / seconds.max(1e-9),
                    live.orders.load(Ordering::Relaxed),
                    live.errors.load(Ordering::Relaxed),
                );
            }
        })
    });
    let total = Arc::new(Mutex::new(Tally::default()));
    runtime.block_on(async {
        // Each journey needs a ticket; the pacer hands them out at the target rate.
        let (tickets, received) = tokio::sync::mpsc::channel::<()>(args.shoppers as usize);
        let received = Arc::new(tokio::sync::Mutex::new(received));
        let paced = args.rate > 0.0;
        let pacer = paced.then(|| {
            let period = Duration::from_secs_f64(1.0 / args.rate);
            tokio::spawn(async move {
                let mut every = tokio::time::interval(period);
                every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                while Instant::now() < deadline {
                    every.tick().await;
                    // Full: every shopper is busy; the journey is not started (the rate is not reached).
                    let _ = tickets.try_send(());
                }
            })
        });
        let mut shoppers = Vec::new();
        for n in 0..args.shoppers {
            let user = format!("load-{}-{n}", args.seed);
            let mut shopper = Shopper {
                client: Client::builder(TokioExecutor::new()).pool_max_idle_per_host(1).build_http(),
                base: base.clone(),
                token: (auth.mint(&user, Role::Shopper, None, MAX_TTL_SECONDS), Instant::now()),
                auth: auth.clone(),
                user,
                rng: Rng::new(args.seed.wrapping_mul(1_000_003).wrapping_add(u64::from(n))),
                tally: Tally::default(),
                live: live.clone(),
                words: Vec::new(),
            };
            let (received, total) = (received.clone(), total.clone());
            shoppers.push(tokio::spawn(async move {
                while Instant::now() < deadline {
                    if paced {
                        let ticket =
                            tokio::time::timeout_at(deadline.into(), async { received.lock().await.recv().await });
                        if !matches!(ticket.await, Ok(Some(()))) {
                            break;
                        }
                    }
                    let outcome = shopper.journey().await;
                    shopper.tally.journeys += 1;
                    shopper.live.journeys.fetch_add(1, Ordering::Relaxed);
                    if let Err(Stop::Nothing) = outcome {
                        // An empty page or an item out of stock: a moment before the next look.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
                total.lock().expect("not poisoned").absorb(std::mem::take(&mut shopper.tally));
            }));
        }
        for shopper in shoppers {
            shopper.await.context("a shopper's task failed")?;
        }
        if let Some(pacer) = pacer {
            pacer.abort();
        }
        anyhow::Ok(())
    })?;
    let elapsed = started.elapsed();
    done.store(true, Ordering::SeqCst);
    if let Some(progress) = progress {
        let _ = progress.join();
    }
    let mut tally = std::mem::take(&mut *total.lock().expect("not poisoned"));
    let report = report(&mut tally, elapsed, &args);
    print_report(&report);
    if let Some(path) = &args.report {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing the report to {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{encode, loopback_base, quantile_ms};

    #[test]
    fn only_loopback_addresses_are_loaded() {
        assert_eq!(loopback_base("http://127.0.0.1:8080/").unwrap(), "http://127.0.0.1:8080");
        assert!(loopback_base("http://localhost:9000").is_ok());
        assert!(loopback_base("http://[::1]:9000").is_ok());
        assert!(loopback_base("http://127.3.2.1").is_ok());
        let error = loopback_base("http://10.0.0.5:8080").unwrap_err().to_string();
        assert!(error.contains("loopback"), "{error}");
        assert!(loopback_base("http://example.com").is_err());
        assert!(loopback_base("https://127.0.0.1").is_err());
        assert!(loopback_base("not a url at all").is_err());
    }

    #[test]
    fn quantiles_are_nearest_rank() {
        let values: Vec<u32> = (1..=100).map(|ms| ms * 1_000).collect();
        assert_eq!(quantile_ms(&values, 0.50), 50.0);
        assert_eq!(quantile_ms(&values, 0.99), 99.0);
        assert_eq!(quantile_ms(&[7_000], 0.99), 7.0);
        assert_eq!(quantile_ms(&[], 0.5), 0.0);
    }

    #[test]
    fn path_values_are_percent_encoded() {
        assert_eq!(encode("o-1.2_x~"), "o-1.2_x~");
        assert_eq!(encode("a b/c?d"), "a%20b%2Fc%3Fd");
    }
}
