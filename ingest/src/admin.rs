//! Topic administration through the Kafka admin API: create the contract's
//! topics with the registry's partitions and retention, and list what exists.

use crate::KafkaError;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::types::RDKafkaErrorCode;
use shopflow_topics::{Topic, TopicKind};
use std::time::Duration;

/// How long an admin request may take.
pub const ADMIN_TIMEOUT: Duration = Duration::from_secs(30);

/// A topic as it should be created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicSpec {
    /// The registry entry.
    pub topic: Topic,
    /// The name on the broker: the contract's name after an optional prefix.
    pub name: String,
    /// Partitions.
    pub partitions: i32,
    /// Replication factor (1 on one machine, 3 in production).
    pub replication: i32,
    /// `retention.ms` (-1: forever).
    pub retention_ms: i64,
}

/// The contract's topics, with an optional partition count for all of them.
pub fn plan(prefix: &str, partitions: Option<i32>, replication: i32) -> Vec<TopicSpec> {
    Topic::ALL
        .into_iter()
        .map(|topic| TopicSpec {
            topic,
            name: topic.prefixed(prefix),
            partitions: partitions.unwrap_or(topic.default_partitions()),
            replication,
            retention_ms: topic.retention_ms(),
        })
        .collect()
}

/// What creating one topic did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Created {
    /// The topic is new.
    Created,
    /// It was there already (creation is idempotent).
    Existed,
}

fn admin_client(brokers: &str) -> Result<AdminClient<DefaultClientContext>, KafkaError> {
    Ok(ClientConfig::new().set("bootstrap.servers", brokers).create()?)
}

/// Creates every topic of `specs` that does not exist yet.
pub async fn create_topics(brokers: &str, specs: &[TopicSpec]) -> Result<Vec<(TopicSpec, Created)>, KafkaError> {
    let admin = admin_client(brokers)?;
    let retention: Vec<String> = specs.iter().map(|s| s.retention_ms.to_string()).collect();
    let new_topics: Vec<NewTopic> = specs
        .iter()
        .zip(&retention)
        .map(|(spec, retention)| {
            let topic = NewTopic::new(&spec.name, spec.partitions, TopicReplication::Fixed(spec.replication))
                .set("retention.ms", retention);
            match spec.topic.kind() {
                // Derived topics are rebuilt by replay; old entries may go.
                TopicKind::Derived => topic.set("cleanup.policy", "delete"),
                // Only the latest credential record per user counts.
                TopicKind::Private => topic.set("cleanup.policy", "compact"),
                TopicKind::Source => topic,
            }
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(ADMIN_TIMEOUT)).request_timeout(Some(ADMIN_TIMEOUT));
    let results = admin.create_topics(new_topics.iter(), &options).await?;
    let mut outcome = Vec::new();
    for (spec, result) in specs.iter().zip(results) {
        match result {
            Ok(_) => outcome.push((spec.clone(), Created::Created)),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => outcome.push((spec.clone(), Created::Existed)),
            Err((topic, code)) => return Err(KafkaError::Topic { topic, message: code.to_string() }),
        }
    }
    Ok(outcome)
}

/// A topic as the broker reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicInfo {
    /// Its name.
    pub name: String,
    /// Its partition count.
    pub partitions: usize,
    /// Whether the contract knows it.
    pub known: Option<Topic>,
}

/// Lists the topics on the broker, sorted by name.
pub fn list_topics(brokers: &str) -> Result<Vec<TopicInfo>, KafkaError> {
    let consumer: BaseConsumer = ClientConfig::new().set("bootstrap.servers", brokers).create()?;
    let metadata = consumer.fetch_metadata(None, ADMIN_TIMEOUT)?;
    let mut topics: Vec<TopicInfo> = metadata
        .topics()
        .iter()
        .filter(|t| !t.name().starts_with("__"))
        .map(|t| TopicInfo {
            name: t.name().to_string(),
            partitions: t.partitions().len(),
            known: Topic::from_name(t.name()),
        })
        .collect();
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(topics)
}

/// Waits until every topic of `specs` shows in the metadata with its partitions.
pub fn wait_for_topics(brokers: &str, specs: &[TopicSpec], deadline: Duration) -> Result<(), KafkaError> {
    let start = std::time::Instant::now();
    loop {
        let listed = list_topics(brokers)?;
        let ready =
            specs.iter().all(|s| listed.iter().any(|t| t.name == s.name && t.partitions >= s.partitions as usize));
        if ready {
            return Ok(());
        }
        if start.elapsed() > deadline {
            return Err(KafkaError::Timeout(deadline, "topics to appear in metadata"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_covers_every_topic_with_registry_settings() {
        let specs = plan("", None, 1);
        assert_eq!(specs.len(), Topic::ALL.len());
        assert!(specs.iter().all(|s| s.partitions == 10 && s.replication == 1));
        let orders = specs.iter().find(|s| s.topic == Topic::Orders).unwrap();
        assert_eq!(orders.retention_ms, -1);
        let alerts = specs.iter().find(|s| s.topic == Topic::Alerts).unwrap();
        assert_eq!(alerts.retention_ms, 604_800_000);
        assert!(plan("", Some(3), 1).iter().all(|s| s.partitions == 3));
        assert_eq!(plan("t1.", None, 1)[0].name, "t1.shop.users");
    }
}
