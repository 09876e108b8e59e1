//! The consumer trait: the one call every hop of a pipeline makes.

use std::sync::Arc;

use async_trait::async_trait;

use crate::error::ConsumeError;
use crate::signal::SignalData;

/// Something that takes a batch of one signal: a processor, a fanout or an exporter.
///
/// Ownership passes with the call (the Go Collector's rule): once `consume` is called the callee
/// owns `data`. The returned future completes when the data is accepted (exported, or queued by an
/// exporter that has a queue) or refused; errors flow back to the receiver so that it can answer
/// its client per the OTLP spec.
#[async_trait]
pub trait Consumer<T: SignalData>: Send + Sync {
    /// Takes `data`. `Err(Retryable)` means the caller may try again later; `Err(Permanent)` means
    /// never.
    async fn consume(&self, data: T) -> Result<(), ConsumeError>;
}

/// A shared, type-erased consumer, as wired by the graph.
pub type BoxConsumer<T> = Arc<dyn Consumer<T>>;
