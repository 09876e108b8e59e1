//! Strata processors. One directory per component; each is registered in the binary's
//! `src/components.rs`. `ottl` (conditions) and `matching` (include/exclude rules) are shared
//! by the processors that select items.
#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]
#![warn(missing_docs)]

pub mod actions;
pub mod attributes;
pub mod batch;
pub mod filter;
pub mod matching;
pub mod memory_limiter;
pub mod ottl;
pub mod redaction;
pub mod resource;
pub mod resourcedetection;
