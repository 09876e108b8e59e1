//! Strata processors. One directory per component; each is registered in the binary's
//! `src/components.rs`.
#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]
#![warn(missing_docs)]

pub mod batch;
