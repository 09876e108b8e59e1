//! Strata's pipeline core: the signal types, the consumer and component traits, factories,
//! configuration, the graph, fanout, errors and self-telemetry. No concrete component lives
//! here; receivers, processors and exporters are in their own crates and registered in the
//! binary's `src/components.rs`.
#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]
#![warn(missing_docs)]

pub mod accepted;
pub mod auth;
pub mod component;
pub mod config;
pub mod consumer;
pub mod error;
pub mod factory;
pub mod fanout;
pub mod graph;
pub mod health;
pub mod heap;
pub mod id;
pub mod memory;
pub mod net;
pub mod signal;
pub mod storage;
pub mod telemetry;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod tls;
pub mod unread;
pub mod visit;
pub mod wire;

pub use component::{
    Component, Deadline, Exporter, Extension, Handover, Host, NextConsumers, Process, Processor,
    Receiver, Tasks, processor_fn,
};
pub use config::{Config, ConfigError, ConfigErrors};
pub use consumer::{Accepted, Batching, BoxConsumer, ConsumeResult, Consumer};
pub use error::{BoxError, BuildError, ConsumeError, ShutdownError, StartError};
pub use factory::{
    ExporterFactory, ExtensionFactory, Factories, Kind, ProcessorFactory, ReceiverFactory,
    Settings, SignalFactories,
};
pub use graph::Graph;
pub use id::{ComponentId, PipelineId};
pub use signal::{Logs, Metrics, Signal, SignalData, Traces};
pub use telemetry::{ReceiverObs, Telemetry};

/// Re-export of the OTLP protobuf types, so components name one version.
pub use opentelemetry_proto as proto;
/// Re-export of the YAML value type component configs are read from.
pub use serde_yaml_ng::Value as YamlValue;
