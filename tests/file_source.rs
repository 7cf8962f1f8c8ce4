//! The file source (`shopflow pipeline --from-file`) against the real Redis
//! and ClickHouse: the same generated history read from an NDJSON file and
//! from the broker builds the same served state — every Redis object and
//! every ClickHouse relation, audit log included — whatever the epoch size
//! and the number of workers.

mod support;

use support::{temp_path, Space};

#[test]
fn a_file_builds_what_the_topics_build() {
    let file = temp_path("history.ndjson");
    let generate = ["generate", "--seed", "11", "--users", "50", "--products", "30", "--events", "4000", "--quiet"];
    let from_kafka = Space::new("file_kafka");
    from_kafka.run_ok(&["topics", "create", "--partitions", "3"]);
    from_kafka.run_ok(&generate);
    from_kafka.run_ok(&["pipeline", "--exit-when-caught-up", "--workers", "2"]);
    let (_, expected) = from_kafka.redis_objects();
    let expected_relations = from_kafka.clickhouse_relations();
    assert!(expected.len() > 500, "a history worth comparing: {} objects", expected.len());
    assert!(expected.keys().any(|k| k.starts_with("order:")) && expected.keys().any(|k| k.starts_with("listing:")));

    support::run_ok(&[&generate[..], &["--out", file.to_str().unwrap()]].concat());
    for (workers, epoch) in [("2", "20000"), ("1", "97")] {
        // No topics: the file source needs no broker for its input.
        let from_file = Space::new("file_file");
        let output = from_file.run_ok(&[
            "pipeline",
            "--from-file",
            file.to_str().unwrap(),
            "--workers",
            workers,
            "--max-epoch-records",
            epoch,
        ]);
        let log = String::from_utf8_lossy(&output.stderr);
        assert!(log.contains("\"dead_letters\":"), "the run reports its dead letters: {log}");
        let (_, actual) = from_file.redis_objects();
        let differences = Space::object_differences(&expected, &actual);
        assert!(differences.is_empty(), "{workers} workers, epochs of {epoch}:\n{}", differences.join("\n"));
        assert_eq!(from_file.clickhouse_relations(), expected_relations, "{workers} workers, epochs of {epoch}");
    }
}
