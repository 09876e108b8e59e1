//! Strata receivers. One directory per component; each is registered in the binary's
//! `src/components.rs`. [`scraper`] is the shared helper of scraping receivers, [`recorder`] their
//! metric tables.
#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]
#![warn(missing_docs)]

pub mod hostmetrics;
pub mod libvirt;
pub mod otlp;
pub mod recorder;
pub mod redfish;
pub mod scraper;
pub mod server;
pub mod spdk;
pub mod spdk_trace;
pub mod zipkin;
