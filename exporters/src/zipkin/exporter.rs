use std::sync::Arc;

use async_trait::async_trait;
use strata_pipelines::{
    Accepted, BuildError, Component, ComponentId, ConfigError, ConsumeError, ConsumeResult,
    Exporter, ExporterFactory, Host, Settings, ShutdownError, Signal, StartError, Traces,
    YamlValue, config::parse_component,
};
use strata_translators::zipkin::{FromOtlpOptions, from_otlp};
use tracing::warn;

use super::config::ZipkinCompression;
use super::{Config, TYPE};
use crate::helper::{HelperExporter, RequestSender};

/// Largest response body read from the peer.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// The `zipkin` exporter: one attempt at posting a request's spans as Zipkin v2 JSON.
pub struct ZipkinExporter {
    id: ComponentId,
    cfg: Config,
    opts: FromOtlpOptions,
    client: crate::http_client::HttpClient,
}

impl ZipkinExporter {
    /// An exporter for `cfg` (validated).
    ///
    /// # Errors
    /// Unusable TLS files or headers.
    pub fn new(id: ComponentId, cfg: Config) -> Result<Self, String> {
        let client = crate::http_client::HttpClient::new(
            format!("exporters::{id}::tls"),
            &cfg.headers,
            cfg.timeout,
            &cfg.tls,
        )?;
        Ok(ZipkinExporter {
            id,
            opts: FromOtlpOptions {
                default_service_name: cfg.default_service_name.clone(),
            },
            cfg,
            client,
        })
    }

    /// The JSON body (`ListOfSpans`) for `data`, and how many spans could not be written.
    ///
    /// # Errors
    /// Only if serialisation fails (it does not for these types).
    pub fn body(&self, data: &Traces) -> Result<(Vec<u8>, usize, usize), ConsumeError> {
        let (spans, invalid) = from_otlp(data, &self.opts);
        let body = if self.cfg.format == "proto" {
            strata_translators::zipkin::proto::encode(&spans)
        } else {
            serde_json::to_vec(&spans).map_err(ConsumeError::permanent)?
        };
        Ok((body, spans.len(), invalid))
    }
}

#[async_trait]
impl RequestSender<Traces> for ZipkinExporter {
    async fn send(&self, data: Arc<Traces>) -> ConsumeResult {
        let (json, written, invalid) = self.body(&data)?;
        let rejected = |n: usize| {
            warn!(exporter = %self.id, spans = n, "spans with invalid trace or span ids dropped");
            Accepted::rejecting(
                n as u64,
                format!("{n} spans have invalid trace or span ids for Zipkin"),
            )
        };
        if written == 0 {
            return Ok(if invalid > 0 {
                rejected(invalid)
            } else {
                Accepted::all()
            });
        }
        let url = &self.cfg.endpoint;
        let mut req = self
            .client
            .authorize(self.client.client().post(url).header(
                http::header::CONTENT_TYPE,
                if self.cfg.format == "proto" {
                    "application/x-protobuf"
                } else {
                    "application/json"
                },
            ))?;
        req = match self.cfg.compression {
            ZipkinCompression::None => req.body(json),
            ZipkinCompression::Gzip => req
                .header(http::header::CONTENT_ENCODING, "gzip")
                .body(crate::http_client::gzip(&json).map_err(ConsumeError::permanent)?),
        };
        let resp = req
            .send()
            .await
            .map_err(|e| ConsumeError::retryable(format!("export to {url} failed: {e}")))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(if invalid > 0 {
                rejected(invalid)
            } else {
                Accepted::all()
            });
        }
        let retry_after = resp.headers().get(http::header::RETRY_AFTER).cloned();
        let body = resp.bytes().await.unwrap_or_default();
        Err(crate::http_client::failure(
            url,
            status,
            retry_after.as_ref(),
            &body[..body.len().min(MAX_RESPONSE_BYTES)],
        ))
    }
}

#[async_trait]
impl Component for ZipkinExporter {
    async fn start(&self, host: &Host) -> Result<(), StartError> {
        self.client
            .start(host, self.cfg.auth.as_ref())
            .map_err(|e| StartError {
                id: self.id.clone(),
                source: e.into(),
            })
    }
    async fn shutdown(&self) -> Result<(), ShutdownError> {
        self.client.shutdown();
        Ok(())
    }
}

/// Factory of the `zipkin` exporter (traces only).
#[derive(Debug, Default)]
pub struct Factory;

impl ExporterFactory for Factory {
    fn type_name(&self) -> &'static str {
        TYPE
    }
    fn signals(&self) -> &'static [Signal] {
        &[Signal::Traces]
    }
    fn validate(&self, path: &str, cfg: &YamlValue) -> Result<(), ConfigError> {
        parse_component::<Config>(path, cfg.clone()).map(|_| ())
    }
    fn create_traces(
        &self,
        set: Settings,
        cfg: YamlValue,
    ) -> Result<Arc<dyn Exporter<Traces>>, BuildError> {
        let c = parse_component::<Config>(&set.path(), cfg)?;
        let helper = c.helper();
        let e = ZipkinExporter::new(set.id.clone(), c).map_err(|e| BuildError::Other {
            id: set.id.clone(),
            source: e.into(),
        })?;
        Ok(Arc::new(HelperExporter::new(&set, helper, Arc::new(e))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(s: &str) -> YamlValue {
        serde_yaml_ng::from_str(s).unwrap()
    }

    #[test]
    fn config_testdata_and_errors() {
        let c = parse_component::<Config>("e", yaml(include_str!("testdata/config.yaml"))).unwrap();
        assert_eq!(c.compression, ZipkinCompression::Gzip);
        assert_eq!(c.default_service_name, "dpu-agent");
        assert_eq!(c.timeout, std::time::Duration::from_secs(3));
        let e = parse_component::<Config>("e", yaml("{}")).unwrap_err();
        assert_eq!(e.path, "e::endpoint");
        let e = parse_component::<Config>("e", yaml("endpoint: zipkin:9411")).unwrap_err();
        assert!(e.message.contains("invalid URL"), "{e}");
        let c =
            parse_component::<Config>("e", yaml("endpoint: http://z:9411\nformat: proto")).unwrap();
        assert_eq!(c.format, "proto");
        let e = parse_component::<Config>("e", yaml("endpoint: http://z:9411\nformat: thrift"))
            .unwrap_err();
        assert_eq!(e.path, "e::format");
        let e = parse_component::<Config>("e", yaml("endpoint: http://z:9411\ncompression: lz4"))
            .unwrap_err();
        assert_eq!(e.path, "e::compression");
    }
}
