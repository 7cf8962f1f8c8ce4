//! The `shopflow` binary: one command per job of the system. See `shopflow --help`.

mod commands;
mod pipeline;
mod progress;

use clap::{Parser, Subcommand};

/// shopflow: the event backbone of an online marketplace.
#[derive(Parser)]
#[command(name = "shopflow", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Export traces over OTLP/HTTP to this collector (e.g. `http://127.0.0.1:4318`; `/v1/traces`
    /// is added): the pipeline's batches by stage, the API's requests down to their Redis and
    /// Kafka calls. Off when not given.
    #[arg(long, global = true, env = "SHOPFLOW_OTLP_ENDPOINT")]
    otlp_endpoint: Option<String>,
    /// The fraction of traces exported (0 to 1).
    #[arg(long, global = true, env = "SHOPFLOW_OTLP_SAMPLING", default_value_t = 0.1)]
    otlp_sampling: f64,
}

#[derive(Subcommand)]
enum Command {
    /// Create or list the contract's Kafka topics.
    Topics(commands::topics::TopicsArgs),
    /// Generate a seeded marketplace workload into Kafka or an NDJSON file.
    Generate(commands::generate::GenerateArgs),
    /// Run the pipeline: topics in, views out to Redis, ClickHouse and Kafka.
    Pipeline(commands::pipeline::PipelineArgs),
    /// Build every view from a range of the topics (event time, or as of a time) into a new namespace.
    Replay(Box<commands::replay::ReplayArgs>),
    /// Check what is served (Redis, ClickHouse) against the topics; exit code 0 only when equal.
    Verify(Box<commands::verify::VerifyArgs>),
    /// Export a range of topics to Parquet, Arrow IPC or NDJSON files, one dataset per event type and day.
    Export(Box<commands::export::ExportArgs>),
    /// Copy a range of topics to another cluster, record for record (idempotent on re-run).
    Mirror(Box<commands::mirror::MirrorArgs>),
    /// Serve the HTTP API over what the pipeline publishes.
    Serve(commands::serve::ServeArgs),
    /// Run the pipeline and the API in one process (and the dispatcher, with --notifications).
    Run(Box<commands::serve::RunArgs>),
    /// Deliver notifications: e-mail over SMTP, SMS and push as signed webhooks.
    Notify(commands::notify::NotifyArgs),
    /// The main job on one machine: a workload flowing through the pipeline to the API.
    Demo(commands::demo::DemoArgs),
    /// Print a signed development token.
    Token(commands::serve::TokenArgs),
    /// Simulated shoppers through the HTTP API (loopback only): a load test with a report.
    Load(Box<commands::load::LoadArgs>),
}

// The views' arrangements allocate and free many small strings; glibc's malloc spent a
// fifth of the time absorbing orders in its bookkeeping (dataflows/benches/absorb.rs).
// `--features system-alloc` leaves the system's, for heap profilers.
#[cfg(not(feature = "system-alloc"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Transparent huge pages off for this process (unless `MIMALLOC_ALLOW_THP`
/// is set: then mimalloc decides). mimalloc asks for huge pages on its
/// arenas, and each first touch of one makes the kernel zero 2 MiB: on the
/// 1M-event benchmark that was a third of all samples and 35 s of system
/// time a run; without them the pipeline ran 30–40% faster (BENCHMARKS.md).
fn no_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
        // SAFETY: PR_SET_THP_DISABLE takes integers only and touches no memory of
        // ours; if the kernel refuses, nothing changes and nothing depends on it.
        let _ = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    }
}

fn main() -> std::process::ExitCode {
    no_transparent_huge_pages();
    let cli = Cli::parse();
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("SHOPFLOW_LOG").unwrap_or_else(|_| "warn,shopflow=info".into());
    // JSON lines for machines (a service's log is not a terminal), text for people.
    let json = match std::env::var("SHOPFLOW_LOG_FORMAT").as_deref() {
        Ok("json") => true,
        Ok("text") => false,
        _ => !std::io::IsTerminal::is_terminal(&std::io::stderr()),
    };
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        logs.json().with_current_span(true).with_span_list(false).init();
    } else {
        logs.init();
    }
    if let Some(endpoint) = &cli.otlp_endpoint {
        let service = match &cli.command {
            Command::Serve(_) => "shopflow-api",
            Command::Pipeline(_) | Command::Replay(_) => "shopflow-pipeline",
            _ => "shopflow",
        };
        if let Err(error) = shopflow_sinks::otlp::install(endpoint, service, cli.otlp_sampling) {
            eprintln!("error: {error}");
            return std::process::ExitCode::from(2);
        }
    }
    let result = match cli.command {
        Command::Topics(args) => commands::topics::run(args),
        Command::Generate(args) => commands::generate::run(args),
        Command::Pipeline(args) => commands::pipeline::run(args),
        Command::Replay(args) => commands::replay::run(*args),
        Command::Mirror(args) => commands::mirror::run(*args),
        Command::Export(args) => commands::export::run(*args),
        Command::Verify(args) => match commands::verify::run(*args) {
            Ok(true) => Ok(()),
            // Differences were printed: the exit code says so.
            Ok(false) => return std::process::ExitCode::from(1),
            Err(error) => {
                // Not verified either way: 2, apart from "they differ".
                eprintln!("error: {error:#}");
                return std::process::ExitCode::from(2);
            }
        },
        Command::Serve(args) => commands::serve::run_serve(args),
        Command::Run(args) => commands::serve::run_all(*args),
        Command::Notify(args) => commands::notify::run(args),
        Command::Token(args) => commands::serve::run_token(args),
        Command::Load(args) => commands::load::run(*args),
        Command::Demo(args) => commands::demo::run(args),
    };
    // The last spans leave before the process does.
    shopflow_sinks::otlp::flush(std::time::Duration::from_secs(5));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
