//! List versions against the real Redis (`SHOPFLOW_REDIS_URL`): a publication
//! raises the version of exactly the lists it changes, and a read of the lists
//! returns the versions of the members it read.

use shopflow_sinks::redis::{RedisReader, RedisSink};
use shopflow_sinks::{Family, Publication};
use shopflow_views::family::render_key;
use std::collections::BTreeMap;

fn redis_url() -> String {
    std::env::var("SHOPFLOW_REDIS_URL").expect("SHOPFLOW_REDIS_URL is not set: run the tests with scripts/test")
}

fn member(term: &str, product: &str) -> (Family, String) {
    (Family::SearchTerm, render_key(&(term, product)))
}

fn publication(upper: u64, changes: Vec<((Family, String), Option<&str>)>) -> Publication {
    let changes: BTreeMap<_, _> = changes.into_iter().map(|(k, v)| (k, v.map(str::to_string))).collect();
    Publication { upper, changes, offsets: BTreeMap::new() }
}

#[tokio::test]
async fn a_publication_raises_the_version_of_exactly_the_lists_it_changes() {
    let namespace = format!("listver_{}", std::process::id());
    let mut sink = RedisSink::connect(&redis_url(), &namespace, "g1").await.unwrap();
    let reader = RedisReader::connect(&redis_url(), &namespace).await.unwrap();
    let lists = [(Family::SearchTerm, "lamp"), (Family::SearchTerm, "red"), (Family::SearchTerm, "desk")];
    assert_eq!(reader.list_versions(&lists).await.unwrap(), None, "nothing is current yet");

    let first = vec![
        (member("lamp", "prd-1"), Some(r#"{"n":1}"#)),
        (member("lamp", "prd-2"), Some(r#"{"n":2}"#)),
        (member("red", "prd-1"), Some(r#"{"n":1}"#)),
    ];
    sink.publish(&publication(1, first), true).await.unwrap();
    let versions = reader.list_versions(&lists).await.unwrap().unwrap();
    assert_eq!((versions.generation.as_str(), versions.versions), ("g1", vec![1, 1, 0]));

    // Only "lamp" changes; an object of another family changes no list.
    let second = vec![
        (member("lamp", "prd-1"), None),
        ((Family::Product, "prd-9".to_string()), Some(r#"{"productId":"prd-9"}"#)),
    ];
    sink.publish(&publication(2, second), false).await.unwrap();
    let read = reader.read_lists(&lists).await.unwrap().unwrap();
    assert_eq!(read.versions, vec![2, 1, 0]);
    assert_eq!(read.lists, vec![vec![r#"{"n":2}"#.to_string()], vec![r#"{"n":1}"#.to_string()], vec![]]);
    let versions = reader.list_versions(&lists).await.unwrap().unwrap();
    assert_eq!((versions.versions, versions.as_of), (vec![2, 1, 0], read.as_of));

    // A list emptied to nothing keeps counting: an empty list is not "never written".
    sink.publish(&publication(3, vec![(member("lamp", "prd-2"), None)]), false).await.unwrap();
    let read = reader.read_lists(&lists[..1]).await.unwrap().unwrap();
    assert_eq!((read.versions, read.lists), (vec![3], vec![vec![]]));

    let mut sink = RedisSink::connect(&redis_url(), &namespace, "other").await.unwrap();
    assert!(sink.drop_generation("g1").await.unwrap() > 0);
    let client = redis::Client::open(redis_url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let left: Vec<String> =
        redis::cmd("KEYS").arg(format!("{namespace}:g1:*")).query_async(&mut connection).await.unwrap();
    assert!(left.is_empty(), "{left:?}");
    let _: () = redis::cmd("DEL")
        .arg(format!("{namespace}:current"))
        .arg(format!("{namespace}:asof"))
        .query_async(&mut connection)
        .await
        .unwrap();
}
