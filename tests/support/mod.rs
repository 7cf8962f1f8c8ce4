//! What the end-to-end tests share: where the services are, and the binary.

#![allow(dead_code)]

pub mod api;
pub mod mail;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::Value;
use shopflow_topics::Envelope;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// The broker the tests use: `SHOPFLOW_BROKERS`, as `scripts/services start` prints it.
pub fn brokers() -> String {
    std::env::var("SHOPFLOW_BROKERS").expect(
        "SHOPFLOW_BROKERS is not set: run the tests with scripts/test, or first `eval \"$(scripts/services start)\"`",
    )
}

/// The tansu broker's binary, where `scripts/services` builds it (`$SHOPFLOW_TOOLS/bin`,
/// by default under `~/.local/share/shopflow/tools`), for tests that run a broker of their own.
pub fn tansu() -> PathBuf {
    let tools = std::env::var("SHOPFLOW_TOOLS")
        .unwrap_or_else(|_| format!("{}/.local/share/shopflow/tools", std::env::var("HOME").unwrap()));
    PathBuf::from(tools).join("bin/tansu")
}

/// Starts a tansu broker on 127.0.0.1:`port` with the storage engine `storage`
/// (a URL; a relative `sqlite://` file is in `dir`), its log to `log`; returns
/// once it answers a metadata request, not only listens.
pub fn start_tansu(port: u16, storage: &str, dir: &std::path::Path, log: Stdio) -> Running {
    let url = format!("tcp://127.0.0.1:{port}");
    let child = Command::new(tansu())
        .args(["broker", "--storage-engine", storage, "--listener-url", &url, "--advertised-listener-url", &url])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("tansu, as scripts/services builds it");
    let running = Running(child);
    let consumer: BaseConsumer =
        ClientConfig::new().set("bootstrap.servers", format!("127.0.0.1:{port}")).create().unwrap();
    wait_until("the broker to answer", 60, || consumer.fetch_metadata(None, Duration::from_millis(500)).is_ok());
    running
}

/// The `shopflow` binary built for these tests.
pub fn shopflow() -> Command {
    Command::new(env!("CARGO_BIN_EXE_shopflow"))
}

/// Runs `shopflow args...` and returns its output, panicking with stderr on failure.
pub fn run_ok(args: &[&str]) -> Output {
    succeeded(shopflow().args(args), args)
}

/// Runs `command` and returns its output, panicking with its output on failure.
fn succeeded(command: &mut Command, args: &[&str]) -> Output {
    let output = command.output().expect("shopflow runs");
    assert!(
        output.status.success(),
        "shopflow {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The test venv's Python (`scripts/test` makes it), checked to import `module`.
pub fn venv_python(module: &str) -> PathBuf {
    let python = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".shopflow/venv/bin/python");
    let imports = Command::new(&python).args(["-c", &format!("import {module}")]).output();
    let ok = imports.is_ok_and(|o| o.status.success());
    assert!(ok, "{} has no {module}: run scripts/test, which installs it", python.display());
    python
}

/// A fresh temporary path for this test process.
pub fn temp_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("shopflow-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(name)
}

static NEXT_SPACE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// An isolated corner of the shared services: its own topic prefix, Redis
/// namespace and ClickHouse database, so tests never see each other's data.
pub struct Space {
    /// The name: topic prefix without the dot, namespace, database.
    pub name: String,
    /// The broker its topics are on (the shared one unless a test runs its own).
    pub brokers: String,
}

impl Space {
    /// A fresh space named after the test.
    pub fn new(test: &str) -> Space {
        Space::on_broker(test, brokers())
    }

    /// A fresh space named after the test, its topics on the broker at `brokers`.
    pub fn on_broker(test: &str, brokers: String) -> Space {
        let n = NEXT_SPACE.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Space { name: format!("t{}_{}_{n}", test, std::process::id()), brokers }
    }

    /// The space of that name on the shared services (one a command made, as a replay's).
    pub fn named(name: String) -> Space {
        Space { name, brokers: brokers() }
    }

    /// A `shopflow` command working in this space.
    pub fn shopflow(&self) -> Command {
        let mut command = shopflow();
        command
            .env("SHOPFLOW_BROKERS", &self.brokers)
            .env("SHOPFLOW_TOPIC_PREFIX", format!("{}.", self.name))
            .env("SHOPFLOW_NAMESPACE", &self.name)
            .env("SHOPFLOW_CLICKHOUSE_DATABASE", &self.name)
            .env("SHOPFLOW_REDIS_URL", redis_url())
            .env("SHOPFLOW_CLICKHOUSE_URL", clickhouse_url())
            .env("SHOPFLOW_JWT_SECRET", "test-secret-0123456789");
        command
    }

    /// Runs `shopflow args...` in this space, panicking with its output on failure.
    pub fn run_ok(&self, args: &[&str]) -> Output {
        succeeded(self.shopflow().args(args), args)
    }

    /// The full name of a contract topic in this space.
    pub fn topic(&self, contract: &str) -> String {
        format!("{}.{contract}", self.name)
    }

    /// The current generation's objects in Redis: `family:key` → JSON (a
    /// hashed family's member: `family:list[member]`), and the generation.
    pub fn redis_objects(&self) -> (String, std::collections::BTreeMap<String, String>) {
        let client = redis::Client::open(redis_url()).unwrap();
        let mut connection = client.get_connection().unwrap();
        let generation: String =
            redis::cmd("GET").arg(format!("{}:current", self.name)).query(&mut connection).unwrap();
        let prefix = format!("{}:{generation}:", self.name);
        let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}*")).query(&mut connection).unwrap();
        let mut objects = std::collections::BTreeMap::new();
        for key in keys {
            // Bookkeeping of publications, not views: the list versions count
            // publications, which differ with batching by design.
            if key.ends_with(":meta") || key.ends_with(":listver") {
                continue;
            }
            let kind: String = redis::cmd("TYPE").arg(&key).query(&mut connection).unwrap();
            if kind == "hash" {
                // A list of a hashed family (listings, posting lists): one entry per member.
                let members: Vec<(String, String)> = redis::cmd("HGETALL").arg(&key).query(&mut connection).unwrap();
                for (member, value) in members {
                    objects.insert(format!("{}[{member}]", &key[prefix.len()..]), value);
                }
                continue;
            }
            let value: String = redis::cmd("GET").arg(&key).query(&mut connection).unwrap();
            objects.insert(key[prefix.len()..].to_string(), value);
        }
        (generation, objects)
    }

    /// Where two sets of Redis objects differ (at most 8 keys), for a readable failure.
    pub fn object_differences(
        left: &std::collections::BTreeMap<String, String>,
        right: &std::collections::BTreeMap<String, String>,
    ) -> Vec<String> {
        let keys: std::collections::BTreeSet<&String> = left.keys().chain(right.keys()).collect();
        let differing: Vec<&String> = keys.into_iter().filter(|k| left.get(*k) != right.get(*k)).collect();
        let mut families: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
        for key in &differing {
            *families.entry(key.split(':').next().unwrap_or("")).or_default() += 1;
        }
        if differing.is_empty() {
            return Vec::new();
        }
        std::iter::once(format!("differing keys by family: {families:?}"))
            .chain(differing.into_iter().take(8).map(|k| format!("{k}:\n  {:?}\n  {:?}", left.get(k), right.get(k))))
            .collect()
    }

    /// The analytics relations in ClickHouse, each as sorted JSON rows.
    pub fn clickhouse_relations(&self) -> std::collections::BTreeMap<&'static str, Vec<String>> {
        self.clickhouse_relations_at(&clickhouse_url())
    }

    /// The analytics relations in the ClickHouse at `url`, each as sorted JSON rows.
    pub fn clickhouse_relations_at(&self, url: &str) -> std::collections::BTreeMap<&'static str, Vec<String>> {
        use shopflow_sinks::clickhouse::{ClickHouseReader, Filter, Relation};
        let reader = ClickHouseReader::new(url, &self.name);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let mut out = std::collections::BTreeMap::new();
            for relation in Relation::ALL {
                let name = relation.table();
                let all = Filter { from: None, to: None, equals: None, limit: 100_000 };
                let mut rows: Vec<String> =
                    reader.rows(relation, all).await.unwrap().iter().map(|r| r.to_string()).collect();
                rows.sort();
                out.insert(name, rows);
            }
            let events = reader.count("events").await.unwrap();
            out.insert("events", vec![events.to_string()]);
            out
        })
    }
}

/// Redis for the tests: `SHOPFLOW_REDIS_URL`.
pub fn redis_url() -> String {
    std::env::var("SHOPFLOW_REDIS_URL").expect("SHOPFLOW_REDIS_URL is not set: run the tests with scripts/test")
}

/// ClickHouse for the tests: `SHOPFLOW_CLICKHOUSE_URL`.
pub fn clickhouse_url() -> String {
    std::env::var("SHOPFLOW_CLICKHOUSE_URL")
        .expect("SHOPFLOW_CLICKHOUSE_URL is not set: run the tests with scripts/test")
}

/// Waits until `condition` holds, failing after `seconds`.
pub fn wait_until(what: &str, seconds: u64, mut condition: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    while !condition() {
        assert!(std::time::Instant::now() < deadline, "timed out after {seconds}s waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

// ------------------------------------------------- processes and HTTP

/// A child process killed when the test ends, however it ends.
pub struct Running(pub std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Topics of a fresh space and its pipeline running in the background.
pub fn live_space(test: &str) -> (Space, Running) {
    let space = Space::new(test);
    space.run_ok(&["topics", "create", "--partitions", "3"]);
    let pipeline = space
        .shopflow()
        .args(["pipeline", "--workers", "1", "--max-epoch-records", "500", "--notifications"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    (space, Running(pipeline))
}

/// The number of records on a topic of the space (sum of its partitions' end offsets).
pub fn records_on(space: &Space, contract: &str) -> i64 {
    let consumer: BaseConsumer = ClientConfig::new().set("bootstrap.servers", &space.brokers).create().unwrap();
    let topic = space.topic(contract);
    (0..3).map(|p| consumer.fetch_watermarks(&topic, p, Duration::from_secs(10)).unwrap().1).sum()
}

/// A free port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// One HTTP/1.1 request over a fresh connection, with a JSON body and a
/// bearer token when given: the whole answer as text.
pub fn exchange(port: u16, method: &str, path: &str, token: Option<&str>, body: &str) -> String {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    exchange_with(port, method, path, &headers, body)
}

/// [`exchange`] with these request headers.
pub fn exchange_with(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> String {
    try_exchange_with(port, method, path, headers, body).unwrap()
}

/// [`exchange_with`], an error of the connection returned.
pub fn try_exchange_with(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<String> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let headers: String = headers.iter().map(|(name, value)| format!("{name}: {value}\r\n")).collect();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer)
}

/// Whether `GET path` answers 200 — for waiting on a server that starts:
/// false, not a panic, while nothing listens or the connection is dropped.
pub fn answers_ok(port: u16, path: &str) -> bool {
    try_exchange_with(port, "GET", path, &[], "").is_ok_and(|answer| status_and_body(&answer).0 == 200)
}

/// The status of an answer [`exchange`] read, and its body.
pub fn status_and_body(answer: &str) -> (u16, &str) {
    let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, answer.split_once("\r\n\r\n").map_or("", |(_, body)| body))
}

/// One HTTP/1.1 request over a fresh connection: (status, body, the X-Request-Id answered).
pub fn http(port: u16, method: &str, path: &str, token: &str, body: &Value) -> (u16, String, String) {
    let answer = exchange(port, method, path, Some(token), &body.to_string());
    let (status, body) = status_and_body(&answer);
    let head = answer.split_once("\r\n\r\n").map_or(answer.as_str(), |(head, _)| head);
    let request_id = head
        .lines()
        .find_map(|line| line.to_ascii_lowercase().strip_prefix("x-request-id: ").map(str::to_string))
        .unwrap_or_default();
    (status, body.to_string(), request_id)
}

/// Two `shopflow serve` processes of `space` on free ports, listening: their
/// ports, their log files (JSON lines) and the processes.
pub fn serve_twice(space: &Space) -> ([u16; 2], Vec<PathBuf>, Vec<Running>) {
    let ports = [free_port(), free_port()];
    let logs: Vec<PathBuf> = ports.iter().map(|port| temp_path(&format!("serve-{port}.log"))).collect();
    let servers: Vec<Running> = ports
        .iter()
        .zip(&logs)
        .map(|(port, log)| {
            let child = space
                .shopflow()
                .args(["serve", "--http-addr", &format!("127.0.0.1:{port}")])
                .env("SHOPFLOW_LOG", "info")
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(log).unwrap())
                .spawn()
                .unwrap();
            Running(child)
        })
        .collect();
    for port in ports {
        wait_until("the API process to listen", 60, || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    }
    (ports, logs, servers)
}

/// Reads the records of `topic` (every partition) until `enough` says so (or the deadline
/// passes, failing) and then until nothing more arrives for a second.
pub fn read_topic(topic: &str, mut enough: impl FnMut(&[Envelope]) -> bool) -> Vec<Envelope> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("group.id", format!("{topic}-reader"))
        .create()
        .unwrap();
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10)).unwrap();
    let mut assignment = TopicPartitionList::new();
    for partition in metadata.topics()[0].partitions() {
        assignment.add_partition_offset(topic, partition.id(), Offset::Beginning).unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let contract = topic.split_once('.').unwrap().1;
    let mut read = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !enough(&read) {
        assert!(std::time::Instant::now() < deadline, "{topic}: only {} records arrived", read.len());
        if let Some(message) = consumer.poll(Duration::from_millis(200)) {
            let message = message.unwrap();
            read.push(Envelope::decode_record(contract, message.key(), message.payload().unwrap()).unwrap());
        }
    }
    // Then until quiet, so that nothing beyond "enough" goes unseen.
    while let Some(message) = consumer.poll(Duration::from_secs(1)) {
        let message = message.unwrap();
        read.push(Envelope::decode_record(contract, message.key(), message.payload().unwrap()).unwrap());
    }
    read
}

/// One statement over ClickHouse's HTTP interface; its answer.
pub fn clickhouse(sql: &str) -> String {
    use std::io::{Read, Write};
    let url = clickhouse_url();
    let address = url.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    let request = format!("POST / HTTP/1.0\r\nHost: {address}\r\nContent-Length: {}\r\n\r\n{sql}", sql.len());
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"), "{sql}: {response}");
    body.to_string()
}

/// One HTTP/1.1 request read from `reader`: (request line, headers by lower-case
/// name, body); `None` when the connection closed before a request.
pub fn read_request(
    reader: &mut impl std::io::BufRead,
) -> Option<(String, std::collections::BTreeMap<String, String>, Vec<u8>)> {
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).ok()? == 0 {
        return None;
    }
    let mut headers = std::collections::BTreeMap::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.insert(name.to_ascii_lowercase(), value.trim().to_string());
    }
    let length: usize = headers.get("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((request_line.trim_end().to_string(), headers, body))
}

/// A seeded shop (`generate --seed SEED` with `sizes`) on a fresh space, and
/// `shopflow run` over it with `workers` and `extra` arguments, listening on a
/// free port: the space, the port and the process.
pub fn seeded_run(test: &str, seed: &str, sizes: [&str; 3], workers: &str, extra: &[&str]) -> (Space, u16, Running) {
    let space = Space::new(test);
    space.run_ok(&["topics", "create", "--partitions", "3"]);
    let [users, products, events] = sizes;
    space.run_ok(&[
        "generate",
        "--seed",
        seed,
        "--users",
        users,
        "--products",
        products,
        "--events",
        events,
        "--quiet",
    ]);
    let port = free_port();
    let run = Running(
        space
            .shopflow()
            .args(["run", "--workers", workers, "--idle-timeout", "300ms"])
            .args(["--http-addr", &format!("127.0.0.1:{port}")])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until("the API to listen", 120, || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    (space, port, run)
}
