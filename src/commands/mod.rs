//! One module per subcommand.

pub mod demo;
pub mod generate;
pub mod pipeline;
pub mod serve;
pub mod topics;

use clap::Args;

/// How many timely workers.
#[derive(Args, Clone, Copy, Debug)]
pub struct WorkerArgs {
    /// Timely worker threads (per process).
    #[arg(long, env = "SHOPFLOW_WORKERS", default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub workers: u16,
}

/// Where Kafka is.
#[derive(Args, Clone, Debug)]
pub struct KafkaArgs {
    /// Kafka bootstrap servers (host:port, comma separated).
    #[arg(long, global = true, env = "SHOPFLOW_BROKERS", default_value = "127.0.0.1:9092")]
    pub brokers: String,
    /// Prefix of every topic name (tests and staging share one broker with it; empty in production).
    #[arg(long, global = true, env = "SHOPFLOW_TOPIC_PREFIX", default_value = "")]
    pub topic_prefix: String,
}
