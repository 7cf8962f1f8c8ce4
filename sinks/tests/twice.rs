//! A publication applied twice, against the real Redis
//! (`SHOPFLOW_REDIS_URL`): what a publisher that sends a publication again
//! after Redis went away (or a crash between a publication and its
//! acknowledgement) does. The objects, the stamps and `asOf` are what one
//! application leaves; only the list versions, which tell readers that a
//! list changed, rise once more.

use shopflow_sinks::redis::RedisSink;
use shopflow_sinks::{Family, Publication};
use shopflow_views::family::render_key;
use std::collections::BTreeMap;

fn redis_url() -> String {
    std::env::var("SHOPFLOW_REDIS_URL").expect("SHOPFLOW_REDIS_URL is not set: run the tests with scripts/test")
}

fn publication(upper: u64, changes: &[((Family, String), Option<&str>)]) -> Publication {
    let changes = changes.iter().map(|(k, v)| (k.clone(), v.map(str::to_string))).collect();
    let offsets = BTreeMap::from([("shop.orders".to_string(), BTreeMap::from([(0, upper as i64 * 10)]))]);
    Publication { upper, changes, offsets }
}

/// Every key of the namespace and its value (a hash as its sorted fields),
/// without the list versions and `asOf` (the wall clock of each publication,
/// never lowered); and the list versions apart.
async fn state(
    connection: &mut redis::aio::MultiplexedConnection,
    namespace: &str,
) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{namespace}:*")).query_async(connection).await.unwrap();
    let (mut objects, mut versions) = (BTreeMap::new(), BTreeMap::new());
    for key in keys {
        let kind: String = redis::cmd("TYPE").arg(&key).query_async(connection).await.unwrap();
        let value = match kind.as_str() {
            "hash" => {
                let mut fields: BTreeMap<String, String> =
                    redis::cmd("HGETALL").arg(&key).query_async(connection).await.unwrap();
                if key.ends_with(":meta") {
                    fields.remove("asOf");
                }
                format!("{fields:?}")
            }
            "set" => {
                let mut members: Vec<String> = redis::cmd("SMEMBERS").arg(&key).query_async(connection).await.unwrap();
                members.sort();
                format!("{members:?}")
            }
            _ => redis::cmd("GET").arg(&key).query_async(connection).await.unwrap(),
        };
        if key.ends_with(":listver") {
            versions.insert(key, value);
        } else if !key.ends_with(":asof") {
            objects.insert(key, value);
        }
    }
    (objects, versions)
}

#[tokio::test]
async fn a_publication_applied_twice_leaves_what_one_leaves() {
    let client = redis::Client::open(redis_url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let member = |term: &str, product: &str| (Family::SearchTerm, render_key(&(term, product)));
    let product = |id: &str| (Family::Product, id.to_string());
    let first = publication(
        1,
        &[
            (product("prd-1"), Some(r#"{"productId":"prd-1","price":100}"#)),
            (product("prd-2"), Some(r#"{"productId":"prd-2","price":200}"#)),
            (member("lamp", "prd-1"), Some(r#"{"n":1}"#)),
            (member("lamp", "prd-2"), Some(r#"{"n":2}"#)),
        ],
    );
    let second = publication(
        2,
        &[
            (product("prd-1"), Some(r#"{"productId":"prd-1","price":90}"#)),
            (product("prd-2"), None),
            (member("lamp", "prd-2"), None),
            (member("desk", "prd-1"), Some(r#"{"n":3}"#)),
        ],
    );

    // Once each, and then each publication twice (the second time as a retry would send it),
    // both while the generation is being built (not current) and once it is current.
    for (current_from, label) in [(0, "current from the first"), (2, "current from the second")] {
        let (once, twice) = (
            format!("twice_{}_{current_from}_a", std::process::id()),
            format!("twice_{}_{current_from}_b", std::process::id()),
        );
        let mut sink = RedisSink::connect(&redis_url(), &once, "g1").await.unwrap();
        for (i, p) in [&first, &second].into_iter().enumerate() {
            sink.publish(p, i + 1 >= current_from).await.unwrap();
        }
        let mut again = RedisSink::connect(&redis_url(), &twice, "g1").await.unwrap();
        for (i, p) in [&first, &second].into_iter().enumerate() {
            again.publish(p, i + 1 >= current_from).await.unwrap();
            again.publish(p, i + 1 >= current_from).await.unwrap();
        }
        let (objects_once, versions_once) = state(&mut connection, &once).await;
        let (objects_twice, versions_twice) = state(&mut connection, &twice).await;
        let renamed: BTreeMap<String, String> =
            objects_twice.into_iter().map(|(k, v)| (k.replacen(&twice, &once, 1), v)).collect();
        assert_eq!(renamed, objects_once, "{label}");
        assert!(objects_once.keys().any(|k| k.ends_with(":product:prd-1")), "{label}: {objects_once:?}");
        assert!(!objects_once.keys().any(|k| k.ends_with(":product:prd-2")), "{label}");
        assert!(objects_once.values().any(|v| v.contains("price\":90")), "{label}");
        assert_eq!(versions_once.len(), versions_twice.len(), "{label}");
        let mut leftovers: Vec<String> = redis::cmd("KEYS")
            .arg(format!("twice_{}_{current_from}_*", std::process::id()))
            .query_async(&mut connection)
            .await
            .unwrap();
        leftovers.sort();
        let _: () = redis::cmd("DEL").arg(leftovers).query_async(&mut connection).await.unwrap();
    }
}
