//! The consumer trait: the one call every hop of a pipeline makes, and what it answers.

use std::sync::Arc;

use async_trait::async_trait;

use crate::error::ConsumeError;
use crate::signal::SignalData;
use crate::wire::Encoded;

/// What a consumer answers when it took data without error: how many items (spans, metric data
/// points, log records) were dropped on purpose on the way — by a `filter` processor, for
/// instance — and why. Receivers report it to their client as the OTLP partial success
/// (`ExportTracePartialSuccess.rejected_spans` and `error_message`, OTLP spec "Partial Success").
///
/// `rejected == 0` means everything was accepted; `message` is then empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Accepted {
    /// Items dropped on purpose, in the signal's item unit.
    pub rejected: u64,
    /// Why they were dropped, human-readable; empty when nothing was.
    pub message: String,
}

impl Accepted {
    /// Everything accepted.
    pub fn all() -> Self {
        Accepted::default()
    }

    /// `rejected` items dropped for `message`.
    pub fn rejecting(rejected: u64, message: impl Into<String>) -> Self {
        if rejected == 0 {
            return Accepted::all();
        }
        Accepted {
            rejected,
            message: message.into(),
        }
    }

    /// True when nothing was rejected.
    pub fn is_full(&self) -> bool {
        self.rejected == 0
    }

    /// Both outcomes of two hops the same items went through in sequence: the counts add up
    /// (each hop only sees what the previous one kept) and the messages are joined with `"; "`.
    pub fn and(mut self, later: Accepted) -> Accepted {
        if later.rejected == 0 {
            return self;
        }
        self.rejected += later.rejected;
        if self.message.is_empty() {
            self.message = later.message;
        } else {
            self.message.push_str("; ");
            self.message.push_str(&later.message);
        }
        self
    }
}

/// How a `batch` processor asks the sending queues after it to batch (the Collector's
/// `batch` settings, applied where the data waits anyway): merge queued requests into exports
/// of at least `min_size` items, at most `max_size` (`0` = no bound), or what arrived within
/// `flush_timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batching {
    /// Items that make a batch leave at once (`send_batch_size`).
    pub min_size: usize,
    /// Largest export in items (`send_batch_max_size`); `0` = no limit.
    pub max_size: usize,
    /// Longest a batch waits for `min_size` (`timeout`).
    pub flush_timeout: std::time::Duration,
}

/// The answer of [`Consumer::consume`].
pub type ConsumeResult = Result<Accepted, ConsumeError>;

/// Something that takes a batch of one signal: a processor, a fanout or an exporter.
///
/// Ownership passes with the call (the Go Collector's rule): once `consume` is called the callee
/// owns `data`. The returned future completes when the data is accepted (exported, or queued by an
/// exporter that has a queue) or refused; errors flow back to the receiver so that it can answer
/// its client per the OTLP spec.
#[async_trait]
pub trait Consumer<T: SignalData>: Send + Sync {
    /// Takes `data`. `Ok` carries how many items were dropped on purpose (usually none);
    /// `Err(Retryable)` means the caller may try again later; `Err(Permanent)` means never.
    async fn consume(&self, data: T) -> ConsumeResult;

    /// Takes a request still in its protobuf encoding (checked by [`Encoded::new`]). Consumers
    /// that never look inside the data (fanout, `memory_limiter`, exporters that send OTLP
    /// protobuf) pass it on as is, so a pass-through pipeline forwards the bytes it received;
    /// the default decodes it and calls [`Consumer::consume`].
    async fn consume_encoded(&self, data: Encoded<T>) -> ConsumeResult {
        self.consume(data.decode()?).await
    }

    /// True when [`Consumer::consume_encoded`] keeps the request encoded all the way (no
    /// consumer after this one decodes it). `memory_limiter` uses it to reserve what the data
    /// will really hold: its encoded length, or its decoded size.
    fn keeps_encoded(&self) -> bool {
        false
    }

    /// Whether a request offered now would be refused for lack of room downstream: `Err` when
    /// a sending queue after this consumer is full and does not block (`block_on_overflow:
    /// false`). Receivers ask before they read a request's body, so an overloaded pipeline
    /// refuses at the door instead of after reading and checking the data it then refuses
    /// (tower's `poll_ready`, as a synchronous hint). `Ok` promises nothing: [`Consumer::consume`]
    /// still decides. Consumers with a `next` forward the question; the default is `Ok`.
    ///
    /// # Errors
    /// A retryable [`ConsumeError`] saying which queue is full.
    fn ready(&self) -> Result<(), ConsumeError> {
        Ok(())
    }

    /// True when every path after this consumer ends in an exporter's sending queue, so
    /// [`Consumer::consume`] returns once the data is queued (on disk for a persistent queue)
    /// rather than exported. `batch` then forwards each request at once and lets the queues
    /// batch ([`Consumer::adopt_batching`]), so a sender never waits for a batch to fill.
    /// Consumers with a `next` forward the question; fanouts answer for all their consumers.
    fn queued(&self) -> bool {
        false
    }

    /// Asks the sending queues after this consumer to batch as `b` says, unless their own
    /// `sending_queue::batch` is configured. Called while the graph is built, before start.
    /// Consumers with a `next` forward it.
    fn adopt_batching(&self, _b: &Batching) {}
}

/// A shared, type-erased consumer, as wired by the graph.
pub type BoxConsumer<T> = Arc<dyn Consumer<T>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_in_sequence_add_up() {
        let a = Accepted::rejecting(2, "filter/a: 2 spans matched");
        let b = Accepted::rejecting(3, "filter/b: 3 spans matched");
        let both = a.clone().and(b);
        assert_eq!(both.rejected, 5);
        assert_eq!(
            both.message,
            "filter/a: 2 spans matched; filter/b: 3 spans matched"
        );
        assert_eq!(a.clone().and(Accepted::all()), a);
        assert_eq!(Accepted::all().and(a.clone()), a);
        assert!(Accepted::rejecting(0, "nothing").is_full());
    }
}
