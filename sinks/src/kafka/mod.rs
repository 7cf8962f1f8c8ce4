//! Derived events to Kafka: Order.StatusChanged, inventory alerts and
//! Fraud.Suspected (as the dataflows imply them, once settled), with
//! deterministic ids so a rebuild's re-emitted copies can be dropped downstream.

use crate::SinkError;
use shopflow_ingest::producer::RecordProducer;
use shopflow_topics::hash::derived_id;
use shopflow_topics::{Envelope, Event, EventTime};
use std::time::Duration;

/// Produces derived events.
pub struct DerivedProducer {
    producer: RecordProducer,
    topic_prefix: String,
}

impl DerivedProducer {
    /// Connects to `brokers`; topic names get `topic_prefix` in front (empty in production).
    pub fn new(brokers: &str, topic_prefix: &str) -> Result<DerivedProducer, SinkError> {
        Ok(DerivedProducer { producer: RecordProducer::new(brokers)?, topic_prefix: topic_prefix.to_string() })
    }

    /// Sends `events`, each with an id derived from what it says and `state`
    /// (what it follows from), at its `time` (the event time of the transition).
    pub fn send(&self, events: &[(Event, String, EventTime)]) -> Result<(), SinkError> {
        for (event, state, time) in events {
            let data = event.data_json().to_string();
            let id = derived_id(&[event.type_name(), &data, state]);
            let envelope = Envelope::new(id, "shopflow", *time, event.clone());
            let topic = envelope.topic().prefixed(&self.topic_prefix);
            self.producer.send(&topic, envelope.key(), &envelope.to_json())?;
        }
        Ok(())
    }

    /// Waits until everything sent is acknowledged.
    pub fn flush(&self) -> Result<(), SinkError> {
        self.producer.flush(Duration::from_secs(60))?;
        if let Some(error) = self.producer.tracker().first_error() {
            return Err(SinkError::Kafka(shopflow_ingest::KafkaError::Topic {
                topic: "derived".into(),
                message: error,
            }));
        }
        Ok(())
    }
}
