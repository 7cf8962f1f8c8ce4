//! `shopflow export` against the real broker, read back by pyarrow (in the
//! test venv, as `scripts/test` installs it): the Parquet datasets hold
//! exactly the distinct events of the range, typed, and the Arrow IPC and
//! NDJSON exports of the range the same rows; the same range gives
//! byte-identical files; a time window holds the events of that window.

mod support;

use serde_json::{json, Value};
use shopflow_topics::{Envelope, EventTime};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use support::{temp_path, Space};

/// The distinct events (first copy of each id) among the records `generate --out` wrote.
fn distinct_events(ndjson: &Path) -> Vec<(String, Envelope, Value)> {
    let mut seen = std::collections::HashSet::new();
    let mut events = Vec::new();
    for line in std::fs::read_to_string(ndjson).unwrap().lines() {
        let record: Value = serde_json::from_str(line).unwrap();
        let topic = record["topic"].as_str().unwrap().to_string();
        let value = record["value"].as_str().unwrap();
        let key = record["key"].as_str().map(str::as_bytes);
        if let Ok(envelope) = Envelope::decode_record(&topic, key, value.as_bytes()) {
            if seen.insert(envelope.id.clone()) {
                events.push((topic, envelope, serde_json::from_str(value).unwrap()));
            }
        }
    }
    events
}

/// Every file under `dir` (relative path → bytes).
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(at) = stack.pop() {
        for entry in std::fs::read_dir(&at).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.insert(path.strip_prefix(dir).unwrap().to_path_buf(), std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

fn summary(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("_export.json")).unwrap()).unwrap()
}

#[test]
fn an_export_is_the_distinct_events_of_its_range_typed_in_every_format() {
    let python = support::venv_python("pyarrow");
    let space = Space::new("export");
    space.run_ok(&["topics", "create", "--partitions", "3"]);
    let generated = temp_path("export-generated.ndjson");
    let workload = ["generate", "--quiet", "--seed", "41", "--users", "60", "--products", "30", "--events", "4000"];
    space.run_ok(&[&workload[..], &["--out", generated.to_str().unwrap()]].concat());
    space.run_ok(&workload);
    let events = distinct_events(&generated);
    let records = std::fs::read_to_string(&generated).unwrap().lines().count();
    assert!(events.len() > 3000 && events.len() < records, "a workload with duplicates and bad records");

    let dir = |name: &str| temp_path(&format!("export-{name}"));
    for format in ["parquet", "arrow", "ndjson"] {
        space.run_ok(&["export", "--to", dir(format).to_str().unwrap(), "--format", format]);
    }
    let parquet = summary(&dir("parquet"));
    assert_eq!(parquet["records"], json!(records), "{parquet}");
    assert_eq!(parquet["events"], json!(events.len()), "{parquet}");
    assert!(parquet["duplicates"].as_u64().unwrap() > 0 && parquet["malformed"].as_u64().unwrap() > 0);

    // pyarrow reads them back: exactly the distinct events, typed; Arrow IPC and NDJSON the same rows.
    let expected = temp_path("export-expected.ndjson");
    let lines: Vec<String> =
        events.iter().map(|(topic, _, value)| json!({ "topic": topic, "event": value }).to_string()).collect();
    std::fs::write(&expected, lines.join("\n") + "\n").unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/outside/read_export.py");
    let checked = std::process::Command::new(&python)
        .arg(&script)
        .args([&expected, &dir("parquet"), &dir("arrow"), &dir("ndjson")])
        .output()
        .unwrap();
    assert!(
        checked.status.success(),
        "{}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    let said = String::from_utf8_lossy(&checked.stdout);
    assert!(said.starts_with(&format!("ok: {} events", events.len())), "{said}");

    // The same range again, named by the offsets the summary gives: the same bytes.
    let first = files(&dir("parquet"));
    let refused = space.shopflow().args(["export", "--to", dir("parquet").to_str().unwrap()]).output().unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--overwrite"));
    let range = parquet["toOffsetsArgument"].as_str().unwrap();
    space.run_ok(&["export", "--to", dir("parquet").to_str().unwrap(), "--overwrite", "--to-offsets", range]);
    let again = files(&dir("parquet"));
    assert_eq!(first.keys().collect::<Vec<_>>(), again.keys().collect::<Vec<_>>());
    for (path, bytes) in &first {
        assert!(again[path] == *bytes, "{} differs on a re-run of the same range", path.display());
    }

    // A time window: the events whose time lies in it, no other.
    let mut times: Vec<EventTime> = events.iter().map(|(_, e, _)| e.time).collect();
    times.sort();
    let (from, to) = (times[times.len() / 4], times[times.len() / 2]);
    let window = dir("window");
    space.run_ok(&[
        "export",
        "--to",
        window.to_str().unwrap(),
        "--format",
        "ndjson",
        "--topics",
        "shop.orders,shop.payments",
        "--from-time",
        &from.to_string(),
        "--to-time",
        &to.to_string(),
    ]);
    let mut want: HashMap<String, EventTime> = HashMap::new();
    for (topic, envelope, _) in &events {
        if (topic == "shop.orders" || topic == "shop.payments") && from <= envelope.time && envelope.time <= to {
            want.insert(envelope.id.clone(), envelope.time);
        }
    }
    let mut got: HashMap<String, EventTime> = HashMap::new();
    for (path, bytes) in files(&window) {
        if path.extension().is_some_and(|e| e == "ndjson") {
            for line in String::from_utf8(bytes).unwrap().lines() {
                let row: Value = serde_json::from_str(line).unwrap();
                let time = EventTime::parse(row["time"].as_str().unwrap()).unwrap();
                assert!(got.insert(row["id"].as_str().unwrap().to_string(), time).is_none(), "an id twice");
            }
        }
    }
    assert!(!want.is_empty());
    assert_eq!(got, want, "the window's events");
    assert!(summary(&window)["outsideTimeRange"].as_u64().unwrap() > 0);

    // Nonsense is refused with a reason.
    let refused = space.shopflow().args(["export", "--to", "/tmp/x", "--topics", "shop.credentials"]).output().unwrap();
    assert!(String::from_utf8_lossy(&refused.stderr).contains("never exported"));
    for name in ["parquet", "arrow", "ndjson", "window"] {
        let _ = std::fs::remove_dir_all(dir(name));
    }
}
