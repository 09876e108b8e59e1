//! Client TLS settings shared by exporters and scraping receivers (`tls:` in the Collector's configtls shape), built on
//! rustls with the `ring` provider.

use std::io::BufReader;
use std::sync::Arc;

use crate::config::ConfigError;
use serde::Deserialize;

/// `tls:` of a client. Plaintext only when `insecure: true` says so (or an `http://` endpoint).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsClientConfig {
    /// Send plaintext (no TLS). Default `false`.
    pub insecure: bool,
    /// PEM file of the CA(s) to verify the server with; the system roots when unset.
    pub ca_file: Option<String>,
    /// PEM client certificate for mTLS (requires `key_file`).
    pub cert_file: Option<String>,
    /// PEM private key for mTLS (requires `cert_file`).
    pub key_file: Option<String>,
    /// Server name to verify instead of the endpoint's host.
    pub server_name_override: Option<String>,
    /// Accept any server certificate (the connection is still encrypted). For BMCs and test
    /// rigs with self-signed certificates only; logged as a warning by the components.
    pub insecure_skip_verify: bool,
}

impl TlsClientConfig {
    /// Checks that files named exist and that `cert_file` and `key_file` come together.
    ///
    /// # Errors
    /// A missing file or a lone `cert_file`/`key_file`, with its path under `path`.
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        if self.cert_file.is_some() != self.key_file.is_some() {
            return Err(ConfigError::new(
                format!("{path}::cert_file"),
                "cert_file and key_file must be set together",
            ));
        }
        for (name, f) in [
            ("ca_file", &self.ca_file),
            ("cert_file", &self.cert_file),
            ("key_file", &self.key_file),
        ] {
            if let Some(f) = f
                && let Err(e) = std::fs::metadata(f)
            {
                return Err(ConfigError::new(
                    format!("{path}::{name}"),
                    format!("{f}: {e}"),
                ));
            }
        }
        Ok(())
    }

    /// A rustls client config for these settings (roots: `ca_file`, else the system's).
    ///
    /// # Errors
    /// An unreadable or invalid PEM file.
    pub fn rustls_config(&self) -> Result<rustls::ClientConfig, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        match &self.ca_file {
            Some(ca) => {
                for cert in read_certs(ca)? {
                    roots.add(cert).map_err(|e| format!("{ca}: {e}"))?;
                }
            }
            None => {
                for cert in rustls_native_certs::load_native_certs().certs {
                    let _ = roots.add(cert);
                }
            }
        }
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?;
        let builder = if self.insecure_skip_verify {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider)))
        } else {
            builder.with_root_certificates(roots)
        };
        match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => {
                let certs = read_certs(cert)?;
                let mut r =
                    BufReader::new(std::fs::File::open(key).map_err(|e| format!("{key}: {e}"))?);
                let key_der = rustls_pemfile::private_key(&mut r)
                    .map_err(|e| format!("{key}: {e}"))?
                    .ok_or_else(|| format!("{key}: no private key found"))?;
                builder
                    .with_client_auth_cert(certs, key_der)
                    .map_err(|e| format!("{cert}: {e}"))
            }
            _ => Ok(builder.with_no_client_auth()),
        }
    }
}

fn read_certs(path: &str) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, String> {
    let mut r = BufReader::new(std::fs::File::open(path).map_err(|e| format!("{path}: {e}"))?);
    let certs: Result<Vec<_>, _> = rustls_pemfile::certs(&mut r).collect();
    let certs = certs.map_err(|e| format!("{path}: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{path}: no PEM certificate found"));
    }
    Ok(certs)
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
