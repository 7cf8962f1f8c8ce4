//! `shopflow pipeline`: Kafka in, views out to Redis, ClickHouse and Kafka.

use super::{KafkaArgs, WorkerArgs};
use crate::pipeline::{self, Cluster, Counters, PipelineConfig};
use anyhow::Context;
use clap::Args;
use shopflow_ingest::source::SourceConfig;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Where the views go.
#[derive(Args, Clone, Debug)]
pub struct StoreArgs {
    /// Redis URL (serving state).
    #[arg(long, global = true, env = "SHOPFLOW_REDIS_URL", default_value = "redis://127.0.0.1:6379/")]
    pub redis_url: String,
    /// Redis key namespace.
    #[arg(long, global = true, env = "SHOPFLOW_NAMESPACE", default_value = "shopflow")]
    pub namespace: String,
    /// ClickHouse HTTP URL (analytics).
    #[arg(long, global = true, env = "SHOPFLOW_CLICKHOUSE_URL", default_value = "http://127.0.0.1:8123/")]
    pub clickhouse_url: String,
    /// ClickHouse database.
    #[arg(long, global = true, env = "SHOPFLOW_CLICKHOUSE_DATABASE", default_value = "shopflow")]
    pub clickhouse_database: String,
}

/// Where this process stands in a timely cluster.
#[derive(Args, Clone, Debug)]
pub struct ClusterArgs {
    /// Processes of a timely cluster (each runs `--workers` threads); 1: this process alone.
    #[arg(long, env = "SHOPFLOW_PROCESSES", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub processes: u16,
    /// This process's index in the cluster, 0 to processes − 1 (process 0 publishes).
    #[arg(long, env = "SHOPFLOW_PROCESS", default_value_t = 0)]
    pub process: u16,
    /// A file with one `host:port` per line, one line per process in process order (with `--processes` > 1).
    #[arg(long, env = "SHOPFLOW_HOSTFILE")]
    pub hostfile: Option<std::path::PathBuf>,
}

impl Default for ClusterArgs {
    fn default() -> ClusterArgs {
        ClusterArgs { processes: 1, process: 0, hostfile: None }
    }
}

impl ClusterArgs {
    /// The cluster, or `None` for a process alone; an error names a bad setting.
    pub fn cluster(&self) -> anyhow::Result<Option<Cluster>> {
        let (processes, process) = (usize::from(self.processes), usize::from(self.process));
        if process >= processes {
            anyhow::bail!("--process {process} is not below --processes {processes}");
        }
        if processes == 1 {
            return Ok(None);
        }
        let Some(path) = &self.hostfile else {
            anyhow::bail!("--processes {processes} needs --hostfile (one host:port per line, one per process)");
        };
        let text = std::fs::read_to_string(path).with_context(|| format!("reading the hostfile {}", path.display()))?;
        let hosts: Vec<String> =
            text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_string).collect();
        if hosts.len() != processes {
            anyhow::bail!("the hostfile {} names {} hosts for --processes {processes}", path.display(), hosts.len());
        }
        Ok(Some(Cluster { process, hosts }))
    }
}

/// Arguments of `shopflow pipeline`.
#[derive(Args, Clone, Debug)]
pub struct PipelineArgs {
    #[command(flatten)]
    pub workers: WorkerArgs,
    /// Consumer group for offset commits (lag tooling only).
    #[arg(long, env = "SHOPFLOW_GROUP_ID", default_value = "shopflow-pipeline")]
    pub group_id: String,
    /// Records one worker reads at once at most (behind a backlog an epoch
    /// spans reads for up to 2 s, whatever their count).
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_epoch_records: u32,
    /// Exit once everything on the topics at start is published (replays, tests, benchmarks).
    #[arg(long)]
    pub exit_when_caught_up: bool,
    /// Read the records of this NDJSON file (`{topic, key, value}` lines, as `shopflow generate
    /// --out` writes) instead of Kafka, then exit: a benchmark of the engine without a broker, or
    /// a backfill. Derived events are not emitted; records that do not decode are counted.
    #[arg(long, value_name = "PATH")]
    pub from_file: Option<std::path::PathBuf>,
    /// Inventory.LowStock when a product's `available` falls to or below this.
    #[arg(long, env = "SHOPFLOW_LOW_STOCK_THRESHOLD", default_value_t = 5)]
    pub low_stock_threshold: i64,
    /// Recommendations: a user contributes pairs from at most this many of their
    /// most recent distinct products (purchased, or viewed).
    #[arg(long, env = "SHOPFLOW_PAIR_CAP", default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub pair_cap: u32,
    /// Fraud: a user's order is flagged when it makes more than this many orders within an hour.
    #[arg(long, env = "SHOPFLOW_FRAUD_ORDERS_PER_HOUR", default_value_t = 5)]
    pub fraud_orders_per_hour: u32,
    /// Fraud: a payment failure is flagged when it makes this many of a user's within 24 hours.
    #[arg(long, env = "SHOPFLOW_FRAUD_FAILED_PAYMENTS", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub fraud_failed_payments: u32,
    /// Fraud: an order is flagged when its total is above this many times the median of the user's previous ones.
    #[arg(long, env = "SHOPFLOW_FRAUD_OUTLIER_FACTOR", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub fraud_outlier_factor: u32,
    /// Fraud: the outlier rule needs at least this many previous orders of the user.
    #[arg(long, env = "SHOPFLOW_FRAUD_OUTLIER_MIN_ORDERS", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub fraud_outlier_min_orders: u32,
    /// Derived events (status changes, alerts, fraud, notifications) wait until the
    /// event-time watermark — the newest event time of the slowest busy partition less
    /// this — passes them: how far out of order events may arrive and still be in order.
    #[arg(long, env = "SHOPFLOW_ALLOWED_LATENESS", default_value = "5s", value_parser = super::parse_duration)]
    pub allowed_lateness: Duration,
    /// A partition read to its end that has had nothing new for this long stops holding
    /// the watermark back (all idle: everything read is settled).
    #[arg(long, env = "SHOPFLOW_IDLE_TIMEOUT", default_value = "5s", value_parser = super::parse_duration)]
    pub idle_timeout: Duration,
    /// At most one round of ClickHouse inserts per this interval (what arrives meanwhile goes
    /// in the next): every insert is a part ClickHouse merges later, and at a live shop's pace
    /// a round per published batch cost ClickHouse more CPU than the pipeline (BENCHMARKS.md).
    /// Analytics trail Redis by up to this; `0s` writes each batch as it comes.
    #[arg(long, env = "SHOPFLOW_CLICKHOUSE_INTERVAL", default_value = "1s", value_parser = super::parse_duration)]
    pub clickhouse_interval: Duration,
    /// Request notifications (Notification.Requested on shop.notifications). Off by default:
    /// measured at +20% of the whole pipeline's time and memory (BENCHMARKS.md).
    #[arg(long, env = "SHOPFLOW_NOTIFICATIONS")]
    pub notifications: bool,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub stores: StoreArgs,
}

impl PipelineArgs {
    /// The pipeline's configuration; an error names a bad cluster setting.
    pub fn config(&self) -> anyhow::Result<PipelineConfig> {
        Ok(PipelineConfig {
            source: SourceConfig {
                brokers: self.kafka.brokers.clone(),
                topic_prefix: self.kafka.topic_prefix.clone(),
                group_id: self.group_id.clone(),
                max_epoch_records: self.max_epoch_records as usize,
                exit_when_caught_up: self.exit_when_caught_up,
                idle_timeout: self.idle_timeout,
                align_records: shopflow_ingest::source::operator::ALIGN_RECORDS,
                align_window: self.allowed_lateness,
                align_patience: shopflow_ingest::source::operator::ALIGN_PATIENCE,
                times: shopflow_ingest::source::TimeRange::default(),
                dead_letters: self.from_file.is_none(),
                from_offsets: Default::default(),
                to_offsets: Default::default(),
            },
            allowed_lateness: self.allowed_lateness,
            clickhouse_interval: self.clickhouse_interval,
            emit_derived: self.from_file.is_none(),
            from_file: self.from_file.clone(),
            redis_url: self.stores.redis_url.clone(),
            namespace: self.stores.namespace.clone(),
            clickhouse_url: self.stores.clickhouse_url.clone(),
            clickhouse_database: self.stores.clickhouse_database.clone(),
            workers: usize::from(self.workers.workers),
            cluster: self.cluster.cluster()?,
            settings: shopflow_dataflows::Settings {
                pair_cap: self.pair_cap as usize,
                low_stock_threshold: self.low_stock_threshold,
                fraud: shopflow_views::fraud::FraudConfig {
                    max_orders_per_hour: self.fraud_orders_per_hour as usize,
                    failed_payments: self.fraud_failed_payments as usize,
                    outlier_factor: i64::from(self.fraud_outlier_factor),
                    outlier_min_orders: self.fraud_outlier_min_orders as usize,
                },
                notifications: self.notifications,
            },
        })
    }
}

/// Sets `stop` on SIGTERM or SIGINT.
pub fn stop_on_signals(stop: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("signal runtime");
        runtime.block_on(async {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM");
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        });
        tracing::info!("stopping: finishing the epochs in flight");
        stop.store(true, Ordering::SeqCst);
    });
}

/// Logs progress every few seconds until `done`.
pub fn report_progress(counters: Arc<Counters>, done: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        while !done.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_secs(5));
            tracing::info!(
                records = counters.source.records.load(Ordering::Relaxed),
                dead_letters = counters.source.dead_letters.load(Ordering::Relaxed),
                publications = counters.publications.load(Ordering::Relaxed),
                as_of = counters.as_of.load(Ordering::Relaxed),
                current = counters.current.load(Ordering::Relaxed),
                late = counters.late.load(Ordering::Relaxed),
                derived = counters.derived.load(Ordering::Relaxed),
                waiting = counters.waiting.load(Ordering::Relaxed),
                "pipeline progress"
            );
        }
    });
}

/// Runs `shopflow pipeline`.
pub fn run(args: PipelineArgs) -> anyhow::Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    stop_on_signals(stop.clone());
    let counters = Arc::new(Counters::default());
    let done = Arc::new(AtomicBool::new(false));
    report_progress(counters.clone(), done.clone());
    let result = pipeline::run(args.config()?, stop, counters.clone());
    done.store(true, Ordering::SeqCst);
    tracing::info!(
        records = counters.source.records.load(Ordering::Relaxed),
        dead_letters = counters.source.dead_letters.load(Ordering::Relaxed),
        skipped = counters.source.skipped.load(Ordering::Relaxed),
        publications = counters.publications.load(Ordering::Relaxed),
        "pipeline stopped"
    );
    result
}
