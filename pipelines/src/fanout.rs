//! Fanout: one consumer that hands the same data to several.

use async_trait::async_trait;
use futures::future::join_all;

use crate::consumer::{BoxConsumer, Consumer};
use crate::error::ConsumeError;
use crate::signal::SignalData;

/// Sends each batch to every consumer concurrently: clones for all but the last, which gets the
/// original. The result is `Ok` only when every consumer accepted; otherwise the first permanent
/// error, else the first retryable one (a sender retrying then re-delivers to all consumers —
/// duplicates are preferred over loss).
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
    async fn consume(&self, data: T) -> Result<(), ConsumeError> {
        let n = self.consumers.len();
        let mut futs = Vec::with_capacity(n);
        let mut data = Some(data);
        for (i, c) in self.consumers.iter().enumerate() {
            let d = if i + 1 == n {
                data.take().unwrap_or_default()
            } else {
                data.clone().unwrap_or_default()
            };
            futs.push(c.consume(d));
        }
        let mut retryable = None;
        for r in join_all(futs).await {
            match r {
                Ok(()) => {}
                Err(e @ ConsumeError::Permanent(_)) => return Err(e),
                Err(e) => {
                    retryable.get_or_insert(e);
                }
            }
        }
        retryable.map_or(Ok(()), Err)
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
    use crate::testing::{CollectingConsumer, FailingConsumer, fake};

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
}
