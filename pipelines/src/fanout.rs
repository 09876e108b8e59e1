//! Fanout: one consumer that hands the same data to several.

use async_trait::async_trait;
use futures::future::join_all;

use crate::consumer::{Accepted, BoxConsumer, ConsumeResult, Consumer};
use crate::error::ConsumeError;
use crate::signal::SignalData;
use crate::wire::Encoded;

/// Sends each batch to every consumer concurrently: clones for all but the last, which gets the
/// original. The result is `Ok` only when every consumer accepted; otherwise the first permanent
/// error, else the first retryable one (a sender retrying then re-delivers to all consumers —
/// duplicates are preferred over loss).
///
/// The partial success is the smallest `rejected` among the consumers (an item one pipeline kept
/// was not rejected; the minimum is the count every pipeline dropped at least), with every
/// consumer's message.
pub struct Fanout<T: SignalData> {
    consumers: Vec<BoxConsumer<T>>,
}

impl<T: SignalData> Fanout<T> {
    /// A fanout over `consumers` (at least one).
    pub fn new(consumers: Vec<BoxConsumer<T>>) -> Self {
        Fanout { consumers }
    }
}

#[async_trait]
impl<T: SignalData> Consumer<T> for Fanout<T> {
    /// Consumers that keep requests encoded (exporters of OTLP protobuf, which would encode the
    /// data themselves) share one encoding of it; the others get deep clones, the last of them
    /// the original. One encoding instead of a clone and an encoding per extra exporter: for
    /// 1,000 spans of 10 attributes to 3 exporters, 0.86 ms instead of 1.43 ms before the
    /// exporters' own encoding (BENCHMARKS.md, `pipeline::fanout`).
    async fn consume(&self, data: T) -> ConsumeResult {
        let keeps: Vec<bool> = self.consumers.iter().map(|c| c.keeps_encoded()).collect();
        let encoded = keeps.contains(&true).then(|| Encoded::encode(&data));
        let last_decoded = keeps.iter().rposition(|k| !k);
        let mut data = Some(data);
        let mut futs = Vec::with_capacity(self.consumers.len());
        for (i, c) in self.consumers.iter().enumerate() {
            futs.push(match &encoded {
                Some(e) if keeps[i] => c.consume_encoded(e.clone()),
                _ if Some(i) == last_decoded => c.consume(data.take().unwrap_or_default()),
                _ => c.consume(data.clone().unwrap_or_default()),
            });
        }
        drop(data);
        Self::outcome(join_all(futs).await)
    }

    /// Every consumer gets the encoded request (the bytes are shared, not copied).
    async fn consume_encoded(&self, data: Encoded<T>) -> ConsumeResult {
        let futs = self
            .consumers
            .iter()
            .map(|c| c.consume_encoded(data.clone()));
        Self::outcome(join_all(futs).await)
    }

    fn keeps_encoded(&self) -> bool {
        self.consumers.iter().all(|c| c.keeps_encoded())
    }

    /// Not ready when any consumer is not: that one would refuse the request, and the fanout
    /// answers with its error (see the type's docs).
    fn ready(&self) -> Result<(), ConsumeError> {
        self.consumers.iter().try_for_each(|c| c.ready())
    }

    /// Queued only when every consumer is: one exporter without a queue makes the answer wait
    /// for its export.
    fn queued(&self) -> bool {
        self.consumers.iter().all(|c| c.queued())
    }

    fn adopt_batching(&self, b: &crate::consumer::Batching) {
        for c in &self.consumers {
            c.adopt_batching(b);
        }
    }
}

impl<T: SignalData> Fanout<T> {
    /// The fanout's answer from its consumers' answers (see the type's docs).
    fn outcome(results: Vec<ConsumeResult>) -> ConsumeResult {
        let n = results.len();
        let mut retryable = None;
        let mut accepted: Vec<Accepted> = Vec::with_capacity(n);
        for r in results {
            match r {
                Ok(a) => accepted.push(a),
                Err(e @ ConsumeError::Permanent(_)) => return Err(e),
                Err(e) => {
                    retryable.get_or_insert(e);
                }
            }
        }
        if let Some(e) = retryable {
            return Err(e);
        }
        let rejected = accepted.iter().map(|a| a.rejected).min().unwrap_or(0);
        let message = accepted
            .iter()
            .filter(|a| !a.message.is_empty())
            .map(|a| a.message.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        Ok(Accepted::rejecting(rejected, message))
    }
}

/// Returns the single consumer itself, or a [`Fanout`] over several.
pub fn fanout<T: SignalData>(mut consumers: Vec<BoxConsumer<T>>) -> BoxConsumer<T> {
    if consumers.len() == 1 {
        consumers.remove(0)
    } else {
        std::sync::Arc::new(Fanout::new(consumers))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::signal::Traces;
    use crate::testing::{CollectingConsumer, DecodingConsumer, FailingConsumer, fake};
    use crate::wire::Encoded;

    #[tokio::test]
    async fn every_consumer_gets_an_encoded_request_still_encoded() {
        use prost::Message as _;
        let a = Arc::new(CollectingConsumer::<Traces>::default());
        let b = Arc::new(CollectingConsumer::<Traces>::default());
        let f = fanout::<Traces>(vec![a.clone(), b.clone()]);
        let data = fake::traces(2, 3);
        let enc = Encoded::new(data.encode_to_vec().into()).unwrap();
        f.consume_encoded(enc).await.unwrap();
        for c in [&a, &b] {
            assert_eq!(c.encoded_batches(), 1);
            assert_eq!(c.batches(), vec![data.clone()]);
        }
    }

    #[tokio::test]
    async fn consumers_that_keep_requests_encoded_share_one_encoding() {
        let a = Arc::new(CollectingConsumer::<Traces>::default());
        let b = Arc::new(CollectingConsumer::<Traces>::default());
        let c = Arc::new(CollectingConsumer::<Traces>::default());
        let d = Arc::new(CollectingConsumer::<Traces>::default());
        let f = fanout::<Traces>(vec![
            a.clone(),
            Arc::new(DecodingConsumer(b.clone())),
            c.clone(),
            Arc::new(DecodingConsumer(d.clone())),
        ]);
        let data = fake::traces(2, 3);
        f.consume(data.clone()).await.unwrap();
        assert_eq!(a.encoded_batches(), 1);
        assert_eq!(c.encoded_batches(), 1);
        assert_eq!(b.encoded_batches(), 0);
        assert_eq!(d.encoded_batches(), 0);
        for x in [&a, &b, &c, &d] {
            assert_eq!(x.batches(), vec![data.clone()]);
        }
    }

    #[tokio::test]
    async fn every_consumer_gets_the_data() {
        let a = Arc::new(CollectingConsumer::<Traces>::default());
        let b = Arc::new(CollectingConsumer::<Traces>::default());
        let f = fanout::<Traces>(vec![a.clone(), b.clone()]);
        f.consume(fake::traces(1, 5)).await.unwrap();
        assert_eq!(a.item_count(), 5);
        assert_eq!(b.item_count(), 5);
    }

    #[tokio::test]
    async fn one_failure_fails_the_whole() {
        let a = Arc::new(CollectingConsumer::<Traces>::default());
        let f = fanout::<Traces>(vec![a.clone(), Arc::new(FailingConsumer::retryable())]);
        let err = f.consume(fake::traces(1, 5)).await.unwrap_err();
        assert!(err.is_retryable());
        assert_eq!(a.item_count(), 5);
    }

    /// A consumer whose sending queue is full.
    struct Full;

    #[async_trait]
    impl Consumer<Traces> for Full {
        async fn consume(&self, _data: Traces) -> ConsumeResult {
            Err(ConsumeError::retryable("queue full"))
        }
        fn ready(&self) -> Result<(), ConsumeError> {
            Err(ConsumeError::retryable("queue full"))
        }
    }

    #[test]
    fn not_ready_when_any_consumer_is_not() {
        let a = Arc::new(CollectingConsumer::<Traces>::default());
        assert!(fanout::<Traces>(vec![a.clone(), a.clone()]).ready().is_ok());
        let f = fanout::<Traces>(vec![a, Arc::new(Full)]);
        let err = f.ready().unwrap_err();
        assert!(
            err.is_retryable() && err.to_string().contains("queue full"),
            "{err}"
        );
    }

    /// Accepts, reporting a fixed number of dropped items.
    struct Dropping(u64);

    #[async_trait]
    impl Consumer<Traces> for Dropping {
        async fn consume(&self, _data: Traces) -> ConsumeResult {
            Ok(Accepted::rejecting(self.0, format!("dropped {}", self.0)))
        }
    }

    #[tokio::test]
    async fn partial_success_is_what_every_pipeline_dropped() {
        let f = fanout::<Traces>(vec![Arc::new(Dropping(3)), Arc::new(Dropping(2))]);
        let a = f.consume(fake::traces(1, 5)).await.unwrap();
        assert_eq!(a.rejected, 2);
        assert_eq!(a.message, "dropped 3; dropped 2");
        let f = fanout::<Traces>(vec![
            Arc::new(Dropping(3)),
            Arc::new(CollectingConsumer::<Traces>::default()),
        ]);
        assert!(f.consume(fake::traces(1, 5)).await.unwrap().is_full());
    }
}
