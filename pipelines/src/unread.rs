//! What happens to the part of a request body a handler did not read: it is read and discarded
//! after the response, so a refusal reaches every client as its status.
//!
//! A server may answer before it has read the request (a 401 before the body, a 413 at the
//! limit, a 503 under memory pressure). Over HTTP/2, dropping the unread body resets the stream
//! (`RST_STREAM`): with `CANCEL` when the drop comes before the response is sent — what a
//! handler returning early does —, and RFC 9113 §8.1 allows only `NO_ERROR`, after a complete
//! response. curl then prints `(92) Stream error in the HTTP/2 framing layer` instead of the
//! status, and an OTLP exporter takes a transport failure for a retryable one. Over HTTP/1.1
//! the connection is closed instead of kept alive.
//!
//! [`layer`] wraps every HTTP server Strata runs ([`crate::component::Tasks::serve_http`]):
//! each request body is handed to the handler inside a [`DrainOnDrop`]. A handler that reads
//! the body to its end never notices it. One that drops it early (a refusal, or the body limit
//! reached) hands what is left to a task that reads and discards it, up to [`DRAIN_LIMIT`]
//! bytes and [`DRAIN_TIME`]: the stream stays open while the response goes out, so a client
//! still sending sees the status (and, past the limits, `NO_ERROR`). Nothing read this way is
//! kept or parsed.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Body as _, Frame, SizeHint};

/// The most bytes read and discarded after a response, per request.
pub const DRAIN_LIMIT: u64 = 64 << 20;
/// The longest an unread body is read after a response.
pub const DRAIN_TIME: Duration = Duration::from_secs(10);

/// A request body that, dropped before its end, is read to its end (bounded) in a task of its
/// own instead of being dropped — which over HTTP/2 would reset the stream.
pub struct DrainOnDrop(Option<Body>);

impl DrainOnDrop {
    /// Wraps `body`.
    pub fn new(body: Body) -> Self {
        DrainOnDrop(Some(body))
    }
}

impl http_body::Body for DrainOnDrop {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        match self.0.as_mut() {
            Some(b) => Pin::new(b).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.0.as_ref().is_none_or(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        self.0.as_ref().map(|b| b.size_hint()).unwrap_or_default()
    }
}

impl Drop for DrainOnDrop {
    fn drop(&mut self) {
        if let Some(body) = self.0.take()
            && !body.is_end_stream()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            rt.spawn(drain(body));
        }
    }
}

/// The middleware (`axum::middleware::from_fn(layer)`): the request's body becomes a
/// [`DrainOnDrop`]. A body that is already complete (no body, or all of it received with the
/// headers) is passed as it is.
pub async fn layer(req: Request, next: Next) -> Response {
    if req.body().is_end_stream() {
        return next.run(req).await;
    }
    next.run(req.map(|b| Body::new(DrainOnDrop::new(b)))).await
}

/// Reads `body` to its end and discards it, giving up after [`DRAIN_LIMIT`] bytes or
/// [`DRAIN_TIME`]. Returns the bytes read.
async fn drain(mut body: Body) -> u64 {
    use http_body_util::BodyExt as _;
    let mut read = 0u64;
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        while let Some(Ok(frame)) = body.frame().await {
            if let Some(d) = frame.data_ref() {
                read += d.len() as u64;
                if read > DRAIN_LIMIT {
                    break;
                }
            }
        }
    })
    .await;
    read
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt as _;

    fn body_of(chunks: Vec<&'static [u8]>) -> Body {
        let stream = futures::stream::iter(
            chunks
                .into_iter()
                .map(|c| Ok::<_, std::io::Error>(Bytes::from_static(c))),
        );
        Body::from_stream(stream)
    }

    #[tokio::test]
    async fn a_body_dropped_before_its_end_is_read_to_its_end_by_a_task() {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
        let mut body = Body::new(DrainOnDrop::new(Body::from_stream(tokio_stream_of(rx))));
        tx.send(Ok(Bytes::from_static(b"ab"))).await.unwrap();
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(&first[..], b"ab");
        // The handler gives up on the body: the sender can still send it all.
        drop(body);
        for _ in 0..16 {
            tokio::time::timeout(
                Duration::from_secs(5),
                tx.send(Ok(Bytes::from_static(b"cd"))),
            )
            .await
            .expect("nobody reads the rest")
            .expect("the rest of the body was dropped");
        }
    }

    fn tokio_stream_of(
        mut rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
    ) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> {
        futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
    }

    #[tokio::test]
    async fn drain_stops_after_the_limit() {
        static CHUNK: [u8; 1 << 20] = [0; 1 << 20];
        let many: Vec<&'static [u8]> = (0..80).map(|_| &CHUNK[..]).collect();
        let read = drain(body_of(many)).await;
        assert_eq!(read, DRAIN_LIMIT + (1 << 20));
    }
}
