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
//! [`layer`] wraps every HTTP server Strata runs ([`crate::component::Tasks::serve_http`]): the
//! handler gets a body that reads through a shared slot, and once the handler has answered,
//! whatever it left is read in a task of its own, up to [`DRAIN_LIMIT`] bytes and
//! [`DRAIN_TIME`], then dropped. By then the response is on its way, so a client still sending
//! sees the status (and, past the limits, `NO_ERROR`). Nothing read this way is kept or parsed.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
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

/// The request body, shared between the handler's view and the layer.
type Slot = Arc<Mutex<Option<Body>>>;

/// The body a handler sees: it reads from the slot; dropping it leaves the body in the slot.
struct Shared(Slot);

impl http_body::Body for Shared {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let mut slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match slot.as_mut() {
            Some(b) => Pin::new(b).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        let slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
        slot.as_ref().is_none_or(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        let slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
        slot.as_ref().map(|b| b.size_hint()).unwrap_or_default()
    }
}

/// The middleware (`axum::middleware::from_fn(layer)`): runs the handler, then drains what it
/// left of the request body in the background.
pub async fn layer(req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    if body.is_end_stream() {
        return next.run(Request::from_parts(parts, body)).await;
    }
    let slot: Slot = Arc::new(Mutex::new(Some(body)));
    let resp = next
        .run(Request::from_parts(parts, Body::new(Shared(slot.clone()))))
        .await;
    let rest = slot.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some(body) = rest
        && !body.is_end_stream()
    {
        tokio::spawn(drain(body));
    }
    resp
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
    async fn the_handlers_view_reads_through_and_leaves_the_rest_in_the_slot() {
        let slot: Slot = Arc::new(Mutex::new(Some(body_of(vec![b"ab", b"cd", b"ef"]))));
        let mut view = Body::new(Shared(slot.clone()));
        let first = view.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(&first[..], b"ab");
        drop(view);
        let rest = slot.lock().unwrap().take().unwrap();
        assert_eq!(drain(rest).await, 4);
    }

    #[tokio::test]
    async fn drain_stops_after_the_limit() {
        static CHUNK: [u8; 1 << 20] = [0; 1 << 20];
        let many: Vec<&'static [u8]> = (0..80).map(|_| &CHUNK[..]).collect();
        let read = drain(body_of(many)).await;
        assert_eq!(read, DRAIN_LIMIT + (1 << 20));
    }
}
