//! What the exporter helper queues and sends: a request decoded, or still in the protobuf
//! encoding it arrived in (forwarded without a decode and re-encode).

use std::sync::Arc;

use strata_pipelines::wire::Encoded;
use strata_pipelines::{ConsumeResult, SignalData};

use super::exporter::{RequestSender, split_to_size};

/// A queued request.
pub enum Payload<T> {
    /// Decoded (it came through a processor that looked inside, or from a scraper).
    Decoded(T),
    /// As received: checked OTLP protobuf, for senders that send it as is
    /// ([`RequestSender::sends_encoded`]).
    Encoded(Encoded<T>),
}

impl<T: SignalData> Default for Payload<T> {
    fn default() -> Self {
        Payload::Decoded(T::default())
    }
}

impl<T: SignalData> Payload<T> {
    /// Spans, metric data points or log records.
    pub fn item_count(&self) -> usize {
        match self {
            Payload::Decoded(d) => d.item_count(),
            Payload::Encoded(e) => e.item_count(),
        }
    }

    /// The memory it holds, in bytes: the decoded heap size, or the encoded length.
    pub fn heap_size(&self) -> usize {
        match self {
            Payload::Decoded(d) => d.heap_size(),
            Payload::Encoded(e) => e.len(),
        }
    }

    /// Length of its protobuf encoding in bytes.
    pub fn encoded_len(&self) -> usize {
        match self {
            Payload::Decoded(d) => d.encoded_len(),
            Payload::Encoded(e) => e.len(),
        }
    }

    /// The protobuf encoding (not copied when it is already encoded in one chunk).
    pub fn to_bytes(&self) -> bytes::Bytes {
        match self {
            Payload::Decoded(d) => d.encode_to_vec().into(),
            Payload::Encoded(e) => e.to_bytes(),
        }
    }

    /// Appends `other` after this request. Two encoded requests are concatenated; a decoded
    /// one meeting an encoded one is encoded (encoding cannot fail; decoding could).
    pub fn append(&mut self, other: Payload<T>) {
        match (&mut *self, other) {
            (Payload::Decoded(a), Payload::Decoded(b)) => a.append(b),
            (Payload::Encoded(a), Payload::Encoded(b)) => a.append(b),
            (Payload::Encoded(a), Payload::Decoded(b)) => a.append(Encoded::encode(&b)),
            (Payload::Decoded(a), Payload::Encoded(b)) => {
                let mut e = Encoded::encode(a);
                e.append(b);
                *self = Payload::Encoded(e);
            }
        }
    }

    /// Removes and returns the first `n` items. An encoded request is decoded first; if that
    /// fails (the check and prost disagree, a bug), it is returned whole rather than lost.
    pub fn split_front(&mut self, n: usize) -> Payload<T> {
        if let Payload::Encoded(e) = self {
            match e.decode() {
                Ok(d) => *self = Payload::Decoded(d),
                Err(_) => return std::mem::take(self),
            }
        }
        match self {
            Payload::Decoded(d) => Payload::Decoded(d.split_front(n)),
            Payload::Encoded(_) => std::mem::take(self),
        }
    }

    /// Requests of at most `max` encoded bytes (`0`: no limit), per [`split_to_size`].
    pub fn split_to_size(self, max: usize) -> Vec<Payload<T>> {
        if max == 0 || self.encoded_len() <= max {
            return vec![self];
        }
        match self {
            Payload::Decoded(d) => split_to_size(d, max)
                .into_iter()
                .map(Payload::Decoded)
                .collect(),
            Payload::Encoded(e) => match e.decode() {
                Ok(d) => split_to_size(d, max)
                    .into_iter()
                    .map(Payload::Decoded)
                    .collect(),
                Err(_) => vec![Payload::Encoded(e)],
            },
        }
    }

    /// Into what [`Request::send`] sends; a decoded request is shared so retries do not copy it.
    pub fn into_request(self) -> Request<T> {
        match self {
            Payload::Decoded(d) => Request::Decoded(Arc::new(d)),
            Payload::Encoded(e) => Request::Encoded(e),
        }
    }
}

/// A request being delivered (cheap to clone for each attempt).
pub enum Request<T> {
    /// Decoded, shared.
    Decoded(Arc<T>),
    /// Encoded (the bytes are shared).
    Encoded(Encoded<T>),
}

impl<T> Clone for Request<T> {
    fn clone(&self) -> Self {
        match self {
            Request::Decoded(d) => Request::Decoded(d.clone()),
            Request::Encoded(e) => Request::Encoded(e.clone()),
        }
    }
}

impl<T: SignalData> Request<T> {
    /// Spans, metric data points or log records.
    pub fn item_count(&self) -> usize {
        match self {
            Request::Decoded(d) => d.item_count(),
            Request::Encoded(e) => e.item_count(),
        }
    }

    /// One attempt through `sender`.
    pub async fn send(&self, sender: &dyn RequestSender<T>) -> ConsumeResult {
        match self {
            Request::Decoded(d) => sender.send(d.clone()).await,
            Request::Encoded(e) => sender.send_encoded(e.clone()).await,
        }
    }

    /// Back into a queue entry (the delivery was stopped).
    pub fn into_payload(self) -> Payload<T> {
        match self {
            Request::Decoded(d) => {
                Payload::Decoded(Arc::try_unwrap(d).unwrap_or_else(|a| (*a).clone()))
            }
            Request::Encoded(e) => Payload::Encoded(e),
        }
    }
}
