//! `shopflow topics create|list`.

use super::KafkaArgs;
use anyhow::Context;
use clap::{Args, Subcommand};
use shopflow_ingest::admin::{self, Created};
use std::time::Duration;

/// Arguments of `shopflow topics`.
#[derive(Args)]
pub struct TopicsArgs {
    #[command(subcommand)]
    action: Action,
    #[command(flatten)]
    kafka: KafkaArgs,
}

#[derive(Subcommand)]
enum Action {
    /// Create every topic of the contract that does not exist yet (idempotent).
    Create {
        /// Partitions for every topic, instead of the registry's.
        #[arg(long, value_parser = clap::value_parser!(i32).range(1..=10_000))]
        partitions: Option<i32>,
        /// Replication factor: 1 on one machine, 3 in production.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..=16))]
        replication: i32,
    },
    /// List the topics on the broker.
    List,
}

/// Runs `shopflow topics`.
pub fn run(args: TopicsArgs) -> anyhow::Result<()> {
    let brokers = &args.kafka.brokers;
    match args.action {
        Action::Create { partitions, replication } => {
            let specs = admin::plan(&args.kafka.topic_prefix, partitions, replication);
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let outcome = runtime
                .block_on(admin::create_topics(brokers, &specs))
                .with_context(|| format!("creating topics on {brokers}"))?;
            admin::wait_for_topics(brokers, &specs, Duration::from_secs(30))?;
            for (spec, created) in outcome {
                let what = match created {
                    Created::Created => "created",
                    Created::Existed => "exists",
                };
                let retention = if spec.retention_ms < 0 {
                    "forever".to_string()
                } else {
                    format!("{}d", spec.retention_ms / 86_400_000)
                };
                println!("{:<20} {what:<8} partitions={:<3} retention={retention}", spec.name, spec.partitions);
            }
        }
        Action::List => {
            let topics = admin::list_topics(brokers).with_context(|| format!("listing topics on {brokers}"))?;
            for topic in topics.into_iter().filter(|t| t.name.starts_with(&args.kafka.topic_prefix)) {
                let role = match topic.known {
                    Some(t) => format!("{:?}", t.kind()).to_lowercase(),
                    None => "other".to_string(),
                };
                println!("{:<20} partitions={:<3} {role}", topic.name, topic.partitions);
            }
        }
    }
    Ok(())
}
