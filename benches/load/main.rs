//! `cargo bench --bench load [-- --quick]`: the load benchmark. One run measures, on this
//! machine and at the same time, a bare hyper+rustls baseline and centralita itself, so every
//! throughput is quoted as a ratio to the baseline (the machine is shared and noisy). All traffic
//! stays on 127.0.0.1, bounded in time and count. Writes `target/bench/load.json`.

mod baseline;
mod drive;
mod net;
mod phases;
mod process;
mod queue_live;
mod storm;

use std::time::{Duration, Instant};

/// The allocator the shipped binary uses (src/main.rs): the servers the phases start in this
/// process are measured as they run in production (glibc's malloc cost a sixth of the CPU here).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use serde_json::{Value, json};

/// The sizes of one run.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    pub quick: bool,
    pub load_secs: u64,
    pub connections: usize,
    pub agents: usize,
    pub conversations: usize,
    pub delivery_samples: usize,
    pub routing_agents: usize,
    pub routing_waiting: usize,
    pub start_messages: usize,
}

impl Sizes {
    fn full() -> Sizes {
        Sizes {
            quick: false,
            load_secs: 10,
            connections: 64,
            agents: 1_000,
            conversations: 10_000,
            delivery_samples: 2_000,
            routing_agents: 1_000,
            routing_waiting: 10_000,
            start_messages: 1_000_000,
        }
    }

    fn quick() -> Sizes {
        Sizes {
            quick: true,
            load_secs: 3,
            agents: 100,
            conversations: 1_000,
            delivery_samples: 300,
            start_messages: 100_000,
            ..Sizes::full()
        }
    }
}

fn main() {
    let quick = std::env::args().any(|arg| arg == "--quick");
    let sizes = if quick { Sizes::quick() } else { Sizes::full() };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
    let started = Instant::now();
    let figures = runtime.block_on(run(sizes));
    let figures = with_context(figures, sizes, started.elapsed());
    print_table(&figures);
    let path = output_dir().join("load.json");
    std::fs::create_dir_all(output_dir()).expect("target/bench");
    std::fs::write(&path, serde_json::to_string_pretty(&figures).expect("JSON")).expect("load.json written");
    println!("\nwritten: {}", path.display());
}

/// Whether this run includes `phase` (`--phase NAME` picks one, for profiling).
fn wanted(phase: &str) -> bool {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|arg| arg == "--phase") {
        Some(at) => args.get(at + 1).is_some_and(|name| name == phase),
        None => true,
    }
}

async fn run(sizes: Sizes) -> Value {
    let mut figures = json!({});
    let mut put = |name: &str, value: Value| {
        eprintln!("  {name} = {value}");
        figures[name] = value;
    };
    if wanted("rules") {
        eprintln!("rules: on_message cost");
        put("rules_on_message_us", json!(phases::rules_on_message_us()));
    }
    if wanted("routing") {
        eprintln!("routing: {} agents, {} waiting", sizes.routing_agents, sizes.routing_waiting);
        let (median, p99) = phases::routing(sizes.routing_agents, sizes.routing_waiting);
        put("routing_median_us", json!(median));
        put("routing_p99_us", json!(p99));
    }
    let mut baseline_rps = None;
    if wanted("ingest") {
        eprintln!("baseline: bare hyper+rustls, {} connections, {} s", sizes.connections, sizes.load_secs);
        let baseline = phases::baseline(sizes).await;
        put("baseline_rps", json!(round(baseline.rps())));
        put("baseline_p99_ms", json!(round(baseline.percentile_ms(0.99))));
        baseline_rps = Some(baseline.rps());
        ingest_phase(sizes, baseline.rps(), &mut put).await;
        ingest_new_phase(sizes, baseline.rps(), &mut put).await;
    }
    if wanted("auth") {
        auth_phase(baseline_rps, &mut put).await;
    }
    if wanted("delivery") {
        eprintln!("idle: a fresh server's memory");
        put("idle_rss_mb", json!(round(process::idle_rss_mb().await)));
        eprintln!("delivery: {} agents on WebSockets, {} open conversations", sizes.agents, sizes.conversations);
        let delivery = phases::delivery(sizes).await;
        put("delivery_p50_ms", json!(round(delivery.p50_ms)));
        put("delivery_p99_ms", json!(round(delivery.p99_ms)));
        put("delivery_samples", json!(delivery.samples));
        put("delivery_lost", json!(delivery.lost));
        put("peak_rss_mb", json!(round(delivery.peak_rss_mb)));
    }
    if wanted("queue_live") {
        queue_live_phase(&mut put).await;
    }
    if wanted("start") {
        eprintln!("start: a database of {} messages", sizes.start_messages);
        let start = process::start_ms(sizes.start_messages).await;
        put("start_1m_ms", json!(round(start.ms)));
        put("start_messages", json!(sizes.start_messages));
        put("start_db_mb", json!(round(start.db_mb)));
    }
    figures
}

async fn ingest_phase(sizes: Sizes, baseline_rps: f64, put: &mut impl FnMut(&str, Value)) {
    eprintln!("ingest: {} senders through the API channel, {} s", sizes.connections, sizes.load_secs);
    let ingest = phases::ingest(sizes, false).await;
    put("ingest_rps", json!(round(ingest.load.rps())));
    put("ingest_ratio", json!(round(ingest.load.rps() / baseline_rps)));
    put("ingest_p50_ms", json!(round(ingest.load.percentile_ms(0.5))));
    put("ingest_p99_ms", json!(round(ingest.load.percentile_ms(0.99))));
    put("ingest_failed", json!(ingest.load.failed));
    put("ingest_commits", json!(ingest.commits));
    put("ingest_commits_per_s", json!(round(ingest.commits as f64 / ingest.load.elapsed.as_secs_f64())));
    put("ingest_mean_batch", json!(round(ingest.mean_batch)));
    if let Some(error) = &ingest.load.first_error {
        put("ingest_first_error", json!(error));
    }
}

/// Every message from a new contact: contact, conversation, routing and the queue's events each
/// time, beside the append-only `ingest` above and against the same baseline.
async fn ingest_new_phase(sizes: Sizes, baseline_rps: f64, put: &mut impl FnMut(&str, Value)) {
    eprintln!("ingest_new: {} senders, every message from a new contact, {} s", sizes.connections, sizes.load_secs);
    let ingest = phases::ingest(sizes, true).await;
    put("ingest_new_rps", json!(round(ingest.load.rps())));
    put("ingest_new_ratio", json!(round(ingest.load.rps() / baseline_rps)));
    put("ingest_new_p50_ms", json!(round(ingest.load.percentile_ms(0.5))));
    put("ingest_new_p99_ms", json!(round(ingest.load.percentile_ms(0.99))));
    put("ingest_new_failed", json!(ingest.load.failed));
    put("ingest_new_mean_batch", json!(round(ingest.mean_batch)));
    if let Some(error) = &ingest.load.first_error {
        put("ingest_new_first_error", json!(error));
    }
}

/// Widget visitors waiting on sockets while agents finalize and take conversations: how soon each
/// hears their new place, and the server's CPU per change with 1,000 and 10,000 waiting.
async fn queue_live_phase(put: &mut impl FnMut(&str, Value)) {
    eprintln!("queue_live: 1000 visitors waiting on widget sockets, 50 agents on staff sockets");
    let small = queue_live::run(0).await;
    put("queue_live_p50_ms", json!(round(small.p50_ms)));
    put("queue_live_p99_ms", json!(round(small.p99_ms)));
    put("queue_live_samples", json!(small.samples));
    put("queue_live_lost", json!(small.lost));
    put("queue_live_resyncs", json!(small.resyncs));
    put("queue_change_cpu_us_1k", json!(round(small.cpu_us_per_change)));
    eprintln!("queue_live: the same with 9000 more waiting behind them (no sockets)");
    let big = queue_live::run(9_000).await;
    put("queue_live_10k_p99_ms", json!(round(big.p99_ms)));
    put("queue_live_10k_lost", json!(big.lost));
    put("queue_live_10k_resyncs", json!(big.resyncs));
    put("queue_change_cpu_us_10k", json!(round(big.cpu_us_per_change)));
    put("queue_change_cpu_ratio", json!(round(big.cpu_us_per_change / small.cpu_us_per_change)));
}

async fn auth_phase(baseline_rps: Option<f64>, put: &mut impl FnMut(&str, Value)) {
    let storm = &storm::STORM;
    let attempts = storm.addresses * storm.per_address;
    eprintln!("auth: {attempts} wrong sign-ins from {} addresses over {} accounts", storm.addresses, storm.accounts);
    put("argon2_hash_ms", json!(round(storm::argon2_hash_ms())));
    let figures = storm::run(storm).await;
    put("auth_signin_p50_ms", json!(round(figures.quiet_p50_ms)));
    put("auth_storm_p50_ms", json!(round(figures.storm_p50_ms)));
    put("auth_storm_rps", json!(round(figures.storm_rps)));
    if let Some(baseline) = baseline_rps {
        put("auth_storm_ratio", json!((figures.storm_rps / baseline * 1e5).round() / 1e5));
    }
    put("auth_storm_hashed", json!(figures.hashed));
    put("auth_storm_refused", json!(figures.refused));
    put("auth_storm_busy", json!(figures.busy));
    put("auth_storm_idle_mb", json!(round(figures.idle_mb)));
    put("auth_storm_rss_mb", json!(round(figures.peak_mb)));
    put("auth_storm_after_mb", json!(round(figures.after_mb)));
}

fn round(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

fn with_context(mut figures: Value, sizes: Sizes, took: Duration) -> Value {
    figures["mode"] = json!(if sizes.quick { "quick" } else { "full" });
    figures["sizes"] = json!(format!("{sizes:?}"));
    figures["cores"] = json!(std::thread::available_parallelism().map_or(0, |n| n.get()));
    figures["run_secs"] = json!(took.as_secs());
    figures["unix_time"] =
        json!(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()));
    figures
}

pub fn output_dir() -> std::path::PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("bench")
}

/// A table row: JSON key, label, target text, and the limit with whether it is a minimum.
type Row = (&'static str, &'static str, &'static str, Option<(f64, bool)>);

/// Each figure, its target and whether it is met.
fn print_table(figures: &Value) {
    let rows: [Row; 22] = [
        ("baseline_rps", "bare hyper+rustls req/s", "", None),
        ("ingest_rps", "ingest msg/s (each 2xx durable)", "", None),
        ("ingest_ratio", "ingest / baseline", ">= 0.35", Some((0.35, true))),
        ("ingest_p50_ms", "ingest ack p50 ms", "", None),
        ("ingest_p99_ms", "ingest ack p99 ms", "<= 25", Some((25.0, false))),
        ("ingest_mean_batch", "commands per commit", "", None),
        ("ingest_new_rps", "ingest_new msg/s (new contact each)", "", None),
        ("ingest_new_ratio", "ingest_new / baseline", ">= 0.2", Some((0.2, true))),
        ("ingest_new_p99_ms", "ingest_new ack p99 ms", "<= 25", Some((25.0, false))),
        ("delivery_p50_ms", "POST -> agent WebSocket p50 ms", "", None),
        ("delivery_p99_ms", "POST -> agent WebSocket p99 ms", "<= 50", Some((50.0, false))),
        ("routing_median_us", "routing decision median us", "<= 20", Some((20.0, false))),
        ("rules_on_message_us", "on_message call median us", "<= 50", Some((50.0, false))),
        ("queue_live_p99_ms", "queue move -> visitor p99 ms", "<= 100", Some((100.0, false))),
        ("queue_change_cpu_us_1k", "server CPU us per change, 1k", "", None),
        ("queue_change_cpu_ratio", "CPU per change 10k / 1k", "<= 2", Some((2.0, false))),
        ("idle_rss_mb", "idle RSS MB", "<= 30", Some((30.0, false))),
        ("peak_rss_mb", "peak RSS MB (delivery)", "<= 300", Some((300.0, false))),
        ("auth_signin_p50_ms", "wrong sign-in p50 ms (quiet)", "", None),
        ("auth_storm_hashed", "storm sign-ins checked (of 500)", "", None),
        ("auth_storm_rss_mb", "peak RSS MB (sign-in storm)", "<= 64", Some((64.0, false))),
        ("start_1m_ms", "start to healthy ms", "<= 1000", Some((1000.0, false))),
    ];
    println!("\n{:<34} {:>12} {:>9}  met", "figure", "value", "target");
    for (key, label, target, limit) in rows {
        let value = figures[key].as_f64().unwrap_or(f64::NAN);
        let met = match limit {
            Some((limit, true)) => {
                if value >= limit {
                    "yes"
                } else {
                    "NO"
                }
            }
            Some((limit, false)) => {
                if value <= limit {
                    "yes"
                } else {
                    "NO"
                }
            }
            None => "",
        };
        println!("{label:<34} {value:>12.2} {target:>9}  {met}");
    }
}
