//! `shopflow mirror`: a range of topics copied to another cluster
//! (`ingest/src/mirror.rs`): each record to the same partition with its key,
//! value, headers and timestamp unchanged; run again, it copies only what
//! the destination does not hold yet.

use super::replay::{offsets_among, ContractOffsets};
use super::KafkaArgs;
use anyhow::Context;
use clap::Args;
use shopflow_ingest::admin::{create_topics, TopicSpec};
use shopflow_ingest::mirror::{mirror, Copied};
use shopflow_ingest::producer::RecordProducer;
use shopflow_ingest::range::{partitions_of, Span};
use shopflow_topics::Topic;
use std::time::{Duration, Instant};

/// Arguments of `shopflow mirror`.
#[derive(Args, Clone, Debug)]
pub struct MirrorArgs {
    /// The destination cluster's bootstrap servers.
    #[arg(long)]
    pub to_brokers: String,
    /// The prefix of the topics at the destination (default: the source's `--topic-prefix`).
    #[arg(long)]
    pub to_prefix: Option<String>,
    /// The contract topics to copy, comma separated (default: every source topic).
    #[arg(long, value_delimiter = ',', value_parser = parse_topic)]
    pub topics: Vec<Topic>,
    /// Where to start, per partition: `shop.orders:0=120,...` (a partition not named: its beginning).
    #[arg(long, value_parser = parse_offsets, default_value = "")]
    pub from_offsets: ContractOffsets,
    /// Where to stop, per partition (that offset is not copied; a partition not named: its end).
    #[arg(long, value_parser = parse_offsets, default_value = "")]
    pub to_offsets: ContractOffsets,
    #[command(flatten)]
    pub kafka: KafkaArgs,
}

/// Offsets of any contract topic (`mirror --topics` takes them all).
fn parse_offsets(text: &str) -> Result<ContractOffsets, String> {
    offsets_among(text, &Topic::ALL, "a contract topic")
}

fn parse_topic(text: &str) -> Result<Topic, String> {
    Topic::ALL.into_iter().find(|t| t.name() == text.trim()).ok_or_else(|| {
        let names: Vec<&str> = Topic::ALL.iter().map(|t| t.name()).collect();
        format!("{text:?} is not a contract topic ({})", names.join(", "))
    })
}

/// Runs `shopflow mirror`.
pub fn run(args: MirrorArgs) -> anyhow::Result<()> {
    let topics: Vec<Topic> = if args.topics.is_empty() { Topic::SOURCES.to_vec() } else { args.topics.clone() };
    let from_prefix = &args.kafka.topic_prefix;
    let to_prefix = args.to_prefix.as_deref().unwrap_or(from_prefix);
    let (from_brokers, to_brokers) = (&args.kafka.brokers, &args.to_brokers);
    if from_brokers == to_brokers && from_prefix == to_prefix {
        anyhow::bail!("--to-brokers {to_brokers} with --to-prefix {to_prefix:?} is the source itself");
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let mut spans: Vec<Span> = Vec::new();
    let mut to: Vec<String> = Vec::new();
    for topic in &topics {
        let (source, destination) = (topic.prefixed(from_prefix), topic.prefixed(to_prefix));
        let partitions = partitions_of(from_brokers, &source)?
            .with_context(|| format!("{source} does not exist on {from_brokers}"))?;
        match partitions_of(to_brokers, &destination)? {
            None => {
                let spec = TopicSpec {
                    topic: *topic,
                    name: destination.clone(),
                    partitions,
                    replication: 1,
                    retention_ms: topic.retention_ms(),
                };
                runtime
                    .block_on(create_topics(to_brokers, &[spec]))
                    .with_context(|| format!("creating {destination} on {to_brokers}"))?;
            }
            Some(there) if there < partitions => anyhow::bail!(
                "{destination} on {to_brokers} has {there} partitions, fewer than the {partitions} of {source}: \
                 records could not keep their partition"
            ),
            Some(_) => {}
        }
        for partition in 0..partitions {
            let at = |offsets: &ContractOffsets| offsets.get(topic.name()).and_then(|p| p.get(&partition)).copied();
            spans.push((source.clone(), partition, at(&args.from_offsets), at(&args.to_offsets)));
            to.push(destination.clone());
        }
    }
    let producer = RecordProducer::new(to_brokers)?;
    let started = Instant::now();
    let copied = mirror(from_brokers, to_brokers, &producer, &spans, &to, |so_far| {
        let (read, copied) = so_far.iter().fold((0, 0), |(r, c), s| (r + s.read, c + s.copied));
        let rate = read as f64 / started.elapsed().as_secs_f64().max(0.001);
        eprintln!("mirror: {read} records read, {copied} copied, {rate:.0}/s");
    })?;
    producer.flush(Duration::from_secs(120))?;
    if producer.tracker().failed() > 0 {
        anyhow::bail!(
            "{} records were not taken by {to_brokers}: {}",
            producer.tracker().failed(),
            producer.tracker().first_error().unwrap_or_default()
        );
    }
    let mut total = Copied::default();
    for topic in &topics {
        let name = topic.prefixed(from_prefix);
        let mut sum = Copied::default();
        for (_, copied) in spans.iter().zip(&copied).filter(|((t, ..), _)| *t == name) {
            sum.read += copied.read;
            sum.copied += copied.copied;
            sum.present += copied.present;
        }
        println!(
            "{name} -> {}: {} read, {} copied, {} already there",
            topic.prefixed(to_prefix),
            sum.read,
            sum.copied,
            sum.present
        );
        total.read += sum.read;
        total.copied += sum.copied;
        total.present += sum.present;
    }
    println!(
        "mirrored to {to_brokers} in {:.1}s: {} read, {} copied, {} already there",
        started.elapsed().as_secs_f64(),
        total.read,
        total.copied,
        total.present
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_may_name_any_contract_topic() {
        assert_eq!(parse_offsets("shop.order-status:1=7").unwrap()["shop.order-status"][&1], 7);
        assert!(parse_offsets("shop.nope:0=1").unwrap_err().contains("not a contract topic"));
    }
}
