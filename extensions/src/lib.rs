//! Strata extensions: components outside the pipelines that others use by id. One directory per
//! extension; each is registered in the binary's `src/components.rs`.
#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]
#![warn(missing_docs)]

pub mod basicauth;
pub mod bearertokenauth;
pub mod file_storage;
pub mod headers_setter;
pub mod health_check;
pub mod pprof;
mod watch;
pub mod zpages;
