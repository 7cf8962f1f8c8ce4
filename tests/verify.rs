//! `shopflow verify` against the real broker, Redis and ClickHouse: it passes
//! on what a running pipeline serves after a load, and fails, naming the
//! family and the key, once a key is altered in Redis or a row in ClickHouse.

mod support;

use std::process::Output;
use support::{clickhouse, live_space, wait_until, Space};

fn verify(space: &Space) -> (Option<i32>, String) {
    let out: Output = space.shopflow().arg("verify").output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code(), text)
}

#[test]
fn verify_passes_on_what_is_served_and_names_what_was_altered() {
    // A live system: the pipeline runs on while verify reads (it publishes every second).
    let (space, _pipeline) = live_space("verify");
    space.run_ok(&["generate", "--quiet", "--seed", "35", "--users", "40", "--products", "20", "--orders", "80"]);
    let client = redis::Client::open(support::redis_url()).unwrap();
    let mut connection = client.get_connection().unwrap();
    wait_until("the load's 80 orders to be served", 120, || {
        let current: Option<String> =
            redis::cmd("GET").arg(format!("{}:current", space.name)).query(&mut connection).unwrap();
        let Some(generation) = current else { return false };
        let keys: Vec<String> =
            redis::cmd("KEYS").arg(format!("{}:{generation}:order:*", space.name)).query(&mut connection).unwrap();
        keys.len() >= 80
    });

    let (code, text) = verify(&space);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("redis order:") && text.contains("match"), "{text}");
    assert!(text.contains("everything served matches"), "{text}");

    // An order altered by hand in Redis.
    let generation: String = redis::cmd("GET").arg(format!("{}:current", space.name)).query(&mut connection).unwrap();
    let keys: Vec<String> =
        redis::cmd("KEYS").arg(format!("{}:{generation}:order:*", space.name)).query(&mut connection).unwrap();
    let key = keys.iter().min().expect("orders served").clone();
    let original: String = redis::cmd("GET").arg(&key).query(&mut connection).unwrap();
    let altered = original.replacen("\"total\":", "\"total\":1", 1);
    assert_ne!(altered, original, "the order has a total to alter: {original}");
    let _: () = redis::cmd("SET").arg(&key).arg(&altered).query(&mut connection).unwrap();
    let (code, text) = verify(&space);
    let order_id = key.rsplit(':').next().unwrap();
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("redis order: DIFFERS") && text.contains(&format!("order:{order_id}")), "{text}");
    let _: () = redis::cmd("SET").arg(&key).arg(&original).query(&mut connection).unwrap();

    // A row altered by hand in ClickHouse: a newer version of one served row, its revenue one more.
    let db = &space.name;
    clickhouse(&format!(
        "INSERT INTO {db}.sales_daily_data SELECT generation, day, categoryId, vendorId, orders, units, \
         revenue + 1, version + 1, deleted FROM {db}.sales_daily_data FINAL \
         WHERE deleted = 0 AND generation IN (SELECT generation FROM {db}.current_generation FINAL) LIMIT 1"
    ));
    let (code, text) = verify(&space);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("clickhouse sales_daily: DIFFERS"), "{text}");
    assert!(!text.contains("redis order: DIFFERS"), "the Redis key was restored: {text}");

    // Nothing served: an error, not a verdict.
    let empty = Space::new("verify_empty");
    let out = empty.shopflow().arg("verify").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing is served"));
}
