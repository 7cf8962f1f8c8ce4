//! `shopflow serve` (the API), `shopflow run` (pipeline and API in one
//! process) and `shopflow token` (development tokens).

use super::pipeline::{report_progress, stop_on_signals, PipelineArgs, StoreArgs};
use super::KafkaArgs;
use crate::pipeline::{self, Counters};
use anyhow::{bail, Context};
use clap::Args;
use shopflow_api::auth::{Auth, Role};
use shopflow_api::limits::{Limits, Rate};
use shopflow_api::stores::StoreConfig;
use shopflow_api::{AppState, Services, Stores};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How tokens are checked: HS256 with a secret, or RS256 with a key pair.
#[derive(Args, Clone, Debug)]
pub struct AuthArgs {
    /// HS256 secret for access tokens.
    #[arg(long, env = "SHOPFLOW_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// RS256 instead: a PEM file with the public key tokens are verified with.
    #[arg(long, env = "SHOPFLOW_JWT_PUBLIC_KEY")]
    pub jwt_public_key: Option<std::path::PathBuf>,
    /// RS256: a PEM file with the private key, to mint tokens (`/auth/refresh`, `shopflow token`).
    #[arg(long, env = "SHOPFLOW_JWT_PRIVATE_KEY")]
    pub jwt_private_key: Option<std::path::PathBuf>,
    /// Expected `iss`.
    #[arg(long, env = "SHOPFLOW_JWT_ISSUER", default_value = "shopflow")]
    pub jwt_issuer: String,
    /// Expected `aud`.
    #[arg(long, env = "SHOPFLOW_JWT_AUDIENCE", default_value = "shopflow-api")]
    pub jwt_audience: String,
    /// The key second-factor secrets are sealed with on `shop.credentials` (any length; at
    /// least 16 characters). Default: derived from the HS256 secret; without either, second
    /// factors are off.
    #[arg(long, env = "SHOPFLOW_SEAL_KEY", hide_env_values = true)]
    pub seal_key: Option<String>,
    /// An OpenID Connect provider's keys (JWKS, http or https): its RS256 tokens with a `kid`
    /// sign people in as shoppers.
    #[arg(long, env = "SHOPFLOW_JWKS_URL", requires = "jwks_issuer")]
    pub jwks_url: Option<String>,
    /// The provider's `iss` (required with `--jwks-url`).
    #[arg(long, env = "SHOPFLOW_JWKS_ISSUER")]
    pub jwks_issuer: Option<String>,
    /// The `aud` the provider's tokens must carry (default: `--jwt-audience`).
    #[arg(long, env = "SHOPFLOW_JWKS_AUDIENCE")]
    pub jwks_audience: Option<String>,
    /// How long the provider's keys are kept before they are fetched again (seconds).
    #[arg(long, env = "SHOPFLOW_JWKS_CACHE_SECS", default_value_t = 300)]
    pub jwks_cache_secs: u64,
}

impl AuthArgs {
    /// The verifier (with the external provider's keys when configured); an error names the
    /// missing or bad setting.
    pub fn auth(&self) -> anyhow::Result<Auth> {
        let auth = self.own_auth()?;
        let Some(url) = &self.jwks_url else { return Ok(auth) };
        let issuer = self.jwks_issuer.as_deref().context("--jwks-url needs --jwks-issuer")?;
        let audience = self.jwks_audience.as_deref().unwrap_or(&self.jwt_audience);
        let ttl = Duration::from_secs(self.jwks_cache_secs.max(1));
        let jwks = shopflow_api::jwks::Jwks::new(url, issuer, audience, ttl).map_err(anyhow::Error::msg)?;
        Ok(auth.with_jwks(jwks))
    }

    fn own_auth(&self) -> anyhow::Result<Auth> {
        if let Some(public) = &self.jwt_public_key {
            let read = |path: &std::path::Path| {
                std::fs::read(path).with_context(|| format!("reading the RS256 key {}", path.display()))
            };
            let private = self.jwt_private_key.as_deref().map(read).transpose()?;
            return Ok(Auth::rs256(&read(public)?, private.as_deref(), &self.jwt_issuer, &self.jwt_audience)?);
        }
        let Some(secret) = self.jwt_secret.as_deref().filter(|s| !s.is_empty()) else {
            bail!("no JWT key: set SHOPFLOW_JWT_SECRET (HS256) or SHOPFLOW_JWT_PUBLIC_KEY (RS256)");
        };
        if secret.len() < 16 {
            bail!("the JWT secret is too short: use at least 16 characters");
        }
        Ok(Auth::hs256(secret.as_bytes(), &self.jwt_issuer, &self.jwt_audience))
    }

    /// What seals second-factor secrets: `--seal-key`, else one derived from the HS256 secret.
    pub fn sealer(&self) -> anyhow::Result<Option<shopflow_api::identity::Sealer>> {
        match (self.seal_key.as_deref().filter(|k| !k.is_empty()), self.jwt_secret.as_deref()) {
            (Some(key), _) if key.len() < 16 => bail!("the seal key is too short: use at least 16 characters"),
            (Some(key), _) => Ok(Some(shopflow_api::identity::Sealer::new(key.as_bytes()))),
            (None, Some(secret)) if self.jwt_public_key.is_none() && !secret.is_empty() => {
                Ok(Some(shopflow_api::identity::Sealer::new(format!("from the jwt secret:{secret}").as_bytes())))
            }
            _ => Ok(None),
        }
    }
}

/// How writes behave.
#[derive(Args, Clone, Debug)]
pub struct WriteArgs {
    /// How long a read with `?after=<consistencyToken>` waits for the pipeline (milliseconds).
    #[arg(long, env = "SHOPFLOW_CONSISTENCY_WAIT_MS", default_value_t = 5_000)]
    pub consistency_wait_ms: u64,
    /// How long a checkout holds stock the pipeline has not counted yet (seconds).
    #[arg(long, env = "SHOPFLOW_HOLD_TTL_SECS", default_value_t = 600)]
    pub hold_ttl_secs: u64,
    /// A write fails with 503 when Kafka has not acknowledged it within this (milliseconds).
    #[arg(long, env = "SHOPFLOW_PRODUCE_TIMEOUT_MS", default_value_t = 10_000)]
    pub produce_timeout_ms: u64,
    /// The secret the payment provider signs `POST /payments/confirm` with (HMAC-SHA256).
    #[arg(long, env = "SHOPFLOW_PAYMENT_WEBHOOK_SECRET", hide_env_values = true)]
    pub payment_webhook_secret: Option<String>,
    /// What checkout charges for shipping (minor units).
    #[arg(long, env = "SHOPFLOW_SHIPPING_FEE", default_value_t = 499)]
    pub shipping_fee: i64,
    /// Shipping is free from this subtotal after discount (minor units).
    #[arg(long, env = "SHOPFLOW_FREE_SHIPPING_FROM", default_value_t = 5_000)]
    pub free_shipping_from: i64,
    /// A Redis call fails with 503 after this (milliseconds).
    #[arg(long, env = "SHOPFLOW_REDIS_TIMEOUT_MS", default_value_t = 1_000)]
    pub redis_timeout_ms: u64,
    /// A ClickHouse query fails with 503 after this (milliseconds).
    #[arg(long, env = "SHOPFLOW_CLICKHOUSE_TIMEOUT_MS", default_value_t = 10_000)]
    pub clickhouse_timeout_ms: u64,
}

/// Rate and size limits of the API (rates per subject: token `sub`, or the client address).
#[derive(Args, Clone, Debug)]
pub struct LimitArgs {
    /// Reads a subject may burst (0: no read limit).
    #[arg(long, env = "SHOPFLOW_READ_BURST", default_value_t = 200)]
    pub read_burst: u32,
    /// Reads per second a subject may sustain.
    #[arg(long, env = "SHOPFLOW_READ_RATE", default_value_t = 100.0)]
    pub read_rate: f64,
    /// Writes a subject may burst (0: no write limit).
    #[arg(long, env = "SHOPFLOW_WRITE_BURST", default_value_t = 40)]
    pub write_burst: u32,
    /// Writes per second a subject may sustain.
    #[arg(long, env = "SHOPFLOW_WRITE_RATE", default_value_t = 10.0)]
    pub write_rate: f64,
    /// Sign-in attempts (and password reset requests) an account, and a client address, may burst (0: no limit).
    #[arg(long, env = "SHOPFLOW_LOGIN_BURST", default_value_t = 10)]
    pub login_burst: u32,
    /// Sign-in attempts per second an account, and a client address, may sustain.
    #[arg(long, env = "SHOPFLOW_LOGIN_RATE", default_value_t = 0.05)]
    pub login_rate: f64,
    /// The largest request body in bytes (413 beyond).
    #[arg(long, env = "SHOPFLOW_MAX_BODY_BYTES", default_value_t = 64 * 1024)]
    pub max_body_bytes: usize,
}

impl LimitArgs {
    /// The limits these flags say.
    pub fn limits(&self) -> Limits {
        Limits {
            reads: Rate { burst: self.read_burst, per_second: self.read_rate },
            writes: Rate { burst: self.write_burst, per_second: self.write_rate },
            logins: Rate { burst: self.login_burst, per_second: self.login_rate },
            body_bytes: self.max_body_bytes,
        }
    }
}

/// Arguments of `shopflow serve`.
#[derive(Args, Clone, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    pub http: HttpArgs,
    /// `/ready` fails when the published state is older than this many seconds.
    #[arg(long, default_value_t = 60)]
    pub max_staleness_secs: u64,
    #[command(flatten)]
    pub auth: AuthArgs,
    #[command(flatten)]
    pub writes: WriteArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub stores: StoreArgs,
}

/// Where the API listens and what it calls itself.
#[derive(Args, Clone, Debug)]
pub struct HttpArgs {
    /// Address to listen on.
    #[arg(long, env = "SHOPFLOW_HTTP_ADDR", default_value = "127.0.0.1:8080")]
    pub http_addr: String,
    /// The public address of the storefront's pages, for the sitemap and JSON-LD (default: the request's Host).
    #[arg(long, env = "SHOPFLOW_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Origins browsers may call the API from (`https://shop.example,http://localhost:3000`; `*`: any).
    /// None by default.
    #[arg(long, env = "SHOPFLOW_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
}

/// Arguments of `shopflow run`.
#[derive(Args, Clone, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    #[command(flatten)]
    pub http: HttpArgs,
    #[command(flatten)]
    pub auth: AuthArgs,
    #[command(flatten)]
    pub writes: WriteArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    pub delivery: super::notify::DeliveryArgs,
}

async fn state(args: &ServeArgs) -> anyhow::Result<AppState> {
    let config = StoreConfig {
        redis_url: args.stores.redis_url.clone(),
        namespace: args.stores.namespace.clone(),
        clickhouse_url: args.stores.clickhouse_url.clone(),
        clickhouse_database: args.stores.clickhouse_database.clone(),
        brokers: args.kafka.brokers.clone(),
        topic_prefix: args.kafka.topic_prefix.clone(),
        produce_timeout: Duration::from_millis(args.writes.produce_timeout_ms),
    };
    let stores = Stores::connect(&config).await?;
    let brokers = args.kafka.brokers.clone();
    let kafka_check: shopflow_api::ReadyCheck = Arc::new(move || {
        use rdkafka::consumer::{BaseConsumer, Consumer};
        let consumer: BaseConsumer =
            rdkafka::ClientConfig::new().set("bootstrap.servers", &brokers).create().map_err(|e| e.to_string())?;
        consumer.fetch_metadata(None, Duration::from_secs(2)).map(|_| ()).map_err(|e| e.to_string())
    });
    Ok(AppState::from(Services {
        stores,
        consistency_wait: Duration::from_millis(args.writes.consistency_wait_ms),
        hold_ttl: Duration::from_secs(args.writes.hold_ttl_secs),
        limits: args.limits.limits(),
        metrics: Default::default(),
        payment_secret: args.writes.payment_webhook_secret.clone().filter(|s| !s.is_empty()),
        breakers: shopflow_api::breaker::Breakers::new(
            Duration::from_millis(args.writes.redis_timeout_ms),
            Duration::from_millis(args.writes.clickhouse_timeout_ms),
            Duration::from_millis(args.writes.produce_timeout_ms + 1_000),
        ),
        auth: args.auth.auth()?,
        sealer: args.auth.sealer()?,
        cors: shopflow_api::cors::Cors::new(&args.http.cors_origins).map_err(anyhow::Error::msg)?,
        ready_checks: vec![("kafka", kafka_check)],
        max_staleness: Duration::from_secs(args.max_staleness_secs),
        public_url: args.http.public_url.clone(),
        shipping: shopflow_api::Shipping { fee: args.writes.shipping_fee, free_from: args.writes.free_shipping_from },
        answers: Default::default(),
    }))
}

async fn serve(args: ServeArgs, stop: Arc<AtomicBool>) -> anyhow::Result<()> {
    let state = state(&args).await?;
    let listener = tokio::net::TcpListener::bind(&args.http.http_addr)
        .await
        .with_context(|| format!("listening on {}", args.http.http_addr))?;
    tracing::info!(addr = %listener.local_addr()?, "API listening");
    let app = shopflow_api::app(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            while !stop.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await?;
    Ok(())
}

/// Runs `shopflow serve`.
pub fn run_serve(args: ServeArgs) -> anyhow::Result<()> {
    args.auth.auth()?;
    let stop = Arc::new(AtomicBool::new(false));
    stop_on_signals(stop.clone());
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(serve(args, stop))
}

/// Runs `shopflow run`: the pipeline on its threads, the API beside it.
pub fn run_all(args: RunArgs) -> anyhow::Result<()> {
    if args.pipeline.from_file.is_some() {
        bail!("--from-file is for `shopflow pipeline` (a backfill or a benchmark ends with the file)");
    }
    args.auth.auth()?;
    let stop = Arc::new(AtomicBool::new(false));
    stop_on_signals(stop.clone());
    let counters = Arc::new(Counters::default());
    let done = Arc::new(AtomicBool::new(false));
    report_progress(counters.clone(), done.clone());
    let serve_args = ServeArgs {
        http: args.http.clone(),
        max_staleness_secs: 60,
        auth: args.auth.clone(),
        writes: args.writes.clone(),
        limits: args.limits.clone(),
        kafka: args.pipeline.kafka.clone(),
        stores: args.pipeline.stores.clone(),
    };
    // With notifications on, the dispatcher delivers them.
    let dispatch = args.pipeline.notifications.then(|| Dispatch {
        delivery: args.delivery.clone(),
        kafka: args.pipeline.kafka.clone(),
        stores: args.pipeline.stores.clone(),
    });
    if let Some(dispatch) = &dispatch {
        dispatch.delivery.config()?;
    }
    let result = run_pipeline_and_api(args.pipeline.config()?, serve_args, dispatch, stop, counters);
    done.store(true, Ordering::SeqCst);
    result
}

/// The notification dispatcher's settings, when it runs beside the pipeline.
pub struct Dispatch {
    /// Where and how it delivers.
    pub delivery: super::notify::DeliveryArgs,
    /// The broker it reads from.
    pub kafka: KafkaArgs,
    /// The Redis it keeps its records in.
    pub stores: StoreArgs,
}

/// The pipeline on its threads and the API (and the dispatcher) on a
/// runtime, until `stop`; any of them ending ends all.
pub fn run_pipeline_and_api(
    config: pipeline::PipelineConfig,
    serve_args: ServeArgs,
    dispatch: Option<Dispatch>,
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
) -> anyhow::Result<()> {
    let pipeline = {
        let stop = stop.clone();
        std::thread::Builder::new().name("pipeline".into()).spawn(move || {
            let result = pipeline::run(config, stop.clone(), counters);
            stop.store(true, Ordering::SeqCst);
            result
        })?
    };
    let (served, dispatched) = tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(async {
        let dispatched = async {
            let Some(d) = dispatch else { return Ok(()) };
            let result = super::notify::dispatch(&d.delivery, &d.kafka, &d.stores, stop.clone()).await;
            stop.store(true, Ordering::SeqCst);
            result.context("the notification dispatcher")
        };
        tokio::join!(serve(serve_args, stop.clone()), dispatched)
    });
    stop.store(true, Ordering::SeqCst);
    let piped = pipeline.join().map_err(|_| anyhow::anyhow!("pipeline thread panicked"))?;
    served.and(dispatched).and(piped)
}

/// Arguments of `shopflow token`.
#[derive(Args, Clone, Debug)]
pub struct TokenArgs {
    /// The userId (`sub`).
    #[arg(long)]
    pub sub: String,
    /// shopper, vendor or admin.
    #[arg(long, value_parser = ["shopper", "vendor", "admin"])]
    pub role: String,
    /// For vendors: their vendorId.
    #[arg(long)]
    pub vendor_id: Option<String>,
    /// Lifetime: `90s`, `15m` (at most 15 minutes).
    #[arg(long, default_value = "15m", value_parser = parse_ttl)]
    pub ttl: i64,
    /// Print a refresh token (7 days, one use at `POST /api/v1/auth/refresh`) instead.
    #[arg(long)]
    pub refresh: bool,
    #[command(flatten)]
    pub auth: AuthArgs,
}

fn parse_ttl(text: &str) -> Result<i64, String> {
    let (number, unit) = match text.strip_suffix('m') {
        Some(n) => (n, 60),
        None => (text.strip_suffix('s').unwrap_or(text), 1),
    };
    let seconds = number.parse::<i64>().map_err(|_| format!("{text:?}: expected e.g. 90s or 15m"))? * unit;
    if !(1..=shopflow_api::auth::MAX_TTL_SECONDS).contains(&seconds) {
        return Err(format!("{text:?}: tokens live 1 s to 15 min"));
    }
    Ok(seconds)
}

/// Runs `shopflow token`.
pub fn run_token(args: TokenArgs) -> anyhow::Result<()> {
    let role = match args.role.as_str() {
        "vendor" => Role::Vendor,
        "admin" => Role::Admin,
        _ => Role::Shopper,
    };
    if role == Role::Vendor && args.vendor_id.is_none() {
        bail!("--vendor-id is required for a vendor token");
    }
    let auth = args.auth.auth()?;
    if !auth.can_mint() {
        bail!("minting needs the HS256 secret or the RS256 private key (SHOPFLOW_JWT_PRIVATE_KEY)");
    }
    let vendor = args.vendor_id.as_deref();
    let token = if args.refresh {
        auth.mint_refresh(&args.sub, role, vendor)
    } else {
        auth.mint(&args.sub, role, vendor, args.ttl)
    };
    println!("{token}");
    Ok(())
}
