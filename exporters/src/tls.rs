//! Client TLS settings shared by exporters (`tls:` in the Collector's configtls shape), built on
//! rustls with the `ring` provider.

use std::io::BufReader;
use std::sync::Arc;

use serde::Deserialize;
use strata_pipelines::ConfigError;

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
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots);
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
