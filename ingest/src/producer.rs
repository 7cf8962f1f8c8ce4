//! The producer every writer of shopflow uses: idempotent, keyed, and with the
//! partitioner Java clients use, so an entity's events land on one partition
//! whichever client wrote them.

use crate::KafkaError;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError as RdError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The settings of every shopflow producer.
pub fn producer_config(brokers: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        // Retries never duplicate or reorder records within a partition.
        .set("enable.idempotence", "true")
        // Required by idempotence, and what "the record is in the system of record" means.
        .set("acks", "all")
        // Java's partitioner: the same key goes to the same partition from any client.
        .set("partitioner", "murmur2_random")
        // Small batches soon: freshness matters more than the last percent of throughput.
        .set("linger.ms", "5")
        // Give up on a record after two minutes; the caller sees the error.
        .set("message.timeout.ms", "120000");
    config
}

/// Counts deliveries and keeps the first failure.
#[derive(Default)]
pub struct DeliveryTracker {
    delivered: AtomicU64,
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl DeliveryTracker {
    /// Records acknowledged by the broker.
    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }

    /// Records the broker did not take.
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// The first delivery error seen.
    pub fn first_error(&self) -> Option<String> {
        self.first_error.lock().expect("not poisoned").clone()
    }
}

/// The producer's context: delivery reports go to a [`DeliveryTracker`].
#[derive(Clone, Default)]
pub struct TrackingContext(pub Arc<DeliveryTracker>);

impl ClientContext for TrackingContext {}

impl ProducerContext for TrackingContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.0.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((error, _)) => {
                self.0.failed.fetch_add(1, Ordering::Relaxed);
                let mut first = self.0.first_error.lock().expect("not poisoned");
                first.get_or_insert_with(|| error.to_string());
            }
        }
    }
}

/// A producer that sends records from any thread and tracks their delivery.
pub struct RecordProducer {
    producer: ThreadedProducer<TrackingContext>,
    tracker: Arc<DeliveryTracker>,
}

impl RecordProducer {
    /// Connects to `brokers`.
    pub fn new(brokers: &str) -> Result<RecordProducer, KafkaError> {
        let context = TrackingContext::default();
        let tracker = context.0.clone();
        let producer = producer_config(brokers).create_with_context(context)?;
        Ok(RecordProducer { producer, tracker })
    }

    /// Queues one record, waiting while the local queue is full.
    pub fn send(&self, topic: &str, key: &str, value: &[u8]) -> Result<(), KafkaError> {
        self.queue(BaseRecord::to(topic).key(key.as_bytes()).payload(value))
    }

    /// Queues `record`, waiting while the local queue is full.
    fn queue(&self, mut record: BaseRecord<'_, [u8], [u8]>) -> Result<(), KafkaError> {
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((RdError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    // The background thread drains the queue; give it a moment.
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err((error, _)) => return Err(error.into()),
            }
        }
    }

    /// Queues a copy of a record as it is: to `partition`, with its key,
    /// value, headers and timestamp unchanged (`shopflow mirror`).
    pub fn send_copy(
        &self,
        topic: &str,
        partition: i32,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: Option<rdkafka::message::OwnedHeaders>,
        timestamp: Option<i64>,
    ) -> Result<(), KafkaError> {
        let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(topic).partition(partition);
        record.key = key;
        record.payload = value;
        record.headers = headers;
        record.timestamp = timestamp;
        self.queue(record)
    }

    /// Waits until every queued record is delivered or failed.
    pub fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        self.producer.flush(timeout)?;
        Ok(())
    }

    /// Delivery counts.
    pub fn tracker(&self) -> &DeliveryTracker {
        &self.tracker
    }
}
