use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use strata_pipelines::{
    Accepted, BuildError, Component, ConfigError, ConsumeError, ConsumeResult, Exporter,
    ExporterFactory, Host, Logs, Metrics, Settings, ShutdownError, Signal, SignalData, StartError,
    Traces, YamlValue, config::parse_component, wire::Encoded,
};
use tonic::codec::{Codec, CompressionEncoding, EncodeBuf, Encoder};
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tracing::warn;

use super::{Compression, Config, TYPE};
use crate::classify::from_grpc_status;
use crate::helper::{HelperExporter, RequestSender};

/// Largest response accepted from the peer (responses are tiny; this bounds a broken peer).
const MAX_RESPONSE_BYTES: usize = 4 << 20;

/// One OTLP/gRPC export call for a signal: returns the peer's partial-success
/// `(rejected items, message)`. The request is encoded from a shared reference, so a retry does
/// not copy it.
pub trait GrpcExport: SignalData {
    /// The `Export` method path (`/opentelemetry.proto.collector.trace.v1.TraceService/Export`).
    const PATH: &'static str;
    /// The service's response type.
    type Response: prost::Message + Default + Send + 'static;
    /// `(rejected items, error message)` of the response's partial success.
    fn partial(resp: Self::Response) -> (i64, String);
}

macro_rules! grpc_export {
    ($t:ty, $resp:ty, $path:literal, $field:ident) => {
        impl GrpcExport for $t {
            const PATH: &'static str = $path;
            type Response = $resp;
            fn partial(resp: $resp) -> (i64, String) {
                resp.partial_success
                    .map(|p| (p.$field, p.error_message))
                    .unwrap_or_default()
            }
        }
    };
}
grpc_export!(
    Traces,
    opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse,
    "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    rejected_spans
);
grpc_export!(
    Metrics,
    opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse,
    "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    rejected_data_points
);
grpc_export!(
    Logs,
    opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse,
    "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
    rejected_log_records
);

/// A request body the gRPC codec can write: a shared decoded request (encoded by prost), or an
/// encoded one (its bytes copied as they are).
trait Outgoing: Send + Sync + 'static {
    fn write(&self, buf: &mut EncodeBuf<'_>) -> Result<(), tonic::Status>;
}

impl<T: prost::Message + 'static> Outgoing for Arc<T> {
    fn write(&self, buf: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        self.encode(buf)
            .map_err(|e| tonic::Status::internal(e.to_string()))
    }
}

impl<T: 'static> Outgoing for Encoded<T> {
    fn write(&self, buf: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        use bytes::BufMut;
        for chunk in self.chunks() {
            buf.put_slice(chunk);
        }
        Ok(())
    }
}

/// A gRPC codec that writes an [`Outgoing`] request and decodes the response with prost.
struct SharedCodec<I, U>(std::marker::PhantomData<fn(I) -> U>);

struct SharedEncoder<I>(std::marker::PhantomData<fn(I)>);

impl<I: Outgoing> Encoder for SharedEncoder<I> {
    type Item = I;
    type Error = tonic::Status;
    fn encode(&mut self, item: I, buf: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        item.write(buf)
    }
}

impl<I, U> Codec for SharedCodec<I, U>
where
    I: Outgoing,
    U: prost::Message + Default + Send + 'static,
{
    type Encode = I;
    type Decode = U;
    type Encoder = SharedEncoder<I>;
    type Decoder = tonic_prost::ProstDecoder<U>;
    fn encoder(&mut self) -> Self::Encoder {
        SharedEncoder(std::marker::PhantomData)
    }
    fn decoder(&mut self) -> Self::Decoder {
        tonic_prost::ProstDecoder::default()
    }
}

async fn export<T: GrpcExport, I: Outgoing>(
    channel: Channel,
    compression: Option<CompressionEncoding>,
    req: tonic::Request<I>,
) -> Result<(i64, String), tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(channel)
        .accept_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(MAX_RESPONSE_BYTES);
    if let Some(c) = compression {
        grpc = grpc.send_compressed(c);
    }
    grpc.ready()
        .await
        .map_err(|e| tonic::Status::unavailable(format!("channel not ready: {e}")))?;
    let codec = SharedCodec::<I, T::Response>(std::marker::PhantomData);
    let path = http::uri::PathAndQuery::from_static(T::PATH);
    let resp = grpc.unary(req, path, codec).await?;
    Ok(T::partial(resp.into_inner()))
}

/// The `otlp` exporter for one signal. The channel is created at `start` and connects lazily,
/// so a peer that is down at start does not stop the process; its requests fail retryably.
pub struct OtlpExporter<T> {
    id: strata_pipelines::ComponentId,
    cfg: Config,
    metadata: MetadataMap,
    channel: Mutex<Option<Channel>>,
    _signal: std::marker::PhantomData<fn(T)>,
}

impl<T: GrpcExport> OtlpExporter<T> {
    /// An exporter for `cfg` (validated).
    ///
    /// # Errors
    /// A header that is not valid gRPC metadata.
    pub fn new(id: strata_pipelines::ComponentId, cfg: Config) -> Result<Self, String> {
        let mut metadata = MetadataMap::new();
        for (k, v) in &cfg.headers {
            let key = MetadataKey::from_bytes(k.to_ascii_lowercase().as_bytes())
                .map_err(|e| format!("header {k}: {e}"))?;
            let val =
                MetadataValue::try_from(v.as_str()).map_err(|e| format!("header {k}: {e}"))?;
            metadata.insert(key, val);
        }
        Ok(OtlpExporter {
            id,
            cfg,
            metadata,
            channel: Mutex::new(None),
            _signal: std::marker::PhantomData,
        })
    }

    fn endpoint(&self) -> Result<Endpoint, String> {
        let mut ep = Endpoint::from_shared(self.cfg.uri()).map_err(|e| e.to_string())?;
        if !self.cfg.plaintext() {
            let mut tls = ClientTlsConfig::new().with_native_roots();
            let t = &self.cfg.tls;
            if let Some(ca) = &t.ca_file {
                let pem = std::fs::read(ca).map_err(|e| format!("{ca}: {e}"))?;
                tls = tls.ca_certificate(Certificate::from_pem(pem));
            }
            if let (Some(c), Some(k)) = (&t.cert_file, &t.key_file) {
                let cert = std::fs::read(c).map_err(|e| format!("{c}: {e}"))?;
                let key = std::fs::read(k).map_err(|e| format!("{k}: {e}"))?;
                tls = tls.identity(Identity::from_pem(cert, key));
            }
            if let Some(name) = &t.server_name_override {
                tls = tls.domain_name(name.clone());
            }
            ep = ep.tls_config(tls).map_err(|e| e.to_string())?;
        }
        Ok(ep
            .timeout(self.cfg.timeout)
            .connect_timeout(self.cfg.timeout))
    }
}

#[async_trait]
impl<T: GrpcExport> RequestSender<T> for OtlpExporter<T> {
    async fn send(&self, data: Arc<T>) -> ConsumeResult {
        self.call(data).await
    }

    fn sends_encoded(&self) -> bool {
        true
    }

    /// The request's bytes go out as they arrived: no decode, no re-encode.
    async fn send_encoded(&self, data: Encoded<T>) -> ConsumeResult {
        self.call(data).await
    }
}

impl<T: GrpcExport> OtlpExporter<T> {
    /// One `Export` call with `data`, decoded or encoded.
    async fn call<I: Outgoing>(&self, data: I) -> ConsumeResult {
        let channel = self
            .channel
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| {
                ConsumeError::retryable(format!("exporter {} is not started", self.id))
            })?;
        let compression = match self.cfg.compression {
            Compression::Gzip => Some(CompressionEncoding::Gzip),
            Compression::Zstd => Some(CompressionEncoding::Zstd),
            Compression::None => None,
        };
        let mut req = tonic::Request::new(data);
        *req.metadata_mut() = self.metadata.clone();
        req.set_timeout(self.cfg.timeout);
        match export::<T, I>(channel, compression, req).await {
            Ok((0, _)) => Ok(Accepted::all()),
            Ok((rejected, message)) => {
                warn!(exporter = %self.id, rejected, message = %message, "peer reported partial success");
                Ok(Accepted::rejecting(
                    u64::try_from(rejected).unwrap_or(0),
                    format!("{}: {message}", self.cfg.endpoint),
                ))
            }
            Err(status) => Err(from_grpc_status(&self.cfg.endpoint, &status)),
        }
    }
}

#[async_trait]
impl<T: GrpcExport> Component for OtlpExporter<T> {
    async fn start(&self, _host: &Host) -> Result<(), StartError> {
        let ep = self.endpoint().map_err(|e| StartError {
            id: self.id.clone(),
            source: e.into(),
        })?;
        *self.channel.lock().unwrap_or_else(|p| p.into_inner()) = Some(ep.connect_lazy());
        Ok(())
    }

    async fn shutdown(&self) -> Result<(), ShutdownError> {
        self.channel
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        Ok(())
    }
}

/// Factory of the `otlp` exporter, registered under `otlp` and under the alias `otlp_grpc`.
#[derive(Debug, Clone, Copy)]
pub struct Factory {
    name: &'static str,
}

impl Default for Factory {
    fn default() -> Self {
        Factory { name: TYPE }
    }
}

impl Factory {
    /// The factory under the alias `otlp_grpc`.
    pub fn alias() -> Self {
        Factory {
            name: super::TYPE_ALIAS,
        }
    }

    fn build<T: GrpcExport>(
        &self,
        set: Settings,
        cfg: YamlValue,
    ) -> Result<Arc<dyn Exporter<T>>, BuildError> {
        let c = parse_component::<Config>(&set.path(), cfg)?;
        let helper = c.helper();
        let e = OtlpExporter::new(set.id.clone(), c).map_err(|e| BuildError::Other {
            id: set.id.clone(),
            source: e.into(),
        })?;
        Ok(Arc::new(HelperExporter::new(&set, helper, Arc::new(e))))
    }
}

impl ExporterFactory for Factory {
    fn type_name(&self) -> &'static str {
        self.name
    }
    fn signals(&self) -> &'static [Signal] {
        &Signal::ALL
    }
    fn validate(&self, path: &str, cfg: &YamlValue) -> Result<(), ConfigError> {
        parse_component::<Config>(path, cfg.clone()).map(|_| ())
    }
    strata_pipelines::exporter_for_all_signals!();
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use strata_pipelines::testing::fake;

    use strata_pipelines::config::parse;

    use super::*;

    fn yaml(s: &str) -> YamlValue {
        serde_yaml_ng::from_str(s).unwrap()
    }

    #[test]
    fn config_defaults_testdata_and_errors() {
        let c: Config = parse("e", yaml("{}")).unwrap();
        assert_eq!(c, Config::default());
        // The default config has no endpoint, which validation reports.
        let e = parse_component::<Config>("exporters::otlp", yaml("{}")).unwrap_err();
        assert_eq!(e.path, "exporters::otlp::endpoint");
        let c = parse_component::<Config>("e", yaml(include_str!("testdata/config.yaml"))).unwrap();
        assert_eq!(c.compression, Compression::Zstd);
        assert_eq!(c.uri(), "http://collector.example:4317");
        assert_eq!(c.max_request_size, 2 << 20);
        assert_eq!(c.retry_on_failure.initial_interval, Duration::from_secs(10));
        assert_eq!(
            c.retry_on_failure.max_elapsed_time,
            Duration::from_secs(600)
        );
        assert_eq!(c.sending_queue.num_consumers, 2);
        assert_eq!(
            c.sending_queue.storage,
            Some("file_storage/otc".parse().unwrap())
        );
        for (bad, path) in [
            (
                "retry_on_failure: {multiplier: 0.5}",
                "e::retry_on_failure::multiplier",
            ),
            (
                "retry_on_failure: {randomization_factor: 2}",
                "e::retry_on_failure::randomization_factor",
            ),
            (
                "retry_on_failure: {initial_interval: 10s, max_interval: 1s}",
                "e::retry_on_failure::max_interval",
            ),
            (
                "sending_queue: {num_consumers: 0}",
                "e::sending_queue::num_consumers",
            ),
            (
                "sending_queue: {queue_size: 0}",
                "e::sending_queue::queue_size",
            ),
            ("sending_queue: {sizer: pages}", "e::sending_queue.sizer"),
            ("max_request_size: huge", "e::max_request_size"),
        ] {
            let e =
                parse_component::<Config>("e", yaml(&format!("endpoint: a:1\n{bad}"))).unwrap_err();
            assert!(
                e.path == path || e.path.replace('.', "::") == path.replace('.', "::"),
                "{bad}: {e}"
            );
        }
        let e =
            parse_component::<Config>("e", yaml("endpoint: a:1\ncompresion: gzip")).unwrap_err();
        assert!(e.message.contains("unknown field `compresion`"), "{e}");
        let e = parse_component::<Config>(
            "e",
            yaml("endpoint: a:1\ntls: {ca_file: /nonexistent/ca.pem}"),
        )
        .unwrap_err();
        assert_eq!(e.path, "e::tls::ca_file");
        let e = parse_component::<Config>(
            "e",
            yaml("endpoint: a:1\ntls: {insecure_skip_verify: true}"),
        )
        .unwrap_err();
        assert_eq!(e.path, "e::tls::insecure_skip_verify");
        let e =
            parse_component::<Config>("e", yaml("endpoint: a:1\ntimeout: 5 parsecs")).unwrap_err();
        assert_eq!(e.path, "e::timeout");
    }

    #[tokio::test]
    async fn peer_down_is_retryable() {
        // Bind and drop a listener to get a port nothing listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cfg = Config {
            endpoint: format!("127.0.0.1:{port}"),
            tls: strata_pipelines::tls::TlsClientConfig {
                insecure: true,
                ..Default::default()
            },
            timeout: Duration::from_secs(2),
            ..Config::default()
        };
        let e = OtlpExporter::<Traces>::new("otlp".parse().unwrap(), cfg).unwrap();
        e.start(&Host::default()).await.unwrap();
        let err = e.send(Arc::new(fake::traces(1, 1))).await.unwrap_err();
        assert!(err.is_retryable(), "{err}");
    }
}
