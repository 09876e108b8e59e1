//! TLS settings in the Collector's configtls shape, built on rustls with the `ring` provider:
//! [`TlsClientConfig`] for exporters and scraping receivers, [`TlsServerConfig`] for every
//! listener. Both reload their files when the content changes ([`reload`]).

pub mod reload;
pub mod server;

use std::sync::Arc;
use std::time::Duration;

pub use reload::Reloading;
pub use server::TlsServerConfig;

use crate::config::ConfigError;
use serde::Deserialize;

/// `tls:` of a client. Plaintext only when `insecure: true` says so (or an `http://` endpoint).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsClientConfig {
    /// Send plaintext (no TLS). Default `false`.
    pub insecure: bool,
    /// PEM file of the CA(s) to verify the server with; the system roots when unset.
    #[serde(deserialize_with = "empty_none")]
    pub ca_file: Option<String>,
    /// PEM client certificate for mTLS (requires `key_file`).
    #[serde(deserialize_with = "empty_none")]
    pub cert_file: Option<String>,
    /// PEM private key for mTLS (requires `cert_file`).
    #[serde(deserialize_with = "empty_none")]
    pub key_file: Option<String>,
    /// Server name to verify instead of the endpoint's host.
    #[serde(deserialize_with = "empty_none")]
    pub server_name_override: Option<String>,
    /// Accept any server certificate (the connection is still encrypted). For BMCs and test
    /// rigs with self-signed certificates only; logged as a warning by the components.
    pub insecure_skip_verify: bool,
    /// Inline PEM for `ca_file` (one of the two).
    #[serde(deserialize_with = "empty_none")]
    pub ca_pem: Option<String>,
    /// Inline PEM for `cert_file`.
    #[serde(deserialize_with = "empty_none")]
    pub cert_pem: Option<String>,
    /// Inline PEM for `key_file`.
    #[serde(deserialize_with = "empty_none")]
    pub key_pem: Option<String>,
    /// Trust the system's CAs as well as `ca_file`/`ca_pem` (without either, the system's are
    /// used anyway).
    pub include_system_ca_certs_pool: bool,
    /// TLS 1.2 cipher suites allowed, by IANA name; empty = rustls's defaults (TLS 1.3 suites
    /// are not configurable, as in Go).
    pub cipher_suites: Vec<String>,
    /// Key-exchange groups in order of preference (`X25519`, `P256`, `P384`).
    pub curve_preferences: Vec<String>,
    /// Lowest TLS version offered (`"1.2"` default, `"1.3"`).
    #[serde(deserialize_with = "empty_none")]
    pub min_version: Option<String>,
    /// Highest TLS version offered (default `"1.3"`).
    #[serde(deserialize_with = "empty_none")]
    pub max_version: Option<String>,
    /// How often `ca_file`, `cert_file` and `key_file` are looked at for new content; new
    /// connections use new material (humantime, `0s` = never). Default `1m`.
    #[serde(with = "humantime_serde")]
    pub reload_interval: Duration,
}

impl Default for TlsClientConfig {
    fn default() -> Self {
        TlsClientConfig {
            insecure: false,
            ca_file: None,
            cert_file: None,
            key_file: None,
            server_name_override: None,
            insecure_skip_verify: false,
            ca_pem: None,
            cert_pem: None,
            key_pem: None,
            include_system_ca_certs_pool: false,
            cipher_suites: Vec::new(),
            curve_preferences: Vec::new(),
            min_version: None,
            max_version: None,
            reload_interval: Duration::from_secs(60),
        }
    }
}

/// An optional setting where an empty string means unset, so a profile can name a file
/// through `${env:VAR:-}` and leave it out when the variable is empty.
pub fn empty_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.filter(|s| !s.trim().is_empty()))
}

impl TlsClientConfig {
    /// Checks that files named exist and that `cert_file` and `key_file` come together.
    ///
    /// # Errors
    /// A missing file or a lone `cert_file`/`key_file`, with its path under `path`.
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        for (file_key, file, pem_key, pem) in [
            ("ca_file", &self.ca_file, "ca_pem", &self.ca_pem),
            ("cert_file", &self.cert_file, "cert_pem", &self.cert_pem),
            ("key_file", &self.key_file, "key_pem", &self.key_pem),
        ] {
            if file.is_some() && pem.is_some() {
                return Err(ConfigError::new(
                    format!("{path}::{pem_key}"),
                    format!("set either {file_key} or {pem_key}, not both"),
                ));
            }
        }
        let has_cert = self.cert_file.is_some() || self.cert_pem.is_some();
        let has_key = self.key_file.is_some() || self.key_pem.is_some();
        if has_cert != has_key {
            return Err(ConfigError::new(
                format!("{path}::cert_file"),
                "a client certificate needs its key: set cert_file and key_file (or cert_pem and key_pem) together",
            ));
        }
        server::provider(path, &self.cipher_suites, &self.curve_preferences)?;
        for (name, f) in [
            ("ca_file", &self.ca_file),
            ("cert_file", &self.cert_file),
            ("key_file", &self.key_file),
        ] {
            if let Some(f) = f
                && let Err(e) = std::fs::metadata(f)
            {
                return Err(ConfigError::file(format!("{path}::{name}"), f, &e));
            }
        }
        server::versions(
            path,
            self.min_version.as_deref(),
            self.max_version.as_deref(),
        )?;
        if self.insecure {
            return Ok(());
        }
        let snap = reload::snapshot(&self.files()).map_err(|e| ConfigError::new(path, e))?;
        self.build_from(&snap)
            .map(|_| ())
            .map_err(|e| ConfigError::new(path, e))
    }

    fn files(&self) -> Vec<String> {
        [&self.ca_file, &self.cert_file, &self.key_file]
            .into_iter()
            .flatten()
            .cloned()
            .collect()
    }

    /// The client config, reloaded when its files change, announcing `alpn` (`[b"h2"]` for
    /// gRPC). `what` names the settings in logs and metrics.
    ///
    /// # Errors
    /// An unreadable or invalid file, or bad versions.
    pub fn reloading(
        &self,
        what: &str,
        alpn: &[&[u8]],
    ) -> Result<Arc<Reloading<rustls::ClientConfig>>, String> {
        let cfg = self.clone();
        let alpn: Vec<Vec<u8>> = alpn.iter().map(|a| a.to_vec()).collect();
        let interval = Some(self.reload_interval).filter(|d| !d.is_zero());
        Reloading::new(what, self.files(), interval, move |snap| {
            let mut c = cfg.build_from(snap)?;
            c.alpn_protocols = alpn.clone();
            Ok(c)
        })
    }

    /// A rustls client config for these settings (roots: `ca_file`, else the system's), read
    /// from the files now.
    ///
    /// # Errors
    /// An unreadable or invalid PEM file.
    pub fn rustls_config(&self) -> Result<rustls::ClientConfig, String> {
        self.build_from(&reload::snapshot(&self.files())?)
    }

    fn build_from(&self, snap: &reload::Snapshot) -> Result<rustls::ClientConfig, String> {
        let provider = server::provider("tls", &self.cipher_suites, &self.curve_preferences)
            .map_err(|e| e.message)?;
        let ca: Option<(&str, &[u8])> = match (&self.ca_file, &self.ca_pem) {
            (Some(f), _) => Some((f.as_str(), reload::file(snap, f)?)),
            (None, Some(p)) => Some(("ca_pem", p.as_bytes())),
            (None, None) => None,
        };
        let roots = match ca {
            Some((what, pem)) => {
                let mut roots = server::parse_roots(what, pem)?;
                if self.include_system_ca_certs_pool {
                    server::add_system_roots(&mut roots);
                }
                roots
            }
            None => {
                let mut roots = rustls::RootCertStore::empty();
                server::add_system_roots(&mut roots);
                roots
            }
        };
        let versions = server::versions(
            "tls",
            self.min_version.as_deref(),
            self.max_version.as_deref(),
        )
        .map_err(|e| e.message)?;
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)
            .map_err(|e| e.to_string())?;
        let builder = if self.insecure_skip_verify {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider)))
        } else {
            builder.with_root_certificates(roots)
        };
        let cert: Option<(&str, &[u8])> = match (&self.cert_file, &self.cert_pem) {
            (Some(f), _) => Some((f.as_str(), reload::file(snap, f)?)),
            (None, Some(p)) => Some(("cert_pem", p.as_bytes())),
            (None, None) => None,
        };
        let key: Option<(&str, &[u8])> = match (&self.key_file, &self.key_pem) {
            (Some(f), _) => Some((f.as_str(), reload::file(snap, f)?)),
            (None, Some(p)) => Some(("key_pem", p.as_bytes())),
            (None, None) => None,
        };
        match (cert, key) {
            (Some((cert_name, cert)), Some((key_name, key))) => {
                let certs = server::parse_certs(cert_name, cert)?;
                let key_der = server::parse_key(key_name, key)?;
                builder
                    .with_client_auth_cert(certs, key_der)
                    .map_err(|e| format!("{cert_name}: {e}"))
            }
            _ => Ok(builder.with_no_client_auth()),
        }
    }
}

/// The verifier behind `insecure_skip_verify`: any certificate chain is accepted, but the
/// handshake signatures are still checked, so the session keys are the peer's.
#[derive(Debug)]
struct AcceptAnyCert(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
