//! `shopflow verify`: proves that what is served equals what the topics say.
//!
//! It reads the served generation (every object of every family in Redis,
//! and the offsets its `meta` says it covers), rebuilds every view from the
//! topics up to exactly those offsets into a namespace and database of its
//! own (as `shopflow replay --to-offsets` does), and compares, per family,
//! the number of objects and an order-independent digest of them; then the
//! analytics relations in ClickHouse the same way. On a difference it names
//! the family and the first keys that differ. It only reads what is served,
//! so it runs against a live system: when a publication lands while it
//! reads, it reads again (the objects and the offsets must belong together).
//! The rebuild is dropped afterwards. Exit code 0 only when everything matches.

use super::pipeline::{report_progress, stop_on_signals, PipelineArgs};
use crate::pipeline::{self, Counters};
use anyhow::Context;
use clap::Args;
use shopflow_sinks::clickhouse::{ClickHouseReader, Filter, Relation};
use shopflow_sinks::redis::RedisReader;
use shopflow_sinks::Family;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Arguments of `shopflow verify`.
#[derive(Args, Clone, Debug)]
pub struct VerifyArgs {
    /// Differing keys shown per family at most.
    #[arg(long, default_value_t = 5)]
    pub show: usize,
    /// Keep the rebuild (namespace and database `<namespace>_verify_<pid>`) for a closer look.
    #[arg(long)]
    pub keep: bool,
    /// The served system: `--namespace`, `--clickhouse-database`, brokers, and the pipeline's
    /// settings it was built with (thresholds must match, or the views legitimately differ).
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

/// Objects of one side: family → key → JSON.
type Objects = BTreeMap<&'static str, BTreeMap<String, String>>;

/// Every object of `generation`, family by family (the ones Redis serves).
async fn objects(reader: &RedisReader, generation: &str) -> anyhow::Result<Objects> {
    let mut out = Objects::new();
    for family in Family::ALL.into_iter().filter(|f| f.served_from_redis()) {
        let found = reader.objects(generation, family).await?;
        out.insert(family.name(), found.into_iter().collect());
    }
    Ok(out)
}

/// The served generation's name, offsets and objects, read so that they
/// belong together: the generation and its offsets unchanged across the read.
async fn served(reader: &RedisReader, namespace: &str) -> anyhow::Result<(String, shopflow_sinks::Offsets, Objects)> {
    for _ in 0..10 {
        let Some(before) = reader.status().await? else {
            anyhow::bail!("nothing is served in Redis namespace {namespace:?} (no current generation)");
        };
        let read = objects(reader, &before.generation).await?;
        let after = reader.status().await?.context("the served generation vanished while being read")?;
        if after.generation == before.generation && after.offsets == before.offsets {
            return Ok((before.generation, before.offsets, read));
        }
        tracing::info!("a publication landed while the served state was read: reading again");
    }
    anyhow::bail!("the served state moved during each of 10 reads; verify when the load is lighter")
}

/// An order-independent digest of `(key, value)` pairs and their count.
fn digest<'a>(pairs: impl IntoIterator<Item = (&'a String, &'a String)>) -> (usize, u64) {
    let mut sum = 0u64;
    let mut count = 0;
    for (key, value) in pairs {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (key, value).hash(&mut hasher);
        sum = sum.wrapping_add(hasher.finish());
        count += 1;
    }
    (count, sum)
}

/// Compares `served` with `rebuilt`, family by family; prints a line per
/// family and up to `show` differing keys; returns the families that differ.
fn compare(what: &str, served: &Objects, rebuilt: &Objects, show: usize) -> Vec<String> {
    let empty = BTreeMap::new();
    let mut differing = Vec::new();
    for (family, left) in served {
        let right = rebuilt.get(family).unwrap_or(&empty);
        let (a, b) = (digest(left), digest(right));
        if a == b {
            println!("{what} {family}: {} objects, digest {:016x}: match", a.0, a.1);
            continue;
        }
        println!(
            "{what} {family}: DIFFERS (served {} objects, {:016x}; from the topics {}, {:016x})",
            a.0, a.1, b.0, b.1
        );
        let keys = left.keys().chain(right.keys()).collect::<std::collections::BTreeSet<_>>();
        for key in keys.into_iter().filter(|k| left.get(*k) != right.get(*k)).take(show) {
            let cut = |v: Option<&String>| v.map_or("(none)".to_string(), |v| v.chars().take(200).collect());
            println!(
                "  {family}:{key}\n    served:      {}\n    from topics: {}",
                cut(left.get(key)),
                cut(right.get(key))
            );
        }
        differing.push(format!("{what} {family}"));
    }
    differing
}

/// The analytics relations of `database`, each as its rows (JSON), keyed by row.
async fn relations(url: &str, database: &str) -> anyhow::Result<Objects> {
    let reader = ClickHouseReader::new(url, database);
    let mut out = Objects::new();
    for relation in Relation::ALL {
        let all = Filter { from: None, to: None, equals: None, limit: 100_000_000 };
        let rows =
            reader.rows(relation, all).await.with_context(|| format!("reading {database}.{}", relation.table()))?;
        // A row is its own key: the comparison is of the sets of rows.
        out.insert(relation.table(), rows.into_iter().map(|r| (r.to_string(), String::new())).collect());
    }
    Ok(out)
}

/// Runs `shopflow verify`; `Ok(false)` when something differs.
pub fn run(args: VerifyArgs) -> anyhow::Result<bool> {
    let live = args.pipeline.stores.clone();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let reader = runtime
        .block_on(RedisReader::connect(&live.redis_url, &live.namespace))
        .with_context(|| format!("connecting to Redis at {}", live.redis_url))?;
    let (generation, offsets, served_objects) = runtime.block_on(served(&reader, &live.namespace))?;
    let total: usize = served_objects.values().map(BTreeMap::len).sum();
    eprintln!(
        "verify: generation {generation} of {:?}: {total} objects; rebuilding from the topics up to its offsets",
        live.namespace
    );

    let rebuild = format!("{}_verify_{}", live.namespace, std::process::id());
    let mut config =
        super::replay::rebuild_config(&args.pipeline, &rebuild, format!("shopflow-verify-{}", live.namespace))?;
    config.source.to_offsets = offsets;
    let stop = Arc::new(AtomicBool::new(false));
    stop_on_signals(stop.clone());
    let counters = Arc::new(Counters::default());
    let done = Arc::new(AtomicBool::new(false));
    report_progress(counters.clone(), done.clone());
    let built = pipeline::run(config, stop, counters);
    done.store(true, Ordering::SeqCst);

    let outcome = built.context("rebuilding from the topics").and_then(|()| {
        runtime.block_on(async {
            let rebuilt_reader = RedisReader::connect(&live.redis_url, &rebuild).await?;
            let status = rebuilt_reader.status().await?.context("the rebuild published nothing")?;
            let rebuilt = objects(&rebuilt_reader, &status.generation).await?;
            let mut differing = compare("redis", &served_objects, &rebuilt, args.show);
            let served_rows = relations(&live.clickhouse_url, &live.clickhouse_database).await?;
            let rebuilt_rows = relations(&live.clickhouse_url, &rebuild).await?;
            differing.extend(compare("clickhouse", &served_rows, &rebuilt_rows, args.show));
            anyhow::Ok(differing)
        })
    });
    if args.keep {
        eprintln!("verify: the rebuild is kept in Redis namespace and ClickHouse database {rebuild}");
    } else {
        runtime.block_on(async {
            shopflow_sinks::redis::drop_namespace(&live.redis_url, &rebuild).await?;
            shopflow_sinks::clickhouse::drop_database(&live.clickhouse_url, &rebuild).await
        })?;
    }
    let differing = outcome?;
    if differing.is_empty() {
        println!("verify: everything served matches the topics");
        Ok(true)
    } else {
        println!("verify: {} differ: {}", differing.len(), differing.join(", "));
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_ignores_order_and_sees_any_change() {
        let pairs = |list: &[(&str, &str)]| -> BTreeMap<String, String> {
            list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
        };
        let a = pairs(&[("ord-1", "{\"a\":1}"), ("ord-2", "{}")]);
        let mut reversed: Vec<(&String, &String)> = a.iter().collect();
        reversed.reverse();
        assert_eq!(digest(&a), digest(reversed));
        assert_ne!(digest(&a), digest(&pairs(&[("ord-1", "{\"a\":2}"), ("ord-2", "{}")])));
        assert_ne!(digest(&a), digest(&pairs(&[("ord-1", "{\"a\":1}"), ("ord-3", "{}")])));
        let served: Objects = [("order", a.clone())].into_iter().collect();
        let changed: Objects = [("order", pairs(&[("ord-1", "{\"a\":1}")]))].into_iter().collect();
        assert!(compare("redis", &served, &served, 5).is_empty());
        assert_eq!(compare("redis", &served, &changed, 5), ["redis order"]);
    }
}
