//! The namespace's generations against the real Redis (`SHOPFLOW_REDIS_URL`):
//! found from the set each generation joins with its first publication, not
//! by a SCAN of every key, and a namespace an older version wrote is found
//! by its meta hashes once.

use shopflow_sinks::redis::RedisSink;
use shopflow_sinks::{Family, Publication};
use std::collections::BTreeMap;

fn redis_url() -> String {
    std::env::var("SHOPFLOW_REDIS_URL").expect("SHOPFLOW_REDIS_URL is not set: run the tests with scripts/test")
}

fn publication(upper: u64, product: &str) -> Publication {
    let changes =
        BTreeMap::from([((Family::Product, product.to_string()), Some(format!(r#"{{"productId":"{product}"}}"#)))]);
    Publication { upper, changes, offsets: BTreeMap::new() }
}

async fn keys(connection: &mut redis::aio::MultiplexedConnection, pattern: &str) -> Vec<String> {
    let mut found: Vec<String> = redis::cmd("KEYS").arg(pattern).query_async(connection).await.unwrap();
    found.sort();
    found
}

#[tokio::test]
async fn generations_are_listed_from_their_set_and_dropped_from_it() {
    let namespace = format!("gens_{}", std::process::id());
    let client = redis::Client::open(redis_url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();

    let mut first = RedisSink::connect(&redis_url(), &namespace, "g1").await.unwrap();
    assert_eq!(first.generations().await.unwrap(), Vec::<String>::new(), "nothing published yet");
    first.publish(&publication(1, "prd-1"), true).await.unwrap();
    assert_eq!(first.generations().await.unwrap(), vec!["g1"]);

    // A rebuild that publishes without becoming current (a crash would leave it so) is listed too.
    let mut second = RedisSink::connect(&redis_url(), &namespace, "g2").await.unwrap();
    second.publish(&publication(1, "prd-2"), false).await.unwrap();
    second.publish(&publication(2, "prd-3"), false).await.unwrap();
    assert_eq!(second.generations().await.unwrap(), vec!["g1", "g2"]);

    assert!(second.drop_generation("g1").await.unwrap() > 0);
    assert_eq!(second.generations().await.unwrap(), vec!["g2"]);
    assert_eq!(keys(&mut connection, &format!("{namespace}:g1:*")).await, Vec::<String>::new());
    assert!(!keys(&mut connection, &format!("{namespace}:g2:*")).await.is_empty());
    assert_eq!(second.drop_generation("g2").await.unwrap(), 0, "a sink never drops its own generation");

    let _: () = redis::cmd("DEL")
        .arg(keys(&mut connection, &format!("{namespace}:*")).await)
        .query_async(&mut connection)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_namespace_written_before_the_set_is_searched_once() {
    let namespace = format!("gens_old_{}", std::process::id());
    let client = redis::Client::open(redis_url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    // As an older version left it: a current generation, an abandoned one, no set.
    let _: () = redis::pipe()
        .set(format!("{namespace}:current"), "old1")
        .hset(format!("{namespace}:old1:meta"), "upper", 7)
        .set(format!("{namespace}:old1:product:prd-1"), "{}")
        .hset(format!("{namespace}:old0:meta"), "upper", 3)
        .query_async(&mut connection)
        .await
        .unwrap();

    let mut sink = RedisSink::connect(&redis_url(), &namespace, "new").await.unwrap();
    assert_eq!(sink.generations().await.unwrap(), vec!["old0", "old1"]);
    let set: Vec<String> =
        redis::cmd("SMEMBERS").arg(format!("{namespace}:generations")).query_async(&mut connection).await.unwrap();
    assert_eq!(set.len(), 2, "what the search found joins the set: {set:?}");

    sink.publish(&publication(1, "prd-1"), true).await.unwrap();
    for old in ["old0", "old1"] {
        sink.drop_generation(old).await.unwrap();
    }
    assert_eq!(sink.generations().await.unwrap(), vec!["new"]);
    assert_eq!(keys(&mut connection, &format!("{namespace}:old*")).await, Vec::<String>::new());

    let _: () = redis::cmd("DEL")
        .arg(keys(&mut connection, &format!("{namespace}:*")).await)
        .query_async(&mut connection)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_rebuilds_large_publications_land_whole_and_the_switch_comes_last() {
    use shopflow_sinks::redis::UNSEEN_CHUNK;
    let namespace = format!("gens_chunks_{}", std::process::id());
    let client = redis::Client::open(redis_url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let n = 2 * UNSEEN_CHUNK + 7;
    let value = |i: usize, round: u64| format!(r#"{{"productId":"prd-{i}","round":{round}}}"#);
    let changes = |round: u64, keep: fn(usize) -> bool| -> BTreeMap<(Family, String), Option<String>> {
        (0..n).map(|i| ((Family::Product, format!("prd-{i}")), keep(i).then(|| value(i, round)))).collect()
    };

    let mut sink = RedisSink::connect(&redis_url(), &namespace, "g1").await.unwrap();
    // Not current: written in pieces, every key lands, readers are not pointed at it.
    sink.publish(&Publication { upper: 1, changes: changes(1, |_| true), offsets: BTreeMap::new() }, false)
        .await
        .unwrap();
    assert_eq!(keys(&mut connection, &format!("{namespace}:g1:product:*")).await.len(), n);
    let current: Option<String> =
        redis::cmd("GET").arg(format!("{namespace}:current")).query_async(&mut connection).await.unwrap();
    assert_eq!(current, None, "a generation not made current is not served");
    assert_eq!(sink.generations().await.unwrap(), vec!["g1"], "registered before its first keys");

    // The switch: a third of the keys deleted, the rest rewritten, then current.
    sink.publish(&Publication { upper: 2, changes: changes(2, |i| i % 3 != 0), offsets: BTreeMap::new() }, true)
        .await
        .unwrap();
    let current: Option<String> =
        redis::cmd("GET").arg(format!("{namespace}:current")).query_async(&mut connection).await.unwrap();
    assert_eq!(current.as_deref(), Some("g1"));
    assert_eq!(keys(&mut connection, &format!("{namespace}:g1:product:*")).await.len(), n - n.div_ceil(3));
    for i in [0, 1, UNSEEN_CHUNK, n - 1] {
        let got: Option<String> = redis::cmd("GET")
            .arg(format!("{namespace}:g1:product:prd-{i}"))
            .query_async(&mut connection)
            .await
            .unwrap();
        assert_eq!(got, (i % 3 != 0).then(|| value(i, 2)), "prd-{i}");
    }
    let upper: Option<u64> =
        redis::cmd("HGET").arg(format!("{namespace}:g1:meta")).arg("upper").query_async(&mut connection).await.unwrap();
    assert_eq!(upper, Some(2));

    let _: () = redis::cmd("DEL")
        .arg(keys(&mut connection, &format!("{namespace}:*")).await)
        .query_async(&mut connection)
        .await
        .unwrap();
}
