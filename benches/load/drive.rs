//! The load driver shared by the baseline and the ingest phase: N keep-alive connections, each
//! sending its next request as soon as the previous answer is read, for a fixed time.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::net::{Connection, client_config};

/// One request: method, path, bearer token, JSON body.
pub struct Request {
    pub method: &'static str,
    pub path: String,
    pub bearer: Option<String>,
    pub body: Option<String>,
}

#[derive(Debug, Default)]
pub struct Load {
    pub ok: u64,
    pub failed: u64,
    pub elapsed: Duration,
    /// Latency of each successful request, microseconds, sorted.
    pub latencies_us: Vec<u32>,
    pub first_error: Option<String>,
}

impl Load {
    pub fn rps(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    pub fn percentile_ms(&self, p: f64) -> f64 {
        percentile(&self.latencies_us, p) as f64 / 1000.0
    }
}

/// The value at fraction `p` (0–1) of sorted samples.
pub fn percentile<T: Copy + Default>(sorted: &[T], p: f64) -> T {
    if sorted.is_empty() {
        return T::default();
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// Runs `connections` keep-alive connections against `addr` for `duration`; `next(connection,
/// n)` builds each request. A 2xx counts as done.
pub async fn drive(
    addr: SocketAddr,
    connections: usize,
    duration: Duration,
    next: Arc<dyn Fn(usize, u64) -> Request + Send + Sync>,
) -> Load {
    let config = client_config(b"http/1.1");
    let mut opened = Vec::new();
    for _ in 0..connections {
        opened.push(Connection::open(addr, &config).await.expect("the bench server accepts connections"));
    }
    let started = Instant::now();
    let deadline = started + duration;
    let tasks: Vec<_> = opened
        .into_iter()
        .enumerate()
        .map(|(index, mut connection)| {
            let next = Arc::clone(&next);
            tokio::spawn(async move {
                let mut load = Load::default();
                let mut n = 0;
                while Instant::now() < deadline {
                    let request = next(index, n);
                    n += 1;
                    let sent = Instant::now();
                    match connection.send(request.method, &request.path, request.bearer.as_deref(), request.body).await
                    {
                        Ok((status, _)) if (200..300).contains(&status) => {
                            load.ok += 1;
                            load.latencies_us.push(u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX));
                        }
                        Ok((status, body)) => {
                            load.failed += 1;
                            load.first_error
                                .get_or_insert_with(|| format!("{status}: {}", String::from_utf8_lossy(&body)));
                        }
                        Err(err) => {
                            load.failed += 1;
                            load.first_error.get_or_insert_with(|| err.to_string());
                            break;
                        }
                    }
                }
                load
            })
        })
        .collect();
    let mut total = Load::default();
    for task in tasks {
        let load = task.await.expect("a load task");
        total.ok += load.ok;
        total.failed += load.failed;
        total.latencies_us.extend(load.latencies_us);
        if total.first_error.is_none() {
            total.first_error = load.first_error;
        }
    }
    total.elapsed = started.elapsed();
    total.latencies_us.sort_unstable();
    total
}
