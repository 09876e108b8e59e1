//! A throwaway CA and a server certificate for `127.0.0.1`/`localhost`, for tests of TLS
//! clients (`ca_file`, `insecure_skip_verify`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

/// A test CA with one server certificate.
pub struct TestPki {
    /// PEM file of the CA certificate (what a client's `ca_file` names).
    pub ca_file: PathBuf,
    /// A rustls server config presenting the server certificate.
    pub server: Arc<rustls::ServerConfig>,
}

impl TestPki {
    /// Creates the CA and server certificate, writing the CA's PEM into `dir`.
    pub fn new(dir: &Path) -> TestPki {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap()
            .signed_by(&leaf_key, &ca)
            .unwrap();
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, ca.pem()).unwrap();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into());
        let server = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone(), ca.der().clone()], key)
        .unwrap();
        TestPki {
            ca_file,
            server: Arc::new(server),
        }
    }
}
