//! centralita: a self-hosted contact center in one binary. The library holds everything so that
//! tests and benchmarks can start a server in-process; `main.rs` is only the command line.

pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod core;
pub mod domain;
pub mod http;
pub mod jobs;
pub mod logging;
pub mod metrics;
pub mod panics;
pub mod rules;
pub mod server;
pub mod shutdown;
pub mod store;
pub mod tls;
