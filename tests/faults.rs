//! Faults against the real broker, Redis and ClickHouse, each stopping by
//! itself: SIGKILL of the pipeline at seeded random points during a load;
//! SIGKILL of one process of a 2-process cluster; the broker killed, Redis
//! and ClickHouse stopped, each started again during a load (a server of the
//! test's own, so the shared ones stay up; the broker's data in SQLite); the API with Redis or the broker away. After
//! each, what is served must equal the batch fold of the topics (`shopflow
//! verify`), the audit log must hold every valid event once, and the served
//! `asOf` must never have gone backwards. RELIABILITY.md has the figures.
//!
//! The short form runs in `scripts/test`. The long form is the same tests,
//! larger, one at a time:
//!
//! ```sh
//! SHOPFLOW_FAULT_EVENTS=200000 SHOPFLOW_FAULT_KILLS=20 SHOPFLOW_FAULT_RATE=2000 SHOPFLOW_FAULT_OUTAGE_SECS=30 \
//!   cargo test --test faults -- --nocapture --test-threads=1
//! ```
//!
//! `SHOPFLOW_FAULT_SEED` (default 7) chooses the kill points.

mod support;

use shopflow_topics::Envelope;
use std::collections::BTreeSet;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{temp_path, Running, Space};

/// A setting of the fault runs from the environment, or its short form.
fn knob(name: &str, short: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(short)
}

/// The fault schedule's dice: seeded, so a run's kill points can be had again.
struct Dice(u64);

impl Dice {
    /// A number in `low..high` (xorshift64*).
    fn between(&mut self, low: u64, high: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        low + self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % (high - low)
    }
}

/// The served generation, its `asOf` and the offsets it covers (JSON), read in one call as
/// readers read them ("", 0, "{}" before any).
const SERVED: &str = r"
local generation = redis.call('GET', KEYS[1])
if not generation then return {'', 0, '{}'} end
local meta = ARGV[1] .. ':' .. generation .. ':meta'
return {generation, tonumber(redis.call('HGET', meta, 'asOf') or '0'), redis.call('HGET', meta, 'offsets') or '{}'}";

/// What is served in `space`'s namespace now: (generation, `asOf`, offsets as JSON).
fn served(
    script: &redis::Script,
    space_name: &str,
    connection: &mut redis::Connection,
) -> redis::RedisResult<(String, i64, String)> {
    script.key(format!("{space_name}:current")).arg(space_name).invoke(connection)
}

/// What the watcher saw: when (monotonic, and in epoch milliseconds), the served `asOf`
/// then, and its generation.
type Samples = Vec<(Instant, i64, i64, String)>;

/// Samples the served `asOf` in the Redis at `url` every 20 ms until `stop`
/// (none while that Redis does not answer).
fn watch(space: &Space, url: String, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Samples> {
    let namespace = space.name.clone();
    std::thread::spawn(move || {
        let client = redis::Client::open(url).unwrap();
        let script = redis::Script::new(SERVED);
        let mut connection = None;
        let mut samples = Vec::new();
        while !stop.load(Ordering::SeqCst) {
            if connection.is_none() {
                connection = client.get_connection_with_timeout(Duration::from_millis(200)).ok();
            }
            if let Some(c) = connection.as_mut() {
                match served(&script, &namespace, c) {
                    Ok((generation, as_of, _)) => samples.push((Instant::now(), now_ms(), as_of, generation)),
                    Err(_) => connection = None,
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        samples
    })
}

/// The served `asOf` now (`None` while that Redis does not answer).
fn served_as_of(space: &Space, url: &str) -> Option<i64> {
    let client = redis::Client::open(url).ok()?;
    let mut connection = client.get_connection_with_timeout(Duration::from_millis(200)).ok()?;
    served(&redis::Script::new(SERVED), &space.name, &mut connection).ok().map(|(_, as_of, _)| as_of)
}

/// The number of records the served state covers: the sum of the offsets it covers.
fn covered(script: &redis::Script, space: &Space, connection: &mut redis::Connection) -> i64 {
    let (_, _, offsets) = served(script, &space.name, connection).unwrap();
    let offsets: serde_json::Value = serde_json::from_str(&offsets).unwrap();
    let partitions = offsets.as_object().into_iter().flat_map(|topics| topics.values());
    partitions.flat_map(|p| p.as_object().into_iter().flat_map(|p| p.values())).filter_map(|o| o.as_i64()).sum()
}

/// Waits until the pipeline has published everything on the space's input
/// topics: the offsets its served state covers reach the topics' end
/// offsets and then stay put for 3 s (the broker's end offsets are not
/// trusted alone: some report them low after multi-record batches).
fn wait_until_served_to_the_end(space: &Space, redis: &str) {
    let client = redis::Client::open(redis).unwrap();
    let mut connection = client.get_connection().unwrap();
    let script = redis::Script::new(SERVED);
    let ends =
        || -> i64 { shopflow_topics::Topic::INPUTS.iter().map(|topic| support::records_on(space, topic.name())).sum() };
    let (mut last, mut since) = (-1, Instant::now());
    support::wait_until("the pipeline to publish everything on the topics", 300, || {
        let now = covered(&script, space, &mut connection);
        if now != last {
            (last, since) = (now, Instant::now());
        }
        now >= ends() && since.elapsed() >= Duration::from_secs(3)
    });
}

/// Asserts that `asOf` never went backwards; returns the longest time without it
/// moving, the largest lag (wall clock minus `asOf`) and the generations served.
fn held(samples: &Samples) -> (Duration, Duration, usize) {
    for pair in samples.windows(2) {
        assert!(pair[1].2 >= pair[0].2, "asOf went back from {} to {}", pair[0].2, pair[1].2);
    }
    let mut stalled = Duration::ZERO;
    let Some(first) = samples.first() else { return (stalled, stalled, 0) };
    let (mut moved, mut last, mut lag) = (first.0, first.2, 0);
    for (at, wall, as_of, _) in samples {
        if *as_of > last {
            stalled = stalled.max(at.duration_since(moved));
            (moved, last) = (*at, *as_of);
        }
        if *as_of > 0 {
            lag = lag.max(wall - as_of);
        }
    }
    let generations: BTreeSet<&str> = samples.iter().map(|s| s.3.as_str()).filter(|g| !g.is_empty()).collect();
    (stalled, Duration::from_millis(lag.max(0) as u64), generations.len())
}

/// The ids of the valid events of an NDJSON file of records.
fn valid_ids(file: &std::path::Path) -> BTreeSet<String> {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .filter_map(|line| {
            let record: serde_json::Value = serde_json::from_str(line).unwrap();
            let (topic, key, value) = (&record["topic"], record["key"].as_str(), &record["value"]);
            Envelope::decode_record(topic.as_str()?, key.map(str::as_bytes), value.as_str()?.as_bytes()).ok()
        })
        .map(|envelope| envelope.id)
        .collect()
}

/// Asserts what must hold after any fault: every valid event of `file` is one
/// row of the audit log, and `shopflow verify` (run with `env`) finds every
/// view equal to the batch fold of the topics. Returns the number of events.
fn nothing_lost_nothing_twice(space: &Space, file: &std::path::Path, env: &[(&str, &str)]) -> usize {
    let valid = valid_ids(file);
    let clickhouse = env.iter().find(|(name, _)| *name == "SHOPFLOW_CLICKHOUSE_URL").map(|(_, url)| url.to_string());
    let relations = space.clickhouse_relations_at(&clickhouse.unwrap_or_else(support::clickhouse_url));
    assert_eq!(relations["events"], vec![valid.len().to_string()], "one audit row per event");
    let verify = space.shopflow().envs(env.iter().copied()).arg("verify").output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&verify.stdout), String::from_utf8_lossy(&verify.stderr));
    assert!(verify.status.success() && said.contains("everything served matches"), "{said}");
    valid.len()
}

/// Milliseconds since the epoch (the clock `asOf` is on).
fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

#[test]
fn sigkill_at_random_points_during_a_load_loses_nothing_and_counts_nothing_twice() {
    let (events, kills, rate, seed) = (
        knob("SHOPFLOW_FAULT_EVENTS", 12_000),
        knob("SHOPFLOW_FAULT_KILLS", 4),
        knob("SHOPFLOW_FAULT_RATE", 1_500),
        knob("SHOPFLOW_FAULT_SEED", 7),
    );
    let space = Space::new("kills");
    space.run_ok(&["topics", "create", "--partitions", "3"]);
    let (seed_text, events_text, rate_text) = (seed.to_string(), events.to_string(), rate.to_string());
    let sizes = ["--seed", &seed_text, "--events", &events_text, "--users", "300", "--products", "100", "--quiet"];
    let file = temp_path("kills.ndjson");
    support::run_ok(&[&["generate", "--out", file.to_str().unwrap()], &sizes[..]].concat());

    // The load, at its rate, while pipelines are started and killed.
    let started = Instant::now();
    let mut load = Running(
        space.shopflow().args(["generate", "--rate", &rate_text]).args(sizes).stdout(Stdio::null()).spawn().unwrap(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = watch(&space, support::redis_url(), stop.clone());
    let mut dice = Dice(seed.max(1));
    let mut kill_points = Vec::new();
    for _ in 0..kills {
        let mut pipeline = space
            .shopflow()
            .args(["pipeline", "--workers", "2"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // The fault's moment (not a wait for anything): anywhere from its start to 6 s in —
        // starting, rebuilding, or serving and publishing.
        let point = Duration::from_millis(dice.between(100, 6_000));
        std::thread::sleep(point);
        pipeline.kill().unwrap();
        pipeline.wait().unwrap();
        kill_points.push(point.as_millis());
    }
    let deadline = Instant::now() + Duration::from_secs(600);
    while load.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the load did not finish");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(load.0.wait().unwrap().success(), "the load failed");
    let loaded = started.elapsed();

    // The restart after the last kill catches up and stops.
    let restarted = Instant::now();
    space.run_ok(&["pipeline", "--exit-when-caught-up", "--workers", "2"]);
    let caught_up = restarted.elapsed();
    stop.store(true, Ordering::SeqCst);
    let samples = watcher.join().unwrap();

    let (stalled, lag, generations) = held(&samples);
    let events_once = nothing_lost_nothing_twice(&space, &file, &[]);

    eprintln!(
        "faults: {kills} SIGKILLs at {kill_points:?} ms into each run, during {events} events at {rate}/s \
         (seed {seed}, load {:.1} s); the restart caught up in {:.1} s; served asOf never went back ({} samples, {} generations served); \
         longest time without the served state moving {:.1} s; largest lag {:.1} s; {} events once each; verify: match",
        loaded.as_secs_f64(),
        caught_up.as_secs_f64(),
        samples.len(),
        generations,
        stalled.as_secs_f64(),
        lag.as_secs_f64(),
        events_once
    );
}

/// A Redis of the test's own on a free port, with its data on disk (append-only
/// file, every write synced), so that it can be stopped and started again as a
/// server that goes away and comes back: the shared Redis stays up for the other tests.
struct OwnRedis {
    port: u16,
    dir: std::path::PathBuf,
    server: Option<Running>,
}

impl OwnRedis {
    fn new(name: &str) -> OwnRedis {
        let dir = temp_path(name);
        std::fs::create_dir_all(&dir).unwrap();
        let mut redis = OwnRedis { port: support::free_port(), dir, server: None };
        redis.start();
        redis
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn start(&mut self) {
        let port = self.port.to_string();
        let server = std::process::Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port, "--save", "", "--appendonly", "yes"])
            .args(["--appendfsync", "always", "--dir", self.dir.to_str().unwrap()])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server (scripts/services installs it)");
        self.server = Some(Running(server));
        let client = redis::Client::open(self.url()).unwrap();
        support::wait_until("the test's Redis to answer", 30, || {
            client
                .get_connection_with_timeout(Duration::from_millis(200))
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
                .is_ok()
        });
    }

    /// Stops the server as an operator would (its data synced to disk).
    fn stop(&mut self) {
        let client = redis::Client::open(self.url()).unwrap();
        let mut connection = client.get_connection().unwrap();
        let _: redis::RedisResult<()> = redis::cmd("SHUTDOWN").query(&mut connection);
        if let Some(mut server) = self.server.take() {
            server.0.wait().unwrap();
        }
    }
}

/// A live pipeline (its log kept) over a load at a rate, with the served
/// `asOf` watched: the setting of the outage tests.
struct LiveLoad {
    space: Space,
    file: std::path::PathBuf,
    env: Vec<(&'static str, String)>,
    redis: String,
    log: std::path::PathBuf,
    /// The load, once started.
    load: Option<Running>,
    /// The pipeline's processes (one unless a cluster), process 0 first.
    pipelines: Vec<Running>,
    hostfile: Option<std::path::PathBuf>,
    stop: Arc<AtomicBool>,
    watcher: std::thread::JoinHandle<Samples>,
    /// (events, rate, outage seconds, seed)
    knobs: (u64, u64, u64, u64),
}

impl LiveLoad {
    /// The pipeline started on empty topics and serving, then the load started
    /// and its first records on the broker; `env` names the stores it uses.
    fn start(name: &str, env: Vec<(&'static str, String)>) -> LiveLoad {
        LiveLoad::start_cluster(name, env, 1)
    }

    /// As [`LiveLoad::start`], the pipeline a cluster of `processes` processes of one worker each
    /// (two workers when alone).
    fn start_cluster(name: &str, env: Vec<(&'static str, String)>, processes: usize) -> LiveLoad {
        LiveLoad::start_with(name, env, processes, || {})
    }

    /// As [`LiveLoad::start_cluster`], with `before_load` done once the pipeline serves and
    /// before the load starts.
    fn start_with(
        name: &str,
        env: Vec<(&'static str, String)>,
        processes: usize,
        before_load: impl FnOnce(),
    ) -> LiveLoad {
        let knobs = (
            knob("SHOPFLOW_FAULT_EVENTS", 12_000),
            knob("SHOPFLOW_FAULT_RATE", 1_500),
            knob("SHOPFLOW_FAULT_OUTAGE_SECS", 4),
            knob("SHOPFLOW_FAULT_SEED", 7),
        );
        let (events, rate, _, seed) = knobs;
        let named = |variable: &str| env.iter().find(|(k, _)| *k == variable).map(|(_, v)| v.clone());
        let redis = named("SHOPFLOW_REDIS_URL").unwrap_or_else(support::redis_url);
        let space = Space::on_broker(name, named("SHOPFLOW_BROKERS").unwrap_or_else(support::brokers));
        space.run_ok(&["topics", "create", "--partitions", "3"]);
        let (seed, events, rate) = (seed.to_string(), events.to_string(), rate.to_string());
        let sizes = ["--seed", &seed, "--events", &events, "--users", "300", "--products", "100", "--quiet"];
        let file = temp_path(&format!("{name}.ndjson"));
        support::run_ok(&[&["generate", "--out", file.to_str().unwrap()], &sizes[..]].concat());

        let stop = Arc::new(AtomicBool::new(false));
        let watcher = watch(&space, redis.clone(), stop.clone());
        let log = temp_path(&format!("{name}.log"));
        let hostfile = (processes > 1).then(|| {
            let listeners: Vec<_> =
                (0..processes).map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap()).collect();
            let hosts: Vec<String> = listeners.iter().map(|l| l.local_addr().unwrap().to_string()).collect();
            let hostfile = temp_path(&format!("{name}-hosts"));
            std::fs::write(&hostfile, hosts.join("\n") + "\n").unwrap();
            hostfile
        });
        let mut live = LiveLoad {
            space,
            file,
            env,
            redis,
            log,
            load: None,
            pipelines: Vec::new(),
            hostfile,
            stop,
            watcher,
            knobs,
        };
        for process in 0..processes {
            live.spawn(process);
        }
        support::wait_until("the pipeline to serve", 120, || live.served().is_some_and(|a| a > 0));
        before_load();
        let load = live.space.shopflow().args(["generate", "--rate", &rate]).args(sizes).stdout(Stdio::null()).spawn();
        live.load = Some(Running(load.unwrap()));
        support::wait_until("the load's first records", 60, || {
            support::records_on(&live.space, "shop.clickstream") > 0
        });
        live
    }

    /// Starts process `process` of the pipeline (again, after a kill), its log appended to the log.
    fn spawn(&mut self, process: usize) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        let mut command = self.space.shopflow();
        command.envs(self.env.iter().map(|(k, v)| (k, v))).stdout(Stdio::null()).stderr(log);
        match &self.hostfile {
            None => command.args(["pipeline", "--workers", "2"]),
            Some(hostfile) => {
                let processes = std::fs::read_to_string(hostfile).unwrap().lines().count().to_string();
                command.args([
                    "pipeline",
                    "--workers",
                    "1",
                    "--processes",
                    &processes,
                    "--process",
                    &process.to_string(),
                ]);
                command.arg("--hostfile").arg(hostfile)
            }
        };
        let running = Running(command.spawn().unwrap());
        if process < self.pipelines.len() {
            self.pipelines[process] = running;
        } else {
            self.pipelines.push(running);
        }
    }

    /// The served `asOf` now.
    fn served(&self) -> Option<i64> {
        served_as_of(&self.space, &self.redis)
    }

    fn still_running(&mut self) -> bool {
        self.pipelines.iter_mut().all(|p| p.0.try_wait().unwrap().is_none())
    }

    /// Waits for the load to end and the pipeline to have published all of it;
    /// asserts that the pipeline met the outage of `store` and said so, and
    /// everything that must hold after a fault. Returns (the longest time
    /// without the served state moving, the largest lag, the events counted once).
    fn finish(mut self, store: &str) -> (Duration, Duration, usize) {
        let load = &mut self.load.as_mut().expect("the load started").0;
        let deadline = Instant::now() + Duration::from_secs(600);
        while load.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "the load did not finish");
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(load.wait().unwrap().success(), "the load failed");
        wait_until_served_to_the_end(&self.space, &self.redis);
        assert!(self.still_running(), "the pipeline stopped");
        self.stop.store(true, Ordering::SeqCst);
        let said = std::fs::read_to_string(&self.log).unwrap();
        if !store.is_empty() {
            assert!(said.contains(&format!("{store} is away")) && said.contains(&format!("{store} is back")), "{said}");
        }
        let (stalled, lag, _) = held(&self.watcher.join().unwrap());
        let env: Vec<(&str, &str)> = self.env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        (stalled, lag, nothing_lost_nothing_twice(&self.space, &self.file, &env))
    }
}

#[test]
fn redis_away_during_a_load_holds_the_publications_and_loses_nothing() {
    let mut redis = OwnRedis::new("own-redis");
    let mut live = LiveLoad::start("redis_away", vec![("SHOPFLOW_REDIS_URL", redis.url())]);
    let (events, rate, outage, seed) = live.knobs;

    // Redis goes away for the outage, with the load going on.
    let before = live.served().unwrap();
    redis.stop();
    let stopped = Instant::now();
    std::thread::sleep(Duration::from_secs(outage));
    assert!(live.still_running(), "the pipeline gave up while Redis was away");
    redis.start();
    let back = Instant::now();
    support::wait_until("publications after Redis came back", 120, || live.served().is_some_and(|a| a > before));
    let recovered = back.elapsed();

    let (stalled, lag, events_once) = live.finish("Redis");
    eprintln!(
        "faults: Redis away {:.1} s during {events} events at {rate}/s (seed {seed}); the first publication \
         {:.2} s after it came back; served asOf never went back; longest time without the served state moving \
         {:.1} s; largest lag {:.1} s; {events_once} events once each; verify: match",
        back.duration_since(stopped).as_secs_f64(),
        recovered.as_secs_f64(),
        stalled.as_secs_f64(),
        lag.as_secs_f64(),
    );
}

/// A ClickHouse of the test's own on free ports, its data in a directory of
/// the test's, so that it can be stopped and started again as a server that
/// goes away and comes back: the shared ClickHouse stays up for the other tests.
struct OwnClickHouse {
    http_port: u16,
    dir: std::path::PathBuf,
    server: Option<Running>,
}

impl OwnClickHouse {
    fn new(name: &str) -> OwnClickHouse {
        let dir = temp_path(name);
        for sub in ["data", "tmp", "user_files", "log"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        // Two ports free at once (asked one after the other, the same port may come back twice).
        let listeners = [0, 1].map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap());
        let [http_port, tcp_port] = listeners.each_ref().map(|l| l.local_addr().unwrap().port());
        drop(listeners);
        let d = dir.to_str().unwrap();
        let config = format!(
            "<clickhouse><logger><level>warning</level><log>{d}/log/server.log</log><errorlog>{d}/log/server.err.log</errorlog></logger>\
             <http_port>{http_port}</http_port><tcp_port>{tcp_port}</tcp_port><listen_host>127.0.0.1</listen_host>\
             <path>{d}/data/</path><tmp_path>{d}/tmp/</tmp_path><user_files_path>{d}/user_files/</user_files_path>\
             <users_config>{d}/users.xml</users_config><default_profile>default</default_profile>\
             <default_database>default</default_database><timezone>UTC</timezone><mlock_executable>false</mlock_executable>\
             <mark_cache_size>268435456</mark_cache_size></clickhouse>"
        );
        let users =
            "<clickhouse><profiles><default><max_memory_usage>2000000000</max_memory_usage></default></profiles>\
             <users><default><password></password><networks><ip>127.0.0.1</ip></networks><profile>default</profile>\
             <quota>default</quota></default></users><quotas><default></default></quotas></clickhouse>";
        std::fs::write(dir.join("config.xml"), config).unwrap();
        std::fs::write(dir.join("users.xml"), users).unwrap();
        let mut own = OwnClickHouse { http_port, dir, server: None };
        own.start();
        own
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.http_port)
    }

    fn start(&mut self) {
        let config = self.dir.join("config.xml");
        let server = std::process::Command::new("/usr/sbin/clickhouse-server")
            .arg(format!("--config-file={}", config.display()))
            .current_dir(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("clickhouse-server (scripts/services installs it)");
        self.server = Some(Running(server));
        let ping = format!("127.0.0.1:{}", self.http_port);
        support::wait_until("the test's ClickHouse to answer", 90, || {
            std::net::TcpStream::connect(&ping).is_ok_and(|mut stream| {
                use std::io::{Read, Write};
                let mut answer = String::new();
                stream.write_all(b"GET /ping HTTP/1.0\r\n\r\n").is_ok()
                    && stream.read_to_string(&mut answer).is_ok()
                    && answer.ends_with("Ok.\n")
            })
        });
    }

    /// Stops the server as an operator would (SIGTERM), and waits for it.
    fn stop(&mut self) {
        if let Some(mut server) = self.server.take() {
            let pid = server.0.id().to_string();
            std::process::Command::new("kill").arg(&pid).status().unwrap();
            server.0.wait().unwrap();
        }
    }
}

#[test]
fn clickhouse_away_during_a_load_holds_the_analytics_and_loses_nothing() {
    let mut clickhouse = OwnClickHouse::new("own-clickhouse");
    let url = clickhouse.url();
    // ClickHouse goes away for the outage, with the load going on: Redis stays served. It is
    // stopped before the load starts: a SIGTERM'd ClickHouse may take seconds to exit, and a
    // pipeline that had written the whole load by then would never meet the outage.
    let mut stopped = Instant::now();
    let mut live = LiveLoad::start_with("clickhouse_away", vec![("SHOPFLOW_CLICKHOUSE_URL", url)], 1, || {
        clickhouse.stop();
        stopped = Instant::now();
    });
    let (events, rate, outage, seed) = live.knobs;
    let before = live.served().unwrap();
    support::wait_until("publications to Redis while ClickHouse is away", 60, || {
        live.served().is_some_and(|a| a > before)
    });
    let served_meanwhile = stopped.elapsed();
    std::thread::sleep(Duration::from_secs(outage).saturating_sub(served_meanwhile));
    assert!(live.still_running(), "the pipeline gave up while ClickHouse was away");
    clickhouse.start();
    let away = stopped.elapsed();

    let (stalled, lag, events_once) = live.finish("ClickHouse");
    eprintln!(
        "faults: ClickHouse away {:.1} s during {events} events at {rate}/s (seed {seed}); Redis publications went \
         on meanwhile (the first {:.2} s after it went); served asOf never went back; longest time without the \
         served state moving {:.1} s; largest lag {:.1} s; {events_once} events once each in the audit log; verify: match",
        away.as_secs_f64(),
        served_meanwhile.as_secs_f64(),
        stalled.as_secs_f64(),
        lag.as_secs_f64(),
    );
}

/// A tansu broker of the test's own on a free port, its data in a SQLite file in a directory of
/// the test's (tansu's `sqlite://` engine), so that it can be killed and started again as a
/// broker that goes away and comes back with its topics: the shared broker, in memory, stays up.
struct OwnBroker {
    port: u16,
    dir: std::path::PathBuf,
    server: Option<Running>,
    log: std::path::PathBuf,
}

impl OwnBroker {
    fn new(name: &str) -> OwnBroker {
        let dir = temp_path(name);
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("broker.log");
        let mut broker = OwnBroker { port: support::free_port(), dir, server: None, log };
        broker.start();
        broker
    }

    fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn start(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        self.server = Some(support::start_tansu(self.port, "sqlite://tansu.db", &self.dir, log.into()));
    }

    /// Kills the broker (SIGKILL), as a crash or an OOM kill would, and waits for it. Not SIGTERM:
    /// on SIGTERM tansu 0.6.0 answers the produce requests in flight with UNKNOWN_SERVER_ERROR
    /// (its storage is closed first), which a producer takes as final (RELIABILITY.md); a broker
    /// gone at once leaves them to the producer's retries, as a Kafka broker's shutdown would.
    fn kill(&mut self) {
        if let Some(mut server) = self.server.take() {
            server.0.kill().unwrap();
            server.0.wait().unwrap();
        }
    }
}

#[test]
fn the_broker_killed_and_started_again_during_a_load_loses_nothing() {
    let mut broker = OwnBroker::new("own-broker");
    let mut live = LiveLoad::start("broker_away", vec![("SHOPFLOW_BROKERS", broker.brokers())]);
    let (events, rate, outage, seed) = live.knobs;

    // The broker goes away for the outage, with the load going on: its producer holds the records.
    broker.kill();
    let killed = Instant::now();
    std::thread::sleep(Duration::from_secs(outage));
    assert!(live.still_running(), "the pipeline gave up while the broker was away");
    let load = &mut live.load.as_mut().expect("the load started").0;
    assert!(load.try_wait().unwrap().is_none_or(|s| s.success()), "the load failed while the broker was away");
    broker.start();
    let back = Instant::now();
    // Recovered when a publication covers records the one before the restart did not.
    let mut connection = redis::Client::open(live.redis.as_str()).unwrap().get_connection().unwrap();
    let script = redis::Script::new(SERVED);
    let before = covered(&script, &live.space, &mut connection);
    support::wait_until("new records published after the broker came back", 120, || {
        covered(&script, &live.space, &mut connection) > before
    });
    let recovered = back.elapsed();

    let (stalled, lag, events_once) = live.finish("");
    eprintln!(
        "faults: the broker (tansu, sqlite storage) killed and away {:.1} s during {events} events at {rate}/s \
         (seed {seed}); the first publication of records read after it came back {:.2} s after; served asOf \
         never went back; longest time without the served state moving {:.1} s; largest lag {:.1} s; \
         {events_once} events once each; verify: match",
        back.duration_since(killed).as_secs_f64(),
        recovered.as_secs_f64(),
        stalled.as_secs_f64(),
        lag.as_secs_f64(),
    );
}

#[test]
fn sigkill_of_one_process_of_a_cluster_stops_the_other_and_a_restart_loses_nothing() {
    let mut live = LiveLoad::start_cluster("cluster_kill", Vec::new(), 2);
    let (events, rate, _, seed) = live.knobs;
    let before = live.served().unwrap();
    support::wait_until("a publication of the load", 60, || live.served().is_some_and(|a| a > before));

    // Process 1 is killed: process 0 cannot go on without its peer's workers, and must not
    // hang either: it stops, with an error, without publishing anything half-made.
    let killed = Instant::now();
    live.pipelines[1].0.kill().unwrap();
    live.pipelines[1].0.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = live.pipelines[0].0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "process 0 went on for 60 s without its peer");
        std::thread::sleep(Duration::from_millis(50));
    };
    let stopped = killed.elapsed();
    assert!(!status.success(), "process 0 stopped as if all were well");
    let said = std::fs::read_to_string(&live.log).unwrap();
    assert!(said.contains("a process of the cluster went away"), "{said}");

    // What a supervisor does: both started again; the restart rebuilds from the topics.
    let restarted = Instant::now();
    let served = live.served().unwrap();
    live.spawn(0);
    live.spawn(1);
    support::wait_until("the restarted cluster to publish", 300, || live.served().is_some_and(|a| a > served));
    let recovered = restarted.elapsed();
    let (stalled, lag, events_once) = live.finish("");
    eprintln!(
        "faults: process 1 of a 2-process cluster SIGKILLed during {events} events at {rate}/s (seed {seed}); \
         process 0 stopped {:.2} s later ({status}); the restarted cluster published {:.1} s after its start; \
         served asOf never went back; longest time without the served state moving {:.1} s; largest lag {:.1} s; \
         {events_once} events once each; verify: match",
        stopped.as_secs_f64(),
        recovered.as_secs_f64(),
        stalled.as_secs_f64(),
        lag.as_secs_f64(),
    );
}

#[test]
fn the_api_answers_503_within_its_bound_while_redis_or_kafka_is_away_and_recovers() {
    use shopflow_api::auth::{Auth, Role};
    use support::api::{Api, SECRET};
    let space = Space::new("api_away");
    space.run_ok(&["topics", "create", "--partitions", "3"]);
    let mut redis = OwnRedis::new("api-own-redis");
    let auth = || Auth::hs256(SECRET, "shopflow", "shopflow-api");
    let limits = shopflow_api::limits::Limits::default();
    let bound = Duration::from_secs(2);
    let api = Api::on(&space, bound, limits, auth(), &redis.url(), &support::brokers(), bound);
    let alice = api.token("usr-alice", Role::Shopper);
    let view = serde_json::json!({"productId": "prd-1", "sessionId": "ses-1"});
    let timed = |method: &str, path: &str, body: Option<&serde_json::Value>| {
        let started = Instant::now();
        let answer = api.send(method, path, Some(&alice), &[], body);
        (
            answer.status.as_u16(),
            answer.body["error"]["code"].as_str().unwrap_or_default().to_string(),
            started.elapsed(),
        )
    };
    // Redis up: the cart reads "not ready" (nothing published in this space), a write is taken.
    assert_eq!(timed("GET", "/api/v1/cart", None).1, "not_ready");
    assert_eq!(timed("POST", "/api/v1/events/view", Some(&view)).0, 202);

    // Redis away: reads answer 503 within the bound, never hang.
    redis.stop();
    for _ in 0..3 {
        let (status, code, took) = timed("GET", "/api/v1/cart", None);
        assert_eq!(status, 503, "{code}");
        assert!(took < bound * 2, "a read took {took:?} with Redis away");
    }
    // Back: the API reconnects by itself.
    redis.start();
    support::wait_until("reads after Redis came back", 30, || timed("GET", "/api/v1/cart", None).1 == "not_ready");

    // Kafka away (nothing listens on the broker's port): a write answers 503 within its bound.
    let closed = support::free_port();
    let api = Api::on(&space, bound, limits, auth(), &redis.url(), &format!("127.0.0.1:{closed}"), bound);
    let alice = api.token("usr-alice", Role::Shopper);
    let started = Instant::now();
    let answer = api.send("POST", "/api/v1/events/view", Some(&alice), &[], Some(&view));
    let took = started.elapsed();
    assert_eq!(answer.status.as_u16(), 503, "{}", answer.body);
    // The producer's own timeout, plus librdkafka's scan for timed-out records (once a second).
    assert!(took < bound + Duration::from_millis(1500), "a write took {took:?} with Kafka away (bound {bound:?})");
    eprintln!(
        "faults: the API with Redis away: reads 503 in under {:?} each, back: reads again; with Kafka away: writes 503 {} in \
         {:.2} s (produce timeout {:.0} s)",
        bound * 2,
        answer.body["error"]["code"],
        took.as_secs_f64(),
        bound.as_secs_f64()
    );
}
