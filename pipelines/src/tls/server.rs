//! Server TLS settings (`tls:` under a receiver protocol or a served endpoint), in the shape
//! of the Collector's `configtls.ServerConfig`, built on rustls with the `ring` provider and
//! reloaded when the files' content changes ([`super::reload`]).

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::reload::{Reloading, Snapshot, file};
use crate::config::ConfigError;

/// `tls:` of a server. Present = TLS; `client_ca_file` set = client certificates required
/// (mTLS).
///
/// ```yaml
/// tls:
///   cert_file: /etc/strata/tls/tls.crt     # or cert_pem: "-----BEGIN CERTIFICATE-----..."
///   key_file: /etc/strata/tls/tls.key      # or key_pem
///   client_ca_file: /etc/strata/tls/ca.crt # mTLS: clients must present a certificate it signed
///   min_version: "1.2"                     # default "1.2"; rustls speaks 1.2 and 1.3
///   max_version: "1.3"
///   cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]   # TLS 1.2 suites; 1.3 ones always on
///   reload_interval: 1m                    # default 1m; 0s = never
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsServerConfig {
    /// PEM file of the server certificate chain (leaf first).
    #[serde(deserialize_with = "super::empty_none")]
    pub cert_file: Option<String>,
    /// The certificate chain as inline PEM (instead of `cert_file`).
    #[serde(deserialize_with = "super::empty_none")]
    pub cert_pem: Option<String>,
    /// PEM file of the server's private key (PKCS#8, PKCS#1 or SEC1).
    #[serde(deserialize_with = "super::empty_none")]
    pub key_file: Option<String>,
    /// The private key as inline PEM (instead of `key_file`).
    #[serde(deserialize_with = "super::empty_none")]
    pub key_pem: Option<String>,
    /// A CA file, as in the Collector's server config: checked and watched, not used to verify
    /// clients (that is `client_ca_file`).
    #[serde(deserialize_with = "super::empty_none")]
    pub ca_file: Option<String>,
    /// Inline PEM for `ca_file`.
    #[serde(deserialize_with = "super::empty_none")]
    pub ca_pem: Option<String>,
    /// PEM file of the CA(s) that sign client certificates. Set = mTLS: a client without a
    /// certificate signed by one of them fails the handshake.
    #[serde(deserialize_with = "super::empty_none")]
    pub client_ca_file: Option<String>,
    /// Lowest TLS version accepted: `"1.0"`, `"1.1"`, `"1.2"` (default) or `"1.3"`. rustls
    /// implements 1.2 and 1.3 only, so `"1.0"`/`"1.1"` mean 1.2.
    #[serde(deserialize_with = "super::empty_none")]
    pub min_version: Option<String>,
    /// Highest TLS version accepted (`"1.2"` or `"1.3"`; default the highest).
    #[serde(deserialize_with = "super::empty_none")]
    pub max_version: Option<String>,
    /// TLS 1.2 cipher suites allowed, by IANA name (`TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`);
    /// empty = rustls's defaults. TLS 1.3 suites are not configurable (as in Go).
    pub cipher_suites: Vec<String>,
    /// Key-exchange groups in order of preference (`X25519`, `P256`, `P384`); empty = rustls's
    /// defaults.
    pub curve_preferences: Vec<String>,
    /// Verify client certificates against the system's CAs too (with `client_ca_file`).
    pub include_system_ca_certs_pool: bool,
    /// `client_ca_file` is re-read when its content changes. Strata always does this for every
    /// TLS file every `reload_interval`, so `false` does not turn it off.
    pub client_ca_file_reload: bool,
    /// How often the files are looked at for new content (humantime; `0s` = never). Default
    /// `1m`.
    #[serde(with = "humantime_serde")]
    pub reload_interval: Duration,
}

impl Default for TlsServerConfig {
    fn default() -> Self {
        TlsServerConfig {
            cert_file: None,
            cert_pem: None,
            key_file: None,
            key_pem: None,
            ca_file: None,
            ca_pem: None,
            client_ca_file: None,
            min_version: None,
            max_version: None,
            cipher_suites: Vec::new(),
            curve_preferences: Vec::new(),
            include_system_ca_certs_pool: false,
            client_ca_file_reload: false,
            reload_interval: Duration::from_secs(60),
        }
    }
}

/// A TLS version as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    /// TLS 1.0 (not implemented by rustls: means 1.2 as a minimum).
    V1_0,
    /// TLS 1.1 (not implemented by rustls: means 1.2 as a minimum).
    V1_1,
    /// TLS 1.2.
    V1_2,
    /// TLS 1.3.
    V1_3,
}

/// Parses a configured version (`"1.2"`).
///
/// # Errors
/// Anything but 1.0, 1.1, 1.2 and 1.3.
pub fn parse_version(s: &str) -> Result<TlsVersion, String> {
    match s.trim() {
        "1.0" => Ok(TlsVersion::V1_0),
        "1.1" => Ok(TlsVersion::V1_1),
        "1.2" => Ok(TlsVersion::V1_2),
        "1.3" => Ok(TlsVersion::V1_3),
        other => Err(format!(
            "unknown TLS version {other:?} (expected \"1.0\", \"1.1\", \"1.2\" or \"1.3\")"
        )),
    }
}

/// The rustls protocol versions between `min` and `max` (defaults 1.2 and 1.3).
///
/// # Errors
/// An unknown version, `min` above `max`, or a range without 1.2 or 1.3.
pub fn versions(
    path: &str,
    min: Option<&str>,
    max: Option<&str>,
) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, ConfigError> {
    let min_v = match min {
        Some(s) => {
            parse_version(s).map_err(|e| ConfigError::new(format!("{path}::min_version"), e))?
        }
        None => TlsVersion::V1_2,
    };
    let max_v = match max {
        Some(s) => {
            parse_version(s).map_err(|e| ConfigError::new(format!("{path}::max_version"), e))?
        }
        None => TlsVersion::V1_3,
    };
    if max_v < TlsVersion::V1_2 {
        return Err(ConfigError::new(
            format!("{path}::max_version"),
            "TLS 1.0 and 1.1 are not supported (rustls implements TLS 1.2 and 1.3)",
        ));
    }
    if min_v > max_v {
        return Err(ConfigError::new(
            format!("{path}::min_version"),
            format!(
                "min_version {:?} is above max_version {:?}",
                min.unwrap_or("1.2"),
                max.unwrap_or("1.3")
            ),
        ));
    }
    let mut out = Vec::new();
    if min_v <= TlsVersion::V1_2 && max_v >= TlsVersion::V1_2 {
        out.push(&rustls::version::TLS12);
    }
    if max_v >= TlsVersion::V1_3 {
        out.push(&rustls::version::TLS13);
    }
    if out.is_empty() {
        return Err(ConfigError::new(
            format!("{path}::max_version"),
            "TLS 1.0 and 1.1 are not supported (rustls implements TLS 1.2 and 1.3)",
        ));
    }
    Ok(out)
}

/// The ring provider restricted to `names` for TLS 1.2 (TLS 1.3 suites always kept, as in
/// Go's crypto/tls) and to the key-exchange groups `curves` in that order of preference (Go's
/// names, configtls `curve_preferences`: `X25519`, `P256`, `P384`; ring has no `P521` or
/// `X25519MLKEM768`). Empty lists keep rustls's defaults.
///
/// # Errors
/// A name that is not a TLS 1.2 suite rustls implements, or a curve ring does not have.
pub fn provider(
    path: &str,
    names: &[String],
    curves: &[String],
) -> Result<Arc<rustls::crypto::CryptoProvider>, ConfigError> {
    let mut p = rustls::crypto::ring::default_provider();
    if !curves.is_empty() {
        let all = p.kx_groups.clone();
        let mut chosen = Vec::new();
        for c in curves {
            let want = match c.as_str() {
                "X25519" => rustls::NamedGroup::X25519,
                "P256" | "P-256" => rustls::NamedGroup::secp256r1,
                "P384" | "P-384" => rustls::NamedGroup::secp384r1,
                other => {
                    return Err(ConfigError::new(
                        format!("{path}::curve_preferences"),
                        format!(
                            "curve {other:?} is not offered by Strata's TLS provider (rustls with ring): use X25519, P256 or P384"
                        ),
                    ));
                }
            };
            if let Some(g) = all.iter().find(|g| g.name() == want) {
                chosen.push(*g);
            }
        }
        p.kx_groups = chosen;
    }
    if names.is_empty() {
        return Ok(Arc::new(p));
    }
    let known: Vec<String> = p
        .cipher_suites
        .iter()
        .map(|s| format!("{:?}", s.suite()))
        .collect();
    for n in names {
        if !known.iter().any(|k| k == n) || n.starts_with("TLS13_") {
            return Err(ConfigError::new(
                format!("{path}::cipher_suites"),
                format!(
                    "unknown or unsupported TLS 1.2 cipher suite {n:?} (supported: {})",
                    known
                        .iter()
                        .filter(|k| !k.starts_with("TLS13_"))
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }
    p.cipher_suites.retain(|s| {
        let name = format!("{:?}", s.suite());
        name.starts_with("TLS13_") || names.contains(&name)
    });
    Ok(Arc::new(p))
}

/// The system's trust anchors (`include_system_ca_certs_pool`), added to `roots`.
pub fn add_system_roots(roots: &mut rustls::RootCertStore) {
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
}

/// Parses PEM certificates.
///
/// # Errors
/// Not PEM, or no certificate in it.
pub fn parse_certs(
    what: &str,
    pem: &[u8],
) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, String> {
    let certs: Result<Vec<_>, _> = rustls_pemfile::certs(&mut &pem[..]).collect();
    let certs = certs.map_err(|e| format!("{what}: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{what}: no PEM certificate found"));
    }
    Ok(certs)
}

/// Parses a PEM private key.
///
/// # Errors
/// Not PEM, or no key in it. The message never contains key material.
pub fn parse_key(
    what: &str,
    pem: &[u8],
) -> Result<rustls::pki_types::PrivateKeyDer<'static>, String> {
    rustls_pemfile::private_key(&mut &pem[..])
        .map_err(|e| format!("{what}: {e}"))?
        .ok_or_else(|| format!("{what}: no PEM private key found"))
}

/// A root store from PEM CA certificates.
///
/// # Errors
/// Not PEM, no certificate, or a certificate rustls refuses as a trust anchor.
pub fn parse_roots(what: &str, pem: &[u8]) -> Result<rustls::RootCertStore, String> {
    let mut roots = rustls::RootCertStore::empty();
    for c in parse_certs(what, pem)? {
        roots.add(c).map_err(|e| format!("{what}: {e}"))?;
    }
    Ok(roots)
}

fn one_of(
    path: &str,
    file_key: &str,
    file: &Option<String>,
    pem_key: &str,
    pem: &Option<String>,
) -> Result<(), ConfigError> {
    if file.is_some() && pem.is_some() {
        return Err(ConfigError::new(
            format!("{path}::{pem_key}"),
            format!("set either {file_key} or {pem_key}, not both"),
        ));
    }
    Ok(())
}

impl TlsServerConfig {
    /// The files to watch.
    fn files(&self) -> Vec<String> {
        [
            &self.cert_file,
            &self.key_file,
            &self.ca_file,
            &self.client_ca_file,
        ]
        .into_iter()
        .flatten()
        .cloned()
        .collect()
    }

    /// Checks the settings and that every file exists and parses, so `strata validate`
    /// refuses what the server would fail on.
    ///
    /// # Errors
    /// The first problem, with its path under `path` (`...::tls::key_file`): a certificate
    /// without a key (or the reverse), a file and a PEM for the same item, an unknown version,
    /// `min_version` above `max_version`, an unknown cipher suite, a file that is missing or
    /// does not parse, a key that does not match the certificate.
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        one_of(
            path,
            "cert_file",
            &self.cert_file,
            "cert_pem",
            &self.cert_pem,
        )?;
        one_of(path, "key_file", &self.key_file, "key_pem", &self.key_pem)?;
        one_of(path, "ca_file", &self.ca_file, "ca_pem", &self.ca_pem)?;
        let has_cert = self.cert_file.is_some() || self.cert_pem.is_some();
        let has_key = self.key_file.is_some() || self.key_pem.is_some();
        match (has_cert, has_key) {
            (true, false) => {
                return Err(ConfigError::new(
                    format!("{path}::key_file"),
                    "a certificate needs its key: set key_file or key_pem",
                ));
            }
            (false, true) => {
                return Err(ConfigError::new(
                    format!("{path}::cert_file"),
                    "a key needs its certificate: set cert_file or cert_pem",
                ));
            }
            (false, false) => {
                return Err(ConfigError::new(
                    format!("{path}::cert_file"),
                    "a TLS server needs a certificate and key (cert_file and key_file, or cert_pem and key_pem)",
                ));
            }
            (true, true) => {}
        }
        versions(
            path,
            self.min_version.as_deref(),
            self.max_version.as_deref(),
        )?;
        provider(path, &self.cipher_suites, &self.curve_preferences)?;
        let files = self.files();
        for (key, f) in [
            ("cert_file", &self.cert_file),
            ("key_file", &self.key_file),
            ("ca_file", &self.ca_file),
            ("client_ca_file", &self.client_ca_file),
        ] {
            if let Some(f) = f
                && let Err(e) = std::fs::read(f)
            {
                return Err(ConfigError::file(format!("{path}::{key}"), f, &e));
            }
        }
        let snap = super::reload::snapshot(&files).map_err(|e| ConfigError::new(path, e))?;
        self.material(&snap)
            .map(|_| ())
            .map_err(|(key, e)| ConfigError::new(format!("{path}::{key}"), e))
    }

    /// The parsed material from a snapshot of the files: `Err((key, message))` names the
    /// setting at fault.
    #[allow(clippy::type_complexity)] // a private helper's tuple, named where it is used
    fn material(
        &self,
        snap: &Snapshot,
    ) -> Result<
        (
            Vec<rustls::pki_types::CertificateDer<'static>>,
            rustls::pki_types::PrivateKeyDer<'static>,
            Option<rustls::RootCertStore>,
        ),
        (&'static str, String),
    > {
        let cert_pem: &[u8] = match (&self.cert_file, &self.cert_pem) {
            (Some(f), _) => file(snap, f).map_err(|e| ("cert_file", e))?,
            (None, Some(p)) => p.as_bytes(),
            (None, None) => return Err(("cert_file", "no certificate".into())),
        };
        let cert_name = self.cert_file.as_deref().unwrap_or("cert_pem");
        let certs = parse_certs(cert_name, cert_pem).map_err(|e| ("cert_file", e))?;
        let key_pem: &[u8] = match (&self.key_file, &self.key_pem) {
            (Some(f), _) => file(snap, f).map_err(|e| ("key_file", e))?,
            (None, Some(p)) => p.as_bytes(),
            (None, None) => return Err(("key_file", "no key".into())),
        };
        let key_name = self.key_file.as_deref().unwrap_or("key_pem");
        let key = parse_key(key_name, key_pem).map_err(|e| ("key_file", e))?;
        if let Some(f) = &self.ca_file {
            parse_certs(f, file(snap, f).map_err(|e| ("ca_file", e))?)
                .map_err(|e| ("ca_file", e))?;
        }
        if let Some(p) = &self.ca_pem {
            parse_certs("ca_pem", p.as_bytes()).map_err(|e| ("ca_pem", e))?;
        }
        let client_roots = match &self.client_ca_file {
            Some(f) => Some(
                parse_roots(f, file(snap, f).map_err(|e| ("client_ca_file", e))?)
                    .map_err(|e| ("client_ca_file", e))?,
            ),
            None => None,
        };
        // The key must sign for the certificate: checked here so a mismatched pair is a
        // config error, not a handshake failure.
        let signer = rustls::crypto::ring::sign::any_supported_type(&key)
            .map_err(|e| ("key_file", format!("{key_name}: {e}")))?;
        let ck = rustls::sign::CertifiedKey::new(certs.clone(), signer);
        if let Err(e) = ck.keys_match()
            && !matches!(
                e,
                rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)
            )
        {
            return Err((
                "key_file",
                format!("{key_name} does not match {cert_name}: {e}"),
            ));
        }
        Ok((certs, key, client_roots))
    }

    /// Builds the reloading rustls server config, announcing `alpn` (`[b"h2"]` for gRPC,
    /// `[b"h2", b"http/1.1"]` for HTTP servers). `what` names the settings in logs and
    /// metrics.
    ///
    /// # Errors
    /// What [`TlsServerConfig::validate`] reports, as text.
    pub fn build(
        &self,
        what: &str,
        alpn: &[&[u8]],
    ) -> Result<Arc<Reloading<rustls::ServerConfig>>, String> {
        let cfg = self.clone();
        let versions = versions(what, cfg.min_version.as_deref(), cfg.max_version.as_deref())
            .map_err(|e| e.to_string())?;
        let provider = provider(what, &cfg.cipher_suites, &cfg.curve_preferences)
            .map_err(|e| e.to_string())?;
        let alpn: Vec<Vec<u8>> = alpn.iter().map(|a| a.to_vec()).collect();
        let interval = Some(cfg.reload_interval).filter(|d| !d.is_zero());
        Reloading::new(what, self.files(), interval, move |snap| {
            let (certs, key, client_roots) = cfg
                .material(snap)
                .map_err(|(key, e)| format!("{key}: {e}"))?;
            let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
                .with_protocol_versions(&versions)
                .map_err(|e| e.to_string())?;
            let builder = match client_roots {
                Some(mut roots) => {
                    if cfg.include_system_ca_certs_pool {
                        add_system_roots(&mut roots);
                    }
                    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                        Arc::new(roots),
                        provider.clone(),
                    )
                    .build()
                    .map_err(|e| format!("client_ca_file: {e}"))?;
                    builder.with_client_cert_verifier(verifier)
                }
                None => builder.with_no_client_auth(),
            };
            let mut sc = builder
                .with_single_cert(certs, key)
                .map_err(|e| format!("cert_file: {e}"))?;
            sc.alpn_protocols = alpn.clone();
            Ok(sc)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(dir: &std::path::Path, name: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let c = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let (cf, kf) = (
            dir.join(format!("{name}.crt")),
            dir.join(format!("{name}.key")),
        );
        std::fs::write(&cf, c.pem()).unwrap();
        std::fs::write(&kf, key.serialize_pem()).unwrap();
        (cf.display().to_string(), kf.display().to_string())
    }

    #[test]
    fn versions_and_cipher_suites() {
        let v = versions("t", None, None).unwrap();
        assert_eq!(v.len(), 2);
        let v = versions("t", Some("1.0"), Some("1.2")).unwrap();
        assert_eq!(v, vec![&rustls::version::TLS12]);
        let v = versions("t", Some("1.3"), None).unwrap();
        assert_eq!(v, vec![&rustls::version::TLS13]);
        assert_eq!(
            versions("t", Some("1.3"), Some("1.2")).unwrap_err().path,
            "t::min_version"
        );
        assert_eq!(
            versions("t", None, Some("1.1")).unwrap_err().path,
            "t::max_version"
        );
        assert_eq!(
            versions("t", Some("2"), None).unwrap_err().path,
            "t::min_version"
        );
        let p = provider(
            "t",
            &["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256".into()],
            &[],
        )
        .unwrap();
        let names: Vec<String> = p
            .cipher_suites
            .iter()
            .map(|s| format!("{:?}", s.suite()))
            .collect();
        assert!(names.contains(&"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256".to_owned()));
        assert!(
            names
                .iter()
                .all(|n| n.starts_with("TLS13_") || n == "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256")
        );
        assert_eq!(
            provider("t", &["TLS13_AES_128_GCM_SHA256".into()], &[])
                .unwrap_err()
                .path,
            "t::cipher_suites"
        );
    }

    #[test]
    fn defaults_and_a_mismatched_key() {
        let c: TlsServerConfig = serde_yaml_ng::from_str("{}").unwrap();
        assert_eq!(c, TlsServerConfig::default());
        assert_eq!(c.reload_interval, Duration::from_secs(60));
        let c: TlsServerConfig = serde_yaml_ng::from_str("cert_file: ''\nkey_file: ''").unwrap();
        assert_eq!(c.cert_file, None, "an empty string is unset");
        let dir = tempfile::tempdir().unwrap();
        let (c1, _) = cert(dir.path(), "a");
        let (_, k2) = cert(dir.path(), "b");
        let cfg = TlsServerConfig {
            cert_file: Some(c1),
            key_file: Some(k2),
            ..Default::default()
        };
        let e = cfg.validate("t").unwrap_err();
        assert_eq!(e.path, "t::key_file");
        assert!(e.message.contains("does not match"), "{e}");
    }

    #[test]
    fn reload_follows_content_and_keeps_the_old_material_on_bad_input() {
        let dir = tempfile::tempdir().unwrap();
        let (c, k) = cert(dir.path(), "a");
        let cfg = TlsServerConfig {
            cert_file: Some(c.clone()),
            key_file: Some(k.clone()),
            ..Default::default()
        };
        let r = cfg.build("t", &[b"h2"]).unwrap();
        let first = r.current();
        assert_eq!(first.alpn_protocols, vec![b"h2".to_vec()]);
        assert_eq!(r.check(), Ok(false), "same content: nothing to do");
        assert!(Arc::ptr_eq(&first, &r.current()));
        // New content (same paths, as a Secret update): rebuilt.
        let (c2, k2) = cert(dir.path(), "b");
        std::fs::copy(&c2, &c).unwrap();
        std::fs::copy(&k2, &k).unwrap();
        assert_eq!(r.check(), Ok(true));
        let second = r.current();
        assert!(!Arc::ptr_eq(&first, &second));
        // A truncated key: an error, the material in use stays; reported once.
        let pem = std::fs::read_to_string(&k).unwrap();
        std::fs::write(&k, &pem[..pem.len() / 2]).unwrap();
        assert!(r.check().is_err());
        assert!(Arc::ptr_eq(&second, &r.current()));
        assert_eq!(r.check(), Ok(false), "the same bad content is not retried");
        // Fixed: taken again.
        std::fs::write(&k, pem).unwrap();
        assert_eq!(r.check(), Ok(true));
    }
}

#[cfg(test)]
mod client_tests {
    use crate::tls::TlsClientConfig;

    /// configtls keys of a client: inline PEM instead of files, curve preferences in order,
    /// curves ring lacks refused with the choice, PEM and file for one item refused.
    #[test]
    fn client_inline_pem_cipher_suites_and_curves() {
        let ca = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let c = TlsClientConfig {
            ca_pem: Some(ca.cert.pem()),
            cipher_suites: vec!["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256".into()],
            curve_preferences: vec!["P384".into(), "X25519".into()],
            include_system_ca_certs_pool: true,
            ..TlsClientConfig::default()
        };
        c.validate("t").unwrap();
        let rc = c.rustls_config().unwrap();
        let groups: Vec<_> = rc
            .crypto_provider()
            .kx_groups
            .iter()
            .map(|g| g.name())
            .collect();
        assert_eq!(
            groups,
            [rustls::NamedGroup::secp384r1, rustls::NamedGroup::X25519]
        );
        let tls12: Vec<String> = rc
            .crypto_provider()
            .cipher_suites
            .iter()
            .map(|s| format!("{:?}", s.suite()))
            .filter(|s| !s.starts_with("TLS13_"))
            .collect();
        assert_eq!(tls12, ["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"]);
        let e = TlsClientConfig {
            curve_preferences: vec!["P521".into()],
            ..TlsClientConfig::default()
        }
        .validate("t")
        .unwrap_err();
        assert_eq!(e.path, "t::curve_preferences");
        let e = TlsClientConfig {
            ca_file: Some("/nonexistent".into()),
            ca_pem: Some(ca.cert.pem()),
            ..TlsClientConfig::default()
        }
        .validate("t")
        .unwrap_err();
        assert_eq!(e.path, "t::ca_pem");
        let e = TlsClientConfig {
            cert_pem: Some(ca.cert.pem()),
            ..TlsClientConfig::default()
        }
        .validate("t")
        .unwrap_err();
        assert_eq!(e.path, "t::cert_file");
    }
}
