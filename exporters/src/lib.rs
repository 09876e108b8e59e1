//! Strata exporters. One directory per component; each is registered in the binary's
//! `src/components.rs`. Shared pieces: [`helper`] (timeout, retry, sending queue),
//! [`classify`] (OTLP failure classification) and [`http_client`]; client TLS settings are
//! `strata_pipelines::tls`.
#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]
#![warn(missing_docs)]

pub mod classify;
pub mod debug;
pub mod file;
pub mod helper;
pub mod http_client;
pub mod loadbalancing;
pub mod otlp;
pub mod otlp_http;
pub mod prometheus;
pub mod zipkin;
