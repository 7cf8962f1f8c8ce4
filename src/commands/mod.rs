//! One module per subcommand.

pub mod generate;
pub mod topics;

use clap::Args;

/// Where Kafka is.
#[derive(Args, Clone, Debug)]
pub struct KafkaArgs {
    /// Kafka bootstrap servers (host:port, comma separated).
    #[arg(long, global = true, env = "SHOPFLOW_BROKERS", default_value = "127.0.0.1:9092")]
    pub brokers: String,
}
