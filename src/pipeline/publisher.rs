//! The publisher thread: writes each batch of complete epochs to ClickHouse,
//! Redis and Kafka, switches the generation when it has caught up, and
//! commits offsets for lag tooling.

use super::publish::Batch;
use super::{Counters, PipelineConfig};
use anyhow::Context;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use shopflow_sinks::clickhouse::ClickHouseSink;
use shopflow_sinks::kafka::DerivedProducer;
use shopflow_sinks::redis::RedisSink;
use shopflow_sinks::{Offsets, Publication};
use shopflow_topics::{Event, EventTime};
use shopflow_views::derived::Derived;
use shopflow_views::settle::{watermark, Settler};
use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::thread::JoinHandle;

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
            while let Ok(mut next) = analytics_batches.recv() {
                // Everything waiting goes in one round of inserts.
                while let Ok(later) = analytics_batches.try_recv() {
                    next.absorb(later);
                }
                next.write(&clickhouse).await?;
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
        let mut state =
            State { redis, analytics: to_analytics, derived, committer, targets, counters, settler, lateness };
        let published = runtime.block_on(async move {
            while let Ok(mut batch) = batches.recv() {
                // Under load, epochs queue up: publish them together, as one atomic step.
                while let Ok(later) = batches.try_recv() {
                    batch.absorb(later);
                }
                state.publish(batch).await?;
            }
            // Dropping a producer purges what it has not delivered: the last derived events
            // must reach Kafka before the process ends.
            if let Some(derived) = &state.derived {
                derived.flush().context("delivering the last derived events")?;
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
}

impl Analytics {
    fn absorb(&mut self, later: Analytics) {
        self.events.extend(later.events);
        self.publication.upper = later.publication.upper;
        self.publication.changes.extend(later.publication.changes);
        self.switch_as_of = later.switch_as_of.or(self.switch_as_of);
    }

    async fn write(self, clickhouse: &ClickHouseSink) -> anyhow::Result<()> {
        clickhouse.insert_events(&self.events).await.context("writing events to ClickHouse")?;
        clickhouse.publish(&self.publication).await.context("writing analytics to ClickHouse")?;
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

struct State {
    redis: RedisSink,
    analytics: std::sync::mpsc::Sender<Analytics>,
    /// `None`: derived events are settled and counted, not emitted (a replay).
    derived: Option<DerivedProducer>,
    committer: Option<BaseConsumer>,
    targets: Offsets,
    counters: Arc<Counters>,
    /// Holds the derived transitions back until they are settled.
    settler: Settler,
    /// The allowed lateness, in nanoseconds of event time.
    lateness: i64,
}

impl State {
    async fn publish(&mut self, batch: Batch) -> anyhow::Result<()> {
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
        let publication = Publication { upper: batch.upper, changes: batch.changes, offsets: batch.offsets };
        let was_current = self.counters.current.load(Ordering::SeqCst);
        let switching = caught_up && !was_current;
        let as_of = self.redis.publish(&publication, caught_up).await.context("publishing to Redis")?;
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
        };
        if self.analytics.send(analytics).is_err() {
            anyhow::bail!("the ClickHouse writer stopped");
        }
        if switching {
            self.counters.current.store(true, Ordering::SeqCst);
            tracing::info!(generation = self.redis.generation(), as_of, "generation is current");
            // The previous generation, and any a crashed rebuild left behind.
            for old in self.redis.generations().await? {
                if old != self.redis.generation() {
                    let dropped = self.redis.drop_generation(&old).await?;
                    tracing::info!(old, dropped, "old generation dropped from Redis");
                }
            }
        }
        self.emit_derived(settled)?;
        self.commit(&publication.offsets);
        self.counters.publications.fetch_add(1, Ordering::Relaxed);
        self.counters.as_of.store(as_of as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Emits settled transitions, each stamped with its own event time.
    fn emit_derived(&mut self, derived: Vec<Derived>) -> anyhow::Result<()> {
        let events: Vec<(Event, String, EventTime)> = derived
            .iter()
            .flat_map(|d| d.events().into_iter().map(|(event, state)| (event, state, d.time())))
            .collect();
        self.counters.derived.fetch_add(events.len() as u64, Ordering::Relaxed);
        if let (false, Some(derived)) = (events.is_empty(), &self.derived) {
            derived.send(&events)?;
        }
        Ok(())
    }

    /// Commits covered offsets to the consumer group: lag tooling only.
    fn commit(&self, offsets: &Offsets) {
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
