//! Strata exporters. One directory per component; each is registered in the binary's
//! `src/components.rs`. Shared pieces: [`tls`] (client TLS settings) and [`classify`]
//! (OTLP failure classification).
#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]
#![warn(missing_docs)]

pub mod classify;
pub mod debug;
pub mod file;
pub mod helper;
pub mod http_client;
pub mod otlp;
pub mod otlp_http;
pub mod prometheus;
pub mod zipkin;
