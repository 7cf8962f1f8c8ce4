//! `shopflow demo`: the main job on one machine. A marketplace workload flows
//! into Kafka (an embedded Kafka-protocol broker when none is configured), the
//! pipeline publishes it, the API serves it; progress until interrupted.

use super::pipeline::{stop_on_signals, PipelineArgs, StoreArgs};
use super::serve::{run_pipeline_and_api, AuthArgs, HttpArgs, LimitArgs, ServeArgs, WriteArgs};
use super::{KafkaArgs, WorkerArgs};
use crate::pipeline::Counters;
use anyhow::Context;
use clap::Args;
use rdkafka::mocking::MockCluster;
use shopflow_api::auth::Role;
use shopflow_ingest::generate::{Generator, GeneratorConfig, Summary};
use shopflow_ingest::producer::RecordProducer;
use shopflow_topics::Topic;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Arguments of `shopflow demo`.
#[derive(Args, Clone, Debug)]
pub struct DemoArgs {
    /// Kafka brokers; without one, the demo hosts an embedded broker (in memory).
    #[arg(long, env = "SHOPFLOW_BROKERS")]
    brokers: Option<String>,
    /// Workload seed.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Records per second the storefront produces.
    #[arg(long, default_value_t = 500.0)]
    rate: f64,
    /// Stop after this many seconds (default: until interrupted).
    #[arg(long)]
    duration: Option<u64>,
    #[command(flatten)]
    workers: WorkerArgs,
    #[command(flatten)]
    http: HttpArgs,
    #[command(flatten)]
    auth: AuthArgs,
    #[command(flatten)]
    stores: StoreArgs,
}

/// A secret for a demo run without one: printed tokens are signed with it.
const DEMO_SECRET: &str = "shopflow-demo-secret-not-for-production";

/// Runs `shopflow demo`.
pub fn run(mut args: DemoArgs) -> anyhow::Result<()> {
    if args.auth.jwt_secret.is_none() {
        args.auth.jwt_secret = Some(DEMO_SECRET.to_string());
    }
    let auth = args.auth.auth()?;
    if !auth.can_mint() {
        anyhow::bail!("the demo mints an admin token: give the HS256 secret or the RS256 private key too");
    }
    // The embedded broker lives as long as this function.
    let (brokers, _embedded) = match &args.brokers {
        Some(brokers) => {
            let specs = shopflow_ingest::admin::plan("", None, 1);
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(shopflow_ingest::admin::create_topics(brokers, &specs)).context("creating topics")?;
            (brokers.clone(), None)
        }
        None => {
            let cluster = MockCluster::new(1).context("starting the embedded broker")?;
            for topic in Topic::ALL {
                cluster.create_topic(topic.name(), topic.default_partitions(), 1)?;
            }
            eprintln!("embedded Kafka-protocol broker on {}", cluster.bootstrap_servers());
            (cluster.bootstrap_servers(), Some(cluster))
        }
    };
    let kafka = KafkaArgs { brokers: brokers.clone(), topic_prefix: String::new() };
    let pipeline = PipelineArgs {
        workers: args.workers,
        group_id: "shopflow-demo".into(),
        max_epoch_records: 20_000,
        exit_when_caught_up: false,
        from_file: None,
        low_stock_threshold: 5,
        pair_cap: 200,
        fraud_orders_per_hour: 5,
        fraud_failed_payments: 3,
        fraud_outlier_factor: 10,
        fraud_outlier_min_orders: 3,
        allowed_lateness: std::time::Duration::from_secs(5),
        idle_timeout: std::time::Duration::from_secs(5),
        clickhouse_interval: std::time::Duration::from_secs(1),
        notifications: true,
        cluster: Default::default(),
        kafka: kafka.clone(),
        stores: args.stores.clone(),
    };
    let serve = ServeArgs {
        http: args.http.clone(),
        max_staleness_secs: 60,
        auth: args.auth.clone(),
        writes: WriteArgs {
            consistency_wait_ms: 5_000,
            hold_ttl_secs: 600,
            produce_timeout_ms: 10_000,
            redis_timeout_ms: 1_000,
            clickhouse_timeout_ms: 10_000,
            payment_webhook_secret: None,
            shipping_fee: 499,
            free_shipping_from: 5_000,
        },
        limits: LimitArgs {
            read_burst: 200,
            read_rate: 100.0,
            write_burst: 40,
            write_rate: 10.0,
            login_burst: 10,
            login_rate: 0.05,
            max_body_bytes: 64 * 1024,
        },
        kafka,
        stores: args.stores.clone(),
    };

    let stop = Arc::new(AtomicBool::new(false));
    stop_on_signals(stop.clone());
    let produced = Arc::new(AtomicU64::new(0));
    let storefront = {
        let (stop, produced, brokers, seed, rate) =
            (stop.clone(), produced.clone(), brokers.clone(), args.seed, args.rate);
        std::thread::spawn(move || -> anyhow::Result<Summary> {
            let producer = RecordProducer::new(&brokers)?;
            let mut summary = Summary::default();
            let config =
                GeneratorConfig { seed, users: 2_000, products: 400, orders: usize::MAX, ..Default::default() };
            let started = Instant::now();
            for (n, record) in Generator::new(config).enumerate() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                producer.send(record.topic.name(), &record.key, record.value.as_bytes())?;
                summary.add(&record);
                produced.store(n as u64 + 1, Ordering::Relaxed);
                let due = Duration::from_secs_f64((n + 1) as f64 / rate);
                if let Some(wait) = due.checked_sub(started.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
            producer.flush(Duration::from_secs(10))?;
            Ok(summary)
        })
    };

    let admin = auth.mint("admin", Role::Admin, None, 15 * 60);
    let base = format!("http://{}", args.http.http_addr);
    println!("shopflow demo: API on {base}");
    println!("admin token (15 minutes): {admin}");
    println!("try:");
    println!("  curl -s {base}/api/v1/status");
    println!("  curl -s {base}/api/v1/inventory/prd-00001");
    println!("  curl -s -H 'Authorization: Bearer {admin}' {base}/api/v1/admin/analytics/funnel");

    let counters = Arc::new(Counters::default());
    {
        let (stop, counters, produced, duration) = (stop.clone(), counters.clone(), produced.clone(), args.duration);
        std::thread::spawn(move || {
            let started = Instant::now();
            while !stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_secs(2));
                let ingested = counters.source.records.load(Ordering::Relaxed);
                let made = produced.load(Ordering::Relaxed);
                println!(
                    "ingested {ingested} events, lag {}, asOf {}, dead letters {}{}",
                    made.saturating_sub(ingested),
                    counters.as_of.load(Ordering::Relaxed),
                    counters.source.dead_letters.load(Ordering::Relaxed),
                    if counters.current.load(Ordering::Relaxed) { "" } else { " (rebuilding)" }
                );
                if duration.is_some_and(|d| started.elapsed() >= Duration::from_secs(d)) {
                    stop.store(true, Ordering::SeqCst);
                }
            }
        });
    }
    let result = run_pipeline_and_api(pipeline.config()?, serve, None, stop.clone(), counters.clone());
    stop.store(true, Ordering::SeqCst);
    let made = storefront.join().map_err(|_| anyhow::anyhow!("storefront panicked"))?;
    if let Ok(summary) = &made {
        print!("{}", summary.table());
    }
    println!(
        "demo stopped: {} events produced, {} ingested, {} publications",
        produced.load(Ordering::Relaxed),
        counters.source.records.load(Ordering::Relaxed),
        counters.publications.load(Ordering::Relaxed)
    );
    result.and(made.map(|_| ()))
}
