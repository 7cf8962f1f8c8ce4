//! The publisher thread: writes each batch of complete epochs to ClickHouse,
//! Redis and Kafka, switches the generation when it has caught up, and
//! commits offsets for lag tooling.

use super::publish::Batch;
use super::{Counters, PipelineConfig};
use anyhow::Context;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use shopflow_ingest::source::ReadStage;
use shopflow_sinks::clickhouse::ClickHouseSink;
use shopflow_sinks::kafka::DerivedProducer;
use shopflow_sinks::otlp;
use shopflow_sinks::redis::RedisSink;
use shopflow_sinks::{Offsets, Publication, SinkError};
use shopflow_topics::{Event, EventTime};
use shopflow_views::derived::Derived;
use shopflow_views::settle::{watermark, Settler};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Starts the publisher; it ends when every sender is gone and the last batch is written.
pub fn spawn(
    config: PipelineConfig,
    generation: String,
    targets: Offsets,
    batches: Receiver<Batch>,
    counters: Arc<Counters>,
) -> anyhow::Result<JoinHandle<anyhow::Result<()>>> {
    // ClickHouse gets its own thread: analytics may lag a little, serving must not wait for it.
    // It connects on its own runtime: an HTTP client's pooled connections are driven by the
    // runtime that opened them, and the publisher's runtime sleeps between batches.
    let (to_analytics, analytics_batches) = std::sync::mpsc::channel::<Analytics>();
    let (connected, clickhouse_ready) = std::sync::mpsc::channel::<anyhow::Result<()>>();
    let (url, database) = (config.clickhouse_url.clone(), config.clickhouse_database.clone());
    let analytics_generation = generation.clone();
    let interval = config.clickhouse_interval;
    let analytics = std::thread::Builder::new().name("clickhouse".into()).spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        runtime.block_on(async move {
            let clickhouse = match ClickHouseSink::connect(&url, &database, &analytics_generation).await {
                Ok(sink) => {
                    let _ = connected.send(Ok(()));
                    sink
                }
                Err(e) => {
                    let error = anyhow::Error::new(e).context(format!("connecting to ClickHouse at {url}"));
                    let _ = connected.send(Err(error));
                    return Ok(());
                }
            };
            let mut last_round: Option<Instant> = None;
            while let Ok(mut next) = analytics_batches.recv() {
                // Everything that arrives until the interval since the last round is over goes
                // in one round of inserts (and, once the publisher is gone, everything left).
                let due = last_round.map_or_else(Instant::now, |last| last + interval);
                while let Ok(later) = analytics_batches.recv_timeout(due.saturating_duration_since(Instant::now())) {
                    next.absorb(later);
                }
                last_round = Some(Instant::now());
                // While ClickHouse is away the same rows are written again (its tables keep
                // one row per id and version), with what arrived meanwhile.
                let mut away = Away::default();
                while let Err(error) = next.write(&clickhouse).await {
                    tokio::time::sleep(away.wait("ClickHouse", error)?).await;
                    while let Ok(later) = analytics_batches.try_recv() {
                        next.absorb(later);
                    }
                }
                away.back("ClickHouse");
            }
            anyhow::Ok(())
        })
    })?;
    // Connect before the workers start, so a missing service fails fast.
    clickhouse_ready.recv().map_err(|_| anyhow::anyhow!("the ClickHouse writer did not start"))??;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let redis = runtime.block_on(async {
        RedisSink::connect(&config.redis_url, &config.namespace, &generation)
            .await
            .with_context(|| format!("connecting to Redis at {}", config.redis_url))
    })?;
    let derived = if config.emit_derived {
        Some(DerivedProducer::new(&config.source.brokers, &config.source.topic_prefix)?)
    } else {
        None
    };
    // A file's lanes are no broker's partitions: nothing to commit.
    let committer: Option<BaseConsumer> = match config.from_file {
        Some(_) => None,
        None => {
            Some(shopflow_ingest::source::consumer_config(&config.source.brokers, &config.source.group_id).create()?)
        }
    };
    Ok(std::thread::Builder::new().name("publisher".into()).spawn(move || {
        let lateness = i64::try_from(config.allowed_lateness.as_nanos()).unwrap_or(i64::MAX);
        let settler = Settler::new();
        let mut state = State {
            redis,
            redis_url: config.redis_url.clone(),
            namespace: config.namespace.clone(),
            dropping: None,
            analytics: to_analytics,
            derived,
            committer,
            committed_at: None,
            uncommitted: None,
            targets,
            counters,
            settler,
            lateness,
        };
        let published = runtime.block_on(async move {
            while let Ok(mut batch) = batches.recv() {
                // Under load, epochs queue up: publish them together, as one atomic step.
                while let Ok(later) = batches.try_recv() {
                    batch.absorb(later);
                }
                state.publish(batch).await?;
            }
            // The offsets of the last publications, if the interval held them back.
            if let Some(offsets) = state.uncommitted.take() {
                state.commit_now(&offsets);
            }
            // Dropping a producer purges what it has not delivered: the last derived events
            // must reach Kafka before the process ends.
            if let Some(derived) = &state.derived {
                derived.flush().context("delivering the last derived events")?;
            }
            if let Some(dropping) = state.dropping.take() {
                // Still listed in the namespace's generations: the next switch tries again.
                match dropping.join() {
                    Ok(Ok(_)) => {}
                    Ok(Err(error)) => tracing::warn!("old generations not dropped from Redis: {error:#}"),
                    Err(_) => tracing::warn!("the thread dropping old generations panicked"),
                }
            }
            anyhow::Ok(())
        });
        let analysed = analytics.join().map_err(|_| anyhow::anyhow!("the ClickHouse writer panicked"))?;
        published.and(analysed)
    })?)
}

/// What the ClickHouse thread writes: audit rows, analytics changes, and a switch.
struct Analytics {
    events: Vec<shopflow_sinks::clickhouse::EventRow>,
    publication: Publication,
    /// Make this generation current in ClickHouse, with this version.
    switch_as_of: Option<i64>,
    /// The sampled trace of the first of its batches that had rows to write (else the first's).
    trace: Option<otlp::Context>,
}

impl Analytics {
    fn absorb(&mut self, later: Analytics) {
        // A round gathers the batches of an interval, heartbeats among them: its span goes
        // under a batch whose rows it writes.
        self.trace = if self.events.is_empty() && self.publication.changes.is_empty() {
            later.trace.or(self.trace)
        } else {
            self.trace.or(later.trace)
        };
        self.events.extend(later.events);
        self.publication.upper = later.publication.upper;
        self.publication.changes.extend(later.publication.changes);
        self.switch_as_of = later.switch_as_of.or(self.switch_as_of);
    }

    async fn write(&self, clickhouse: &ClickHouseSink) -> anyhow::Result<()> {
        let started = otlp::now_ns();
        clickhouse.insert_events(&self.events).await.context("writing events to ClickHouse")?;
        clickhouse.publish(&self.publication).await.context("writing analytics to ClickHouse")?;
        if let Some(trace) = self.trace {
            let span = otlp::Span::under(trace, "clickhouse", started, otlp::now_ns())
                .with("shopflow.audit_rows", self.events.len())
                .with("shopflow.changes", self.publication.changes.len());
            otlp::record(span);
        }
        if let Some(as_of) = self.switch_as_of {
            clickhouse.make_current(as_of).await.context("switching the ClickHouse generation")?;
            // Dropping old rows only frees disk (the views already hide them): best effort, bounded.
            let drop_old = async {
                for old in clickhouse.other_generations().await? {
                    clickhouse.drop_generation(&old).await?;
                }
                Ok::<_, shopflow_sinks::SinkError>(())
            };
            match tokio::time::timeout(std::time::Duration::from_secs(10), drop_old).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!("dropping old ClickHouse generations failed: {}", shopflow_topics::error::chain(&e))
                }
                Err(_) => tracing::warn!("dropping old ClickHouse generations timed out; left for later"),
            }
        }
        Ok(())
    }
}

/// When each stage of one published batch ran (ns since the Unix epoch), for its trace.
struct Stages {
    reads: Vec<(usize, ReadStage)>,
    /// The epochs were complete at worker 0 (computed and rendered).
    complete_ns: u64,
    /// Rendering time since the last batch, summed over this process's workers.
    render_ns: u64,
    /// The publisher took the batch.
    received_ns: u64,
    redis: (u64, u64),
    kafka: (u64, u64),
}

impl Stages {
    /// The batch's spans: `pipeline.batch` with `read` (and its `decode`) per worker,
    /// `compute` (and its `render`), `wait` for the publisher, `redis` and `kafka`; the
    /// ClickHouse writer adds `clickhouse`. `decode` and `render` are sums of many short
    /// moments, drawn as one span of that length.
    fn record(self, trace: otlp::Context, upper: u64, changes: usize, audit_rows: usize, derived: usize) {
        let mut per_worker: BTreeMap<usize, ReadStage> = BTreeMap::new();
        for (worker, read) in &self.reads {
            let merged = per_worker.entry(*worker).or_insert(ReadStage { opened_ns: u64::MAX, ..ReadStage::default() });
            merged.opened_ns = merged.opened_ns.min(read.opened_ns);
            merged.closed_ns = merged.closed_ns.max(read.closed_ns);
            merged.records += read.records;
            merged.decode_ns += read.decode_ns;
        }
        let opened = per_worker.values().map(|r| r.opened_ns).min().unwrap_or(self.complete_ns);
        let closed = per_worker.values().map(|r| r.closed_ns).max().unwrap_or(self.complete_ns);
        let records: u64 = per_worker.values().map(|r| r.records).sum();
        let mut spans = vec![otlp::Span::root(trace, "pipeline.batch", opened.min(self.complete_ns), self.kafka.1)
            .with("shopflow.epoch_upper", upper)
            .with("shopflow.records", records)
            .with("shopflow.changes", changes)
            .with("shopflow.audit_rows", audit_rows)
            .with("shopflow.derived_events", derived)];
        for (worker, read) in &per_worker {
            let span = otlp::Span::under(trace, "read", read.opened_ns, read.closed_ns)
                .with("shopflow.worker", *worker)
                .with("shopflow.records", read.records);
            let decode_end = read.opened_ns.saturating_add(read.decode_ns);
            spans.push(
                otlp::Span::under(span.context(), "decode", read.opened_ns, decode_end)
                    .with("shopflow.summed", "time decoding the epoch's records, summed"),
            );
            spans.push(span);
        }
        let compute = otlp::Span::under(trace, "compute", closed.min(self.complete_ns), self.complete_ns);
        spans.push(
            otlp::Span::under(
                compute.context(),
                "render",
                self.complete_ns.saturating_sub(self.render_ns),
                self.complete_ns,
            )
            .with("shopflow.summed", "time rendering changed keys, summed over this process's workers"),
        );
        spans.push(compute);
        spans.push(otlp::Span::under(trace, "wait", self.complete_ns, self.received_ns));
        spans.push(otlp::Span::under(trace, "redis", self.redis.0, self.redis.1).with("shopflow.keys", changes));
        spans.push(
            otlp::Span::under(trace, "kafka", self.kafka.0, self.kafka.1).with("shopflow.derived_events", derived),
        );
        for span in spans {
            otlp::record(span);
        }
    }
}

/// Deletes the `old` generations' keys on a thread of its own; returns how many.
fn drop_generations(
    url: String,
    namespace: String,
    generation: String,
    old: Vec<String>,
) -> anyhow::Result<JoinHandle<anyhow::Result<u64>>> {
    Ok(std::thread::Builder::new().name("redis-drop".into()).spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        runtime.block_on(async move {
            let mut redis = RedisSink::connect(&url, &namespace, &generation).await?;
            let mut total = 0;
            for old in old {
                let dropped = redis.drop_generation(&old).await?;
                tracing::info!(old, dropped, "old generation dropped from Redis");
                total += dropped;
            }
            anyhow::Ok(total)
        })
    })?)
}

struct State {
    redis: RedisSink,
    /// Where the old generations are dropped from, and the thread dropping them.
    redis_url: String,
    namespace: String,
    dropping: Option<JoinHandle<anyhow::Result<u64>>>,
    analytics: std::sync::mpsc::Sender<Analytics>,
    /// `None`: derived events are settled and counted, not emitted (a replay).
    derived: Option<DerivedProducer>,
    committer: Option<BaseConsumer>,
    /// When offsets were last committed, and the newest published since, if any.
    committed_at: Option<Instant>,
    uncommitted: Option<Offsets>,
    targets: Offsets,
    counters: Arc<Counters>,
    /// Holds the derived transitions back until they are settled.
    settler: Settler,
    /// The allowed lateness, in nanoseconds of event time.
    lateness: i64,
}

/// The least time between two offset commits. Each names every partition read, and the
/// broker serves it beside the fetches the freshness of every view waits on: committed once
/// per publication, they were dozens of requests a second under a live load, for lag tooling
/// that reads them far less often.
const COMMIT_INTERVAL: Duration = Duration::from_secs(1);

/// How long a store (Redis, ClickHouse) may stay away while the pipeline
/// keeps trying before it gives up (a restart then rebuilds, losing nothing
/// either way).
pub const STORE_PATIENCE: Duration = Duration::from_secs(600);

/// A store that stopped answering: since when, and the wait before the next
/// try (from 50 ms, doubling to 2 s).
#[derive(Default)]
struct Away(Option<(Instant, Duration)>);

impl Away {
    /// After a failure: how long to wait before trying again, or the error
    /// when it is not the store being away ([`SinkError::is_transient`]) or
    /// the store has been away for [`STORE_PATIENCE`].
    fn wait(&mut self, store: &str, error: anyhow::Error) -> anyhow::Result<Duration> {
        let transient = error.downcast_ref::<SinkError>().is_some_and(SinkError::is_transient);
        let (since, wait) = *self.0.get_or_insert((Instant::now(), Duration::from_millis(50)));
        if !transient || since.elapsed() >= STORE_PATIENCE {
            return Err(error);
        }
        tracing::warn!(store, retry_in_ms = wait.as_millis() as u64, "{store} is away; trying again: {error:#}");
        self.0 = Some((since, (wait * 2).min(Duration::from_secs(2))));
        Ok(wait)
    }

    /// After a success: says so if the store had been away.
    fn back(&self, store: &str) {
        if let Some((since, _)) = self.0 {
            tracing::warn!(store, after_ms = since.elapsed().as_millis() as u64, "{store} is back");
        }
    }
}

impl State {
    /// Publishes to Redis, sending the publication again while Redis is away
    /// (refused, dropped, timed out, loading). Meanwhile the dataflow goes on:
    /// later epochs fold into one waiting batch (one change per key).
    async fn publish_to_redis(&mut self, publication: &Publication, make_current: bool) -> anyhow::Result<i64> {
        let mut away = Away::default();
        loop {
            match self.redis.publish(publication, make_current).await.context("publishing to Redis") {
                Ok(as_of) => {
                    away.back("Redis");
                    return Ok(as_of);
                }
                Err(error) => tokio::time::sleep(away.wait("Redis", error)?).await,
            }
            if let Err(error) = self.redis.reconnect().await {
                tracing::debug!("reconnecting to Redis: {}", shopflow_topics::error::chain(&error));
            }
        }
    }

    async fn publish(&mut self, mut batch: Batch) -> anyhow::Result<()> {
        let trace = otlp::sample();
        let received_ns = otlp::now_ns();
        let render_ns = super::publish::take_render_ns();
        let reads = std::mem::take(&mut batch.reads);
        let complete_ns = batch.complete_ns;
        let (upper, audit_rows) = (batch.upper, batch.events.len());
        // Caught up: past the end offsets seen at start, and the workers found nothing more to read
        // (watermarks alone are not trusted: some brokers report them low).
        let caught_up = self.counters.current.load(Ordering::SeqCst)
            || (batch.at_end && shopflow_ingest::source::covers(&batch.offsets, &self.targets));
        // Late: read after the watermark had passed its time (the views take it all the same).
        let late = self.settler.count_late(batch.events.iter().map(|row| EventTime(row.time_ns)));
        if late > 0 {
            let watermark = self.settler.watermark().map(|w| w.to_string()).unwrap_or_default();
            tracing::warn!(late, %watermark, "events later than the allowed lateness: applied to the views; derived events they take back stay emitted");
            self.counters.late.fetch_add(late, Ordering::Relaxed);
        }
        self.settler.absorb(batch.derived);
        let settled = self.settler.advance(watermark(&batch.clocks, self.lateness));
        self.counters.waiting.store(self.settler.waiting() as u64, Ordering::Relaxed);
        let mut publication = Publication { upper: batch.upper, changes: batch.changes, offsets: batch.offsets };
        let was_current = self.counters.current.load(Ordering::SeqCst);
        let switching = caught_up && !was_current;
        let redis_started = otlp::now_ns();
        let as_of = self.publish_to_redis(&publication, caught_up).await?;
        let redis_ended = otlp::now_ns();
        let analytics = Analytics {
            events: batch.events,
            publication: Publication {
                upper: publication.upper,
                changes: publication
                    .changes
                    .iter()
                    .filter(|((f, _), _)| !f.served_from_redis())
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                offsets: Offsets::new(),
            },
            switch_as_of: switching.then_some(as_of),
            trace,
        };
        if self.analytics.send(analytics).is_err() {
            anyhow::bail!("the ClickHouse writer stopped");
        }
        if switching {
            self.counters.current.store(true, Ordering::SeqCst);
            tracing::info!(generation = self.redis.generation(), as_of, "generation is current");
            // The previous generation, and any a crashed rebuild left behind: dropped beside
            // the publications (deleting a large generation takes a while), finished before exit.
            let generation = self.redis.generation().to_string();
            let old: Vec<String> = self.redis.generations().await?.into_iter().filter(|g| *g != generation).collect();
            if !old.is_empty() {
                self.dropping =
                    Some(drop_generations(self.redis_url.clone(), self.namespace.clone(), generation, old)?);
            }
        }
        let kafka_started = otlp::now_ns();
        let derived = self.emit_derived(settled)?;
        let kafka_ended = otlp::now_ns();
        self.commit(std::mem::take(&mut publication.offsets));
        self.counters.publications.fetch_add(1, Ordering::Relaxed);
        self.counters.as_of.store(as_of as u64, Ordering::Relaxed);
        if let Some(trace) = trace {
            let stages = Stages {
                reads,
                complete_ns,
                render_ns,
                received_ns,
                redis: (redis_started, redis_ended),
                kafka: (kafka_started, kafka_ended),
            };
            stages.record(trace, upper, publication.changes.len(), audit_rows, derived);
        }
        Ok(())
    }

    /// Emits settled transitions, each stamped with its own event time; how many events.
    fn emit_derived(&mut self, derived: Vec<Derived>) -> anyhow::Result<usize> {
        let events: Vec<(Event, String, EventTime)> = derived
            .iter()
            .flat_map(|d| d.events().into_iter().map(|(event, state)| (event, state, d.time())))
            .collect();
        self.counters.derived.fetch_add(events.len() as u64, Ordering::Relaxed);
        if let (false, Some(derived)) = (events.is_empty(), &self.derived) {
            derived.send(&events)?;
        }
        Ok(events.len())
    }

    /// Commits covered offsets to the consumer group, at most once per
    /// [`COMMIT_INTERVAL`] (the newest wait for the next publication after it, or the end):
    /// lag tooling only.
    fn commit(&mut self, offsets: Offsets) {
        if self.committed_at.is_some_and(|at| at.elapsed() < COMMIT_INTERVAL) {
            self.uncommitted = Some(offsets);
            return;
        }
        self.commit_now(&offsets);
    }

    fn commit_now(&mut self, offsets: &Offsets) {
        self.committed_at = Some(Instant::now());
        self.uncommitted = None;
        let Some(committer) = &self.committer else { return };
        let mut list = TopicPartitionList::new();
        for (topic, parts) in offsets {
            for (partition, next) in parts {
                if *next > 0 {
                    let _ = list.add_partition_offset(topic, *partition, Offset::Offset(*next));
                }
            }
        }
        if list.count() > 0 {
            if let Err(e) = committer.commit(&list, CommitMode::Async) {
                tracing::debug!("offset commit (lag tooling only) failed: {e}");
            }
        }
    }
}
