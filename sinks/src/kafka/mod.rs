//! Derived events to Kafka: Order.StatusChanged and inventory alerts, with
//! deterministic ids so a rebuild's re-emitted copies can be dropped downstream.

use crate::{derived_id, SinkError};
use shopflow_ingest::producer::RecordProducer;
use shopflow_topics::events::{InventoryLowStock, InventoryOversold, ProductBackInStock};
use shopflow_topics::{Envelope, Event, EventTime};
use std::time::Duration;

/// The default LowStock threshold (`views.md`).
pub const LOW_STOCK_THRESHOLD: i64 = 5;

/// The alerts implied by `available` going from `previous` to `current`
/// between two consecutive published states (`None`: not published before).
pub fn inventory_alerts(product_id: &str, previous: Option<i64>, current: i64, threshold: i64) -> Vec<Event> {
    let mut alerts = Vec::new();
    if previous == Some(current) {
        return alerts;
    }
    if current < 0 {
        alerts.push(InventoryOversold { product_id: product_id.to_string(), available: current }.into());
    }
    if current <= threshold && previous.is_none_or(|p| p > threshold) {
        alerts.push(InventoryLowStock { product_id: product_id.to_string(), available: current, threshold }.into());
    }
    if current > 0 && previous.is_some_and(|p| p <= 0) {
        alerts.push(ProductBackInStock { product_id: product_id.to_string(), available: current }.into());
    }
    alerts
}

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

    /// Sends `events`, each with an id derived from what it says and `state` (what it follows from).
    pub fn send(&self, events: &[(Event, String)], time: EventTime) -> Result<(), SinkError> {
        for (event, state) in events {
            let data = event.data_json().to_string();
            let id = derived_id(&[event.type_name(), &data, state]);
            let envelope = Envelope::new(id, "shopflow", time, event.clone());
            let topic = format!("{}{}", self.topic_prefix, envelope.topic().name());
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

#[cfg(test)]
mod tests {
    use super::*;

    fn types(events: Vec<Event>) -> Vec<&'static str> {
        events.iter().map(|e| e.type_name()).collect()
    }

    #[test]
    fn alerts_follow_the_transitions() {
        assert!(inventory_alerts("p", Some(10), 10, 5).is_empty());
        assert_eq!(types(inventory_alerts("p", Some(10), 5, 5)), ["Inventory.LowStock"]);
        assert!(inventory_alerts("p", Some(4), 3, 5).is_empty(), "already low: no new LowStock");
        assert_eq!(types(inventory_alerts("p", Some(1), -1, 5)), ["Inventory.Oversold"]);
        assert_eq!(types(inventory_alerts("p", Some(-1), -2, 5)), ["Inventory.Oversold"]);
        assert_eq!(types(inventory_alerts("p", Some(0), 3, 5)), ["Product.BackInStock"]);
        assert_eq!(types(inventory_alerts("p", Some(0), 9, 5)), ["Product.BackInStock"]);
        assert_eq!(types(inventory_alerts("p", None, 2, 5)), ["Inventory.LowStock"]);
    }
}
