//! `shopflow export`: a range of topics to files analytics tools read with
//! no schema of their own (`ingest/src/export.rs`): Parquet (the default),
//! Arrow IPC (`--format arrow`) or NDJSON (`--format ndjson`), one dataset per
//! event type under the directory, partitioned by day (`day=YYYY-MM-DD`),
//! with typed columns (`topics/src/columns.rs`). The same range gives the
//! same files; `_export.json` beside the datasets says what was read,
//! written and skipped, and the offsets that repeat the range.

use super::replay::{offsets_among, ContractOffsets};
use super::{KafkaArgs, TimeArgs};
use crate::progress::Progress;
use anyhow::Context;
use clap::Args;
use serde_json::json;
use shopflow_ingest::export::{clear, export, ExportConfig, Exported, Format, SUMMARY};
use shopflow_ingest::range::{partitions_of, Span};
use shopflow_topics::Topic;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Arguments of `shopflow export`.
#[derive(Args, Clone, Debug)]
pub struct ExportArgs {
    /// The directory the datasets go under (made if missing; must hold no earlier export unless --overwrite).
    #[arg(long)]
    pub to: PathBuf,
    /// parquet, arrow (Arrow IPC file) or ndjson.
    #[arg(long, default_value = "parquet", value_parser = Format::parse)]
    pub format: Format,
    /// The contract topics to export, comma separated (default: every source topic).
    #[arg(long, value_delimiter = ',', value_parser = parse_topic)]
    pub topics: Vec<Topic>,
    #[command(flatten)]
    pub times: TimeArgs,
    /// Where to start, per partition: `shop.orders:0=120,...` (a partition not named: its beginning).
    #[arg(long, value_parser = parse_offsets, default_value = "")]
    pub from_offsets: ContractOffsets,
    /// Where to stop, per partition (that offset is not read; a partition not named: as far as it reaches).
    #[arg(long, value_parser = parse_offsets, default_value = "")]
    pub to_offsets: ContractOffsets,
    /// Replace an earlier export in the directory (its datasets and summary; nothing else).
    #[arg(long)]
    pub overwrite: bool,
    #[command(flatten)]
    pub kafka: KafkaArgs,
}

/// Every contract topic but `shop.credentials`, whose password hashes and
/// sealed secrets never leave Kafka in files (`mirror` copies it between clusters).
fn exportable() -> Vec<Topic> {
    Topic::ALL.into_iter().filter(|t| *t != Topic::Credentials).collect()
}

fn parse_topic(text: &str) -> Result<Topic, String> {
    let text = text.trim();
    if text == Topic::Credentials.name() {
        return Err(format!("{text} holds password hashes and is never exported (shopflow mirror copies it)"));
    }
    exportable().into_iter().find(|t| t.name() == text).ok_or_else(|| {
        let names: Vec<&str> = exportable().iter().map(|t| t.name()).collect();
        format!("{text:?} is not an exportable topic ({})", names.join(", "))
    })
}

fn parse_offsets(text: &str) -> Result<ContractOffsets, String> {
    offsets_among(text, &exportable(), "an exportable topic")
}

/// Whether `dir` holds anything.
fn holds_anything(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some())
}

/// Runs `shopflow export`.
pub fn run(args: ExportArgs) -> anyhow::Result<()> {
    let mut topics: Vec<Topic> = if args.topics.is_empty() { Topic::SOURCES.to_vec() } else { args.topics.clone() };
    topics.sort_by_key(|t| t.name());
    topics.dedup();
    for named in args.from_offsets.keys().chain(args.to_offsets.keys()) {
        if !topics.iter().any(|t| t.name() == named) {
            anyhow::bail!("offsets name {named}, which is not among the topics exported (--topics)");
        }
    }
    let times = args.times.range(None)?;
    if holds_anything(&args.to) {
        if !args.overwrite {
            anyhow::bail!(
                "{} is not empty: choose a new directory, or --overwrite to replace an earlier export there",
                args.to.display()
            );
        }
        clear(&args.to).with_context(|| format!("clearing {}", args.to.display()))?;
    }
    std::fs::create_dir_all(&args.to).with_context(|| format!("making {}", args.to.display()))?;

    let prefix = &args.kafka.topic_prefix;
    let mut spans = Vec::new();
    for topic in &topics {
        let name = topic.prefixed(prefix);
        let partitions = partitions_of(&args.kafka.brokers, &name)?
            .with_context(|| format!("{name} does not exist on {}", args.kafka.brokers))?;
        for partition in 0..partitions {
            let at = |offsets: &ContractOffsets| offsets.get(topic.name()).and_then(|p| p.get(&partition)).copied();
            let (from, to) = (at(&args.from_offsets), at(&args.to_offsets));
            if let (Some(from), Some(to)) = (from, to) {
                if from > to {
                    anyhow::bail!("{topic}:{partition}: --from-offsets {from} is after --to-offsets {to}");
                }
            }
            let span: Span = (name.clone(), partition, from, to);
            spans.push((span, *topic));
        }
    }

    let config =
        ExportConfig { brokers: args.kafka.brokers.clone(), spans, times, dir: args.to.clone(), format: args.format };
    let started = Instant::now();
    let mut progress: Option<Progress> = None;
    let exported = export(&config, |at| {
        progress.get_or_insert_with(|| Progress::new("export", Some(at.expected))).tick(at.records)
    })
    .context("exporting")?;
    if let Some(progress) = progress.as_mut() {
        progress.finish(exported.records);
    }
    let elapsed = started.elapsed().as_secs_f64().max(0.001);

    let summary = summary(&args, &topics, &config, &exported);
    let path = args.to.join(SUMMARY);
    let mut text = serde_json::to_vec_pretty(&summary)?;
    text.push(b'\n');
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;

    let types: std::collections::BTreeSet<&str> = exported.rows.keys().map(|(t, _)| t.as_str()).collect();
    println!(
        "exported {} events into {} ({} event types, {} files, {}) in {elapsed:.1}s",
        exported.events(),
        args.to.display(),
        types.len(),
        exported.files.len(),
        args.format.extension()
    );
    println!(
        "read {} records ({:.0}/s, {:.1} MB/s): {} further copies of an id, {} that do not decode, {} outside the time range",
        exported.records,
        exported.records as f64 / elapsed,
        exported.bytes as f64 / elapsed / 1e6,
        exported.duplicates,
        exported.malformed,
        exported.outside
    );
    println!("what was read, and the --to-offsets that repeat this range: {}", path.display());
    if let Some(example) = types.first() {
        let glob = format!("{}/{example}/*/*.{}", args.to.display(), args.format.extension());
        match args.format {
            Format::Parquet => {
                println!("read it: duckdb -c \"SELECT * FROM read_parquet('{glob}', hive_partitioning = true)\"")
            }
            Format::Arrow => println!(
                "read it: pyarrow.dataset.dataset('{}/{example}', format='arrow', partitioning='hive')",
                args.to.display()
            ),
            Format::Ndjson => println!("read it: duckdb -c \"SELECT * FROM read_json('{glob}')\""),
        }
    }
    Ok(())
}

/// `_export.json`: the range, what was read and skipped, and each dataset's
/// rows and files. Nothing in it depends on when or how fast the export ran,
/// so the same range gives the same summary.
fn summary(args: &ExportArgs, topics: &[Topic], config: &ExportConfig, exported: &Exported) -> serde_json::Value {
    let mut reached: BTreeMap<&str, BTreeMap<String, i64>> = BTreeMap::new();
    for (((_, partition, _, _), topic), next) in config.spans.iter().zip(&exported.reached) {
        reached.entry(topic.name()).or_default().insert(partition.to_string(), *next);
    }
    let mut datasets: BTreeMap<&str, (u64, Vec<String>)> = BTreeMap::new();
    for ((type_name, _), rows) in &exported.rows {
        datasets.entry(type_name).or_default().0 += rows;
    }
    for file in &exported.files {
        let text = file.to_string_lossy().into_owned();
        let type_name = text.split('/').next().unwrap_or_default().to_string();
        if let Some(dataset) = datasets.get_mut(type_name.as_str()) {
            dataset.1.push(text);
        }
    }
    let datasets: BTreeMap<&str, serde_json::Value> =
        datasets.into_iter().map(|(t, (rows, files))| (t, json!({ "rows": rows, "files": files }))).collect();
    json!({
        "format": args.format.extension(),
        "topics": topics.iter().map(|t| t.name()).collect::<Vec<_>>(),
        "fromTime": args.times.from_time.map(|t| t.to_string()),
        "toTime": args.times.to_time.map(|t| t.to_string()),
        "fromOffsets": args.from_offsets,
        "toOffsets": reached,
        "toOffsetsArgument": reached
            .iter()
            .flat_map(|(topic, parts)| parts.iter().map(move |(p, next)| format!("{topic}:{p}={next}")))
            .collect::<Vec<_>>()
            .join(","),
        "records": exported.records,
        "events": exported.events(),
        "duplicates": exported.duplicates,
        "malformed": exported.malformed,
        "outsideTimeRange": exported.outside,
        "datasets": datasets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_never_exported() {
        assert!(parse_topic("shop.credentials").unwrap_err().contains("never exported"));
        assert!(parse_offsets("shop.credentials:0=1").unwrap_err().contains("not an exportable topic"));
        assert_eq!(parse_topic(" shop.alerts ").unwrap(), Topic::Alerts);
        assert!(parse_topic("shop.nothing").unwrap_err().contains("shop.orders"));
    }
}
