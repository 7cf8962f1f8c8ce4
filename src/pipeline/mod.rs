//! The pipeline: Kafka → timely workers → differential views → Redis,
//! ClickHouse and derived Kafka events, one whole run of epochs at a time.
//!
//! Every worker of the cluster (one process, or several with
//! `--processes`) reads its share of the source partitions through the
//! Kafka source operator of `shopflow-ingest`, which decodes every record
//! (undecodable ones go to `shop.dead-letter` with the reason) and stamps it
//! with an epoch. The views of `shopflow-dataflows` are computed where the
//! data lands; their changes, the derived events, the audit rows and the
//! readers' positions travel through the dataflow to worker 0
//! ([`publish::collect`]), which hands each run of complete epochs to the
//! publisher thread of its process ([`publisher`]). Every start builds a new
//! generation from the beginning of the topics; it becomes current once it
//! covers the end offsets seen at start.

mod publish;
mod publisher;

use anyhow::Context;
use differential_dataflow::AsCollection;
use publish::{collect, Batch, Out, Rendering};
use shopflow_dataflows::{build_with, facts_of, Epoch};
use shopflow_ingest::source::file::{file_source, FileSource};
use shopflow_ingest::source::operator::{kafka_source, KafkaSource, Record, SourceCounters, Wakers};
use shopflow_ingest::source::{self, SourceConfig};
use shopflow_sinks::clickhouse::EventRow;
use shopflow_topics::Topic;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use timely::dataflow::operators::vec::Map;
use timely::dataflow::operators::{Concatenate, Probe};
use timely::dataflow::ProbeHandle;

/// How the pipeline runs.
#[derive(Clone, Debug)]
pub struct PipelineConfig {
    /// The Kafka source: brokers, topic prefix, consumer group, epoch size, when to stop.
    pub source: SourceConfig,
    /// Redis URL.
    pub redis_url: String,
    /// Redis key namespace.
    pub namespace: String,
    /// ClickHouse HTTP URL.
    pub clickhouse_url: String,
    /// ClickHouse database.
    pub clickhouse_database: String,
    /// Timely workers in this process.
    pub workers: usize,
    /// The cluster this process is part of (`None`: this process alone).
    pub cluster: Option<Cluster>,
    /// The views' configurable thresholds.
    pub settings: shopflow_dataflows::Settings,
    /// How far behind the newest event time of the slowest busy partition the
    /// watermark of settled state stays ([`shopflow_views::settle`]).
    pub allowed_lateness: std::time::Duration,
    /// The least time between the starts of two rounds of ClickHouse inserts.
    pub clickhouse_interval: std::time::Duration,
    /// Emit derived events to Kafka (off in a replay, which builds views only).
    pub emit_derived: bool,
    /// Read this NDJSON file instead of Kafka (`--from-file`), then stop.
    pub from_file: Option<std::path::PathBuf>,
}

/// A timely cluster: several processes, each with `workers` threads, that
/// together run one dataflow (timely's own cluster mode).
#[derive(Clone, Debug)]
pub struct Cluster {
    /// This process's index, `0..hosts.len()`; process 0 publishes.
    pub process: usize,
    /// `host:port` of every process, in process order.
    pub hosts: Vec<String>,
}

impl PipelineConfig {
    /// Whether this process hosts worker 0, the one that publishes.
    fn publishes(&self) -> bool {
        self.cluster.as_ref().is_none_or(|c| c.process == 0)
    }

    fn timely(&self) -> timely::Config {
        let threads = self.workers.max(1);
        let communication = match &self.cluster {
            Some(cluster) => timely::CommunicationConfig::Cluster {
                threads,
                process: cluster.process,
                addresses: cluster.hosts.clone(),
                report: false,
                zerocopy: false,
            },
            None => timely::CommunicationConfig::Process(threads),
        };
        timely::Config { communication, worker: timely::WorkerConfig::default() }
    }
}

/// Counters the pipeline reports (this process).
#[derive(Default, Debug)]
pub struct Counters {
    /// Records read and dead letters sent.
    pub source: Arc<SourceCounters>,
    /// Publications written.
    pub publications: AtomicU64,
    /// Latest published asOf.
    pub as_of: AtomicU64,
    /// Whether the generation is current.
    pub current: AtomicBool,
    /// Events read after the watermark had passed their time.
    pub late: AtomicU64,
    /// Derived events waiting for the watermark (not settled yet).
    pub waiting: AtomicU64,
    /// Derived events emitted.
    pub derived: AtomicU64,
}

/// In a cluster, a process whose peer went away cannot go on (the peer's
/// workers hold part of every arrangement): timely's network thread panics
/// and the process stops. This says so in the log, in words an operator acts
/// on, before the panic's own report.
fn say_when_a_peer_goes() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info.payload_as_str().unwrap_or_default();
        if message.starts_with("timely communication error") {
            tracing::error!(
                "a process of the cluster went away ({message}): this process stops too; start every process \
                 of the cluster again, and the views are rebuilt from the topics"
            );
        }
        report(info);
    }));
}

/// Runs the pipeline until `stop` is set (or, with `exit_when_caught_up`, until caught up).
pub fn run(config: PipelineConfig, stop: Arc<AtomicBool>, counters: Arc<Counters>) -> anyhow::Result<()> {
    let generation = format!("g{}", chrono::Utc::now().timestamp_millis());
    let brokers = config.source.brokers.clone();
    let (partitions, targets) = match &config.from_file {
        Some(path) => {
            let peers = config.workers.max(1) * config.cluster.as_ref().map_or(1, |c| c.hosts.len());
            shopflow_ingest::source::file::lanes(path, &config.source.topic_prefix, peers)?
        }
        None => {
            let partitions = source::partitions(&config.source)
                .with_context(|| format!("reading the source topics on {brokers}"))?;
            let targets =
                source::end_offsets(&brokers, &partitions).context("reading where the source partitions end")?;
            // A range that stops early ends there (a replay's --to-offsets).
            (partitions, source::bounded(targets, &config.source.to_offsets))
        }
    };
    let target_records: i64 = targets.values().flat_map(|p| p.values()).sum();
    tracing::info!(%generation, partitions = partitions.len(), target_records, workers = config.workers, "pipeline starting");
    if config.cluster.is_some() {
        say_when_a_peer_goes();
    }

    // Process 0 publishes: worker 0 hands batches to this thread.
    let (to_publisher, publisher) = if config.publishes() {
        let (sender, batches) = std::sync::mpsc::sync_channel::<Batch>(1);
        let thread = publisher::spawn(config.clone(), generation.clone(), targets.clone(), batches, counters.clone())?;
        (Some(sender), Some(thread))
    } else {
        (None, None)
    };

    let guards = {
        let config = config.clone();
        let stop = stop.clone();
        let counters = counters.clone();
        let to_publisher = std::sync::Mutex::new(to_publisher);
        let wakers = Arc::new(Wakers::default());
        timely::execute(config.timely(), move |worker| {
            let index = worker.index();
            let peers = worker.peers();
            // Only worker 0 gets the sender; the others' collect operators receive nothing.
            let sender = if index == 0 { to_publisher.lock().expect("not poisoned").take() } else { None };
            let probe = ProbeHandle::new();
            // Diagnostics: how many updates each family's arrangements hold, every
            // SHOPFLOW_CENSUS seconds.
            let census = std::env::var("SHOPFLOW_CENSUS").ok().map(|every| {
                let every = std::time::Duration::from_secs(every.parse().unwrap_or(30).max(1));
                (shopflow_dataflows::census::install(worker), every)
            });
            let built = worker.dataflow::<Epoch, _, _>(|scope| {
                let decode = |record: Record<'_>| {
                    // `shop.credentials` is never copied to the audit log.
                    let row = (record.envelope.topic() != Topic::Credentials)
                        .then(|| EventRow::new(&record.envelope, record.topic, record.partition, record.offset));
                    ((record.envelope.id.clone(), facts_of(&record.envelope)), row)
                };
                let streams = match &config.from_file {
                    Some(path) => {
                        let source = FileSource {
                            config: config.source.clone(),
                            path: path.clone(),
                            targets: targets.clone(),
                            stop: stop.clone(),
                            counters: counters.source.clone(),
                            probe: probe.clone(),
                        };
                        file_source(scope, source, decode).map_err(|e| shopflow_topics::error::chain(&e))?
                    }
                    None => {
                        let source = KafkaSource {
                            config: config.source.clone(),
                            partitions: source::share(&partitions, index, peers),
                            targets: targets.clone(),
                            stop: stop.clone(),
                            counters: counters.source.clone(),
                            probe: probe.clone(),
                            wakers: wakers.clone(),
                        };
                        kafka_source(scope, source, decode).map_err(|e| shopflow_topics::error::chain(&e))?
                    }
                };
                let views = build_with(streams.records.as_collection(), config.settings);
                let mut rendering = Rendering { parts: Vec::new(), timed: shopflow_sinks::otlp::tracer().is_some() };
                views.for_each(&mut rendering);
                let mut outs = rendering.parts;
                outs.push(views.derived.inner.map(|(event, time, diff)| (Out::Derived(Box::new(event)), time, diff)));
                outs.push(
                    streams.audit.flat_map(|(row, time, diff)| row.map(|row| (Out::Audit(Box::new(row)), time, diff))),
                );
                outs.push(
                    streams.positions.map(|(position, time, diff)| (Out::Position(Box::new(position)), time, diff)),
                );
                let outs = scope.concatenate(outs);
                collect(outs, peers, targets.clone(), sender, stop.clone()).probe_with(&probe);
                Ok::<_, String>(())
            });
            if let Err(error) = built {
                tracing::error!(worker = index, "the source did not start: {error}");
                stop.store(true, Ordering::SeqCst);
                return Err(error);
            }
            // Parked between activations: records arriving, idle ticks and peers wake the worker.
            match census {
                None => while worker.step_or_park(None) {},
                Some((census, every)) => {
                    let mut reported = std::time::Instant::now();
                    while worker.step_or_park(Some(std::time::Duration::from_secs(1))) {
                        if reported.elapsed() >= every {
                            // Logged events wait in a buffer until flushed.
                            if let Some(mut registry) = worker.log_register() {
                                registry.flush();
                            }
                            tracing::info!(worker = index, "census: {}", census.report(12));
                            reported = std::time::Instant::now();
                        }
                    }
                    if let Some(mut registry) = worker.log_register() {
                        registry.flush();
                    }
                    tracing::info!(worker = index, "census at the end: {}", census.report(12));
                }
            }
            Ok(())
        })
        .map_err(|e| anyhow::anyhow!("starting timely: {e}"))?
    };
    let mut failure = None;
    for result in guards.join() {
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) | Err(e) => failure = Some(e),
        }
    }
    if let Some(publisher) = publisher {
        // Worker 0 dropped its sender: the publisher drains and ends.
        let published = publisher.join().map_err(|_| anyhow::anyhow!("publisher panicked"))?;
        // The publisher's own error says more than a worker's "the publisher stopped".
        published.context("publishing")?;
    }
    if let Some(e) = failure {
        anyhow::bail!("pipeline worker failed: {e}");
    }
    Ok(())
}
