//! One unary gRPC call whose request message is already encoded, as a list of [`Bytes`]
//! chunks (gRPC over HTTP/2, "Requests" and "Length-Prefixed-Message" in PROTOCOL-HTTP2.md).
//!
//! tonic's client codec writes every request into one contiguous buffer: for a batch of
//! merged requests that is a fresh multi-MiB allocation per export, copied chunk by chunk and
//! paid again in page faults when the allocator hands the memory back. Here the uncompressed
//! message goes out as its chunks behind the 5-byte prefix, and HTTP/2 writes them without a
//! copy; the last chunk carries `END_STREAM`. A compressed message is compressed into one
//! buffer first (`grpc-encoding: gzip | zstd`). The response is read by tonic
//! ([`Streaming::new_response`]), so status and trailer handling are tonic's own.

use std::collections::VecDeque;
use std::io::Write;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use http::header::{CONTENT_TYPE, HeaderValue, TE};
use http_body::{Body as HttpBody, Frame, SizeHint};
use tonic::client::GrpcService;
use tonic::codec::Streaming;
use tonic::metadata::MetadataMap;
use tonic::transport::Channel;
use tonic::{Code, Status};

use super::{Compression, CompressionParams};

/// gzip's level when `compression_params` gives none: 1, the fastest, as `otlp_http` uses.
/// grpc-go (and so the Collector) uses zlib's default, 6, which costs 3.5 times as much CPU
/// per span in pass-through for about 7 % fewer bytes on the load bench's spans (BENCHMARKS.md,
/// "gzip level 1 by default"); `compression_params: { level: 6 }` restores it.
const GZIP_DEFAULT: i32 = 1;
/// zstd's default level.
const ZSTD_DEFAULT: i32 = 3;

/// The request body: the 5-byte gRPC prefix, then the message's chunks, one DATA payload each.
struct Chunks {
    frames: VecDeque<Bytes>,
    remaining: u64,
}

impl HttpBody for Chunks {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        Poll::Ready(this.frames.pop_front().map(|b| {
            this.remaining -= b.len() as u64;
            Ok(Frame::data(b))
        }))
    }

    /// True after the last chunk, so HTTP/2 ends the stream on it rather than with an empty
    /// DATA frame of its own.
    fn is_end_stream(&self) -> bool {
        self.frames.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// The gRPC message prefix: compressed flag and big-endian length.
fn prefix(compressed: bool, len: usize) -> Result<Bytes, Status> {
    let len = u32::try_from(len)
        .map_err(|_| Status::resource_exhausted(format!("request of {len} bytes is over 4 GiB")))?;
    let mut p = BytesMut::with_capacity(5);
    p.put_u8(u8::from(compressed));
    p.put_u32(len);
    Ok(p.freeze())
}

/// `chunks` compressed into one buffer, and the `grpc-encoding` that names it; `None` when
/// `compression` is `none`.
/// `chunks` compressed into one buffer that starts with its own 5-byte prefix (so the whole
/// message goes out as one DATA payload, which a Strata receiver uses without a copy), and the
/// `grpc-encoding` that names it; `None` when `compression` is `none`.
fn compress(
    compression: Compression,
    params: CompressionParams,
    chunks: &[Bytes],
) -> Result<Option<(Bytes, &'static str)>, Status> {
    let fail = |e: std::io::Error| Status::internal(format!("compressing the request: {e}"));
    let total: usize = chunks.iter().map(Bytes::len).sum();
    // The prefix's place, filled in once the compressed length is known.
    let mut out = Vec::with_capacity(5 + total / 4);
    out.extend_from_slice(&[1, 0, 0, 0, 0]);
    let (mut out, name) = match compression {
        Compression::None => return Ok(None),
        Compression::Gzip => {
            let level = params.level_or(GZIP_DEFAULT).clamp(1, 9) as u32;
            let mut enc = flate2::write::GzEncoder::new(out, flate2::Compression::new(level));
            for c in chunks {
                enc.write_all(c).map_err(fail)?;
            }
            (enc.finish().map_err(fail)?, "gzip")
        }
        Compression::Zstd => {
            let level = params.level_or(ZSTD_DEFAULT);
            let mut enc = zstd::stream::write::Encoder::new(out, level).map_err(fail)?;
            for c in chunks {
                enc.write_all(c).map_err(fail)?;
            }
            (enc.finish().map_err(fail)?, "zstd")
        }
        Compression::Snappy => {
            // gRPC's `snappy`: the framed format (the Collector's configgrpc compressor).
            let mut enc = snap::write::FrameEncoder::new(out);
            for c in chunks {
                enc.write_all(c).map_err(fail)?;
            }
            (
                enc.into_inner()
                    .map_err(|e| fail(std::io::Error::other(e.to_string())))?,
                "snappy",
            )
        }
        other => {
            return Err(Status::internal(format!(
                "{} is not a gRPC compression",
                other.name()
            )));
        }
    };
    let len = out.len() - 5;
    let len = u32::try_from(len)
        .map_err(|_| Status::resource_exhausted(format!("request of {len} bytes is over 4 GiB")))?;
    out[1..5].copy_from_slice(&len.to_be_bytes());
    Ok(Some((out.into(), name)))
}

/// The `grpc-timeout` header value for `t` (whole milliseconds, at most 8 digits).
fn grpc_timeout(t: Duration) -> HeaderValue {
    let ms = t.as_millis().clamp(1, 99_999_999);
    HeaderValue::from_str(&format!("{ms}m")).unwrap_or(HeaderValue::from_static("99999999m"))
}

/// Calls `path` on `channel` with the message `chunks` (the protobuf encoding of the request,
/// in order), `metadata` as headers and a `grpc-timeout` of `timeout`, and decodes the
/// response message with prost (at most `max_response` bytes).
///
/// # Errors
/// The call's gRPC status when it is not `OK`: the peer's (from the trailers, or from the HTTP
/// status per the gRPC HTTP-to-status mapping), or tonic's for a transport failure
/// ([`Status::from_error`]).
pub(super) async fn unary<R>(
    channel: &mut Channel,
    path: &'static str,
    metadata: &MetadataMap,
    timeout: Duration,
    (compression, params): (Compression, CompressionParams),
    chunks: &[Bytes],
    max_response: usize,
) -> Result<R, Status>
where
    R: prost::Message + Default + Send + 'static,
{
    let mut frames = VecDeque::with_capacity(chunks.len() + 1);
    let encoding = match compress(compression, params, chunks)? {
        Some((framed, name)) => {
            frames.push_back(framed);
            Some(name)
        }
        None => {
            let len = chunks.iter().map(Bytes::len).sum();
            frames.push_back(prefix(false, len)?);
            frames.extend(chunks.iter().filter(|c| !c.is_empty()).cloned());
            None
        }
    };
    let remaining = frames.iter().map(|b| b.len() as u64).sum();
    let mut req = http::Request::builder()
        .method(http::Method::POST)
        .version(http::Version::HTTP_2)
        .uri(path)
        .body(tonic::body::Body::new(Chunks { frames, remaining }))
        .map_err(|e| Status::internal(format!("building the request: {e}")))?;
    let headers = req.headers_mut();
    headers.extend(metadata.clone().into_headers());
    headers.insert(TE, HeaderValue::from_static("trailers"));
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    headers.insert("grpc-timeout", grpc_timeout(timeout));
    if let Some(name) = encoding {
        headers.insert("grpc-encoding", HeaderValue::from_static(name));
    }

    std::future::poll_fn(|cx| GrpcService::poll_ready(channel, cx))
        .await
        .map_err(|e| Status::unavailable(format!("channel not ready: {e}")))?;
    let resp = GrpcService::call(channel, req)
        .await
        .map_err(|e| Status::from_error(e.into()))?;

    // A trailers-only response carries its status in the headers.
    if let Some(status) = Status::from_header_map(resp.headers())
        && status.code() != Code::Ok
    {
        return Err(status);
    }
    let status = resp.status();
    let mut body = Streaming::new_response(
        tonic_prost::ProstDecoder::<R>::default(),
        resp.into_body(),
        status,
        None,
        Some(max_response),
    );
    let message = body
        .message()
        .await?
        .ok_or_else(|| Status::internal("missing response message"))?;
    // The trailers' status is checked as the body ends.
    body.trailers().await?;
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_the_prefix_then_the_chunks_ending_with_the_last() {
        let chunks = [Bytes::from_static(b"abc"), Bytes::from_static(b"defg")];
        let mut body = Chunks {
            frames: VecDeque::from([
                prefix(false, 7).unwrap(),
                chunks[0].clone(),
                chunks[1].clone(),
            ]),
            remaining: 12,
        };
        assert_eq!(body.size_hint().exact(), Some(12));
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        let mut out = Vec::new();
        while let Poll::Ready(Some(Ok(f))) = Pin::new(&mut body).poll_frame(&mut cx) {
            out.push(f.into_data().unwrap());
        }
        assert!(body.is_end_stream());
        assert_eq!(out[0].as_ref(), [0, 0, 0, 0, 7]);
        assert_eq!(out[1..].concat(), b"abcdefg");
        assert_eq!(body.size_hint().exact(), Some(0));
    }

    #[test]
    fn compressed_bodies_decompress_to_the_message() {
        let chunks = [Bytes::from_static(b"hello "), Bytes::from_static(b"world")];
        let d = CompressionParams::default();
        for level in [None, Some(1), Some(9)] {
            let p = CompressionParams { level };
            // The buffer carries its own prefix: compressed flag, then the length after it.
            let message = |framed: &Bytes| {
                assert_eq!(framed[0], 1);
                let len = u32::from_be_bytes(framed[1..5].try_into().unwrap()) as usize;
                assert_eq!(len, framed.len() - 5);
                framed.slice(5..)
            };
            let (gz, name) = compress(Compression::Gzip, p, &chunks).unwrap().unwrap();
            assert_eq!(name, "gzip");
            let mut out = String::new();
            let gz = message(&gz);
            std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut out)
                .unwrap();
            assert_eq!(out, "hello world");
            let (zs, name) = compress(Compression::Zstd, p, &chunks).unwrap().unwrap();
            assert_eq!(name, "zstd");
            assert_eq!(zstd::decode_all(&message(&zs)[..]).unwrap(), b"hello world");
        }
        assert!(compress(Compression::None, d, &chunks).unwrap().is_none());
        // The level is applied: on compressible data, 9 is smaller than 1.
        let big = [Bytes::from(
            (0..200_000u32)
                .map(|i| (i % 251) as u8 ^ (i / 7) as u8)
                .collect::<Vec<u8>>(),
        )];
        let size = |level| {
            let p = CompressionParams { level: Some(level) };
            compress(Compression::Gzip, p, &big)
                .unwrap()
                .unwrap()
                .0
                .len()
        };
        assert!(size(9) < size(1), "{} !< {}", size(9), size(1));
        // The default is the fastest level.
        let default = compress(Compression::Gzip, d, &big).unwrap().unwrap().0;
        assert_eq!(default.len(), size(1));
    }

    #[test]
    fn timeouts_are_whole_milliseconds() {
        assert_eq!(grpc_timeout(Duration::from_secs(5)), "5000m");
        assert_eq!(grpc_timeout(Duration::ZERO), "1m");
    }
}
