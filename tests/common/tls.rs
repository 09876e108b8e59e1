//! A throwaway CA and a server certificate for `127.0.0.1`/`localhost`, for tests of TLS
//! clients (`ca_file`, `insecure_skip_verify`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair,
};

/// A test CA with one server certificate.
pub struct TestPki {
    /// PEM file of the CA certificate (what a client's `ca_file` names).
    pub ca_file: PathBuf,
    /// A rustls server config presenting the server certificate.
    pub server: Arc<rustls::ServerConfig>,
    /// PEM file of the server certificate (for servers configured with files).
    pub cert_file: PathBuf,
    /// PEM file of the server's private key.
    pub key_file: PathBuf,
    chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    key: Vec<u8>,
    ca: CertifiedIssuer<'static, KeyPair>,
    dir: PathBuf,
}

impl TestPki {
    /// Creates the CA and server certificate, writing the CA's PEM into `dir`.
    pub fn new(dir: &Path) -> TestPki {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        // Distinct names for the CA and the leaf: a leaf whose subject equals its issuer
        // looks self-signed to BoringSSL (gRPC's Python client refuses it).
        let mut ca_dn = DistinguishedName::new();
        ca_dn.push(
            DnType::CommonName,
            format!("strata test CA {}", dir.display()),
        );
        ca_params.distinguished_name = ca_dn;
        let ca = CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
        let leaf_key = KeyPair::generate().unwrap();
        let mut leaf_params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
        let mut leaf_dn = DistinguishedName::new();
        leaf_dn.push(DnType::CommonName, "localhost");
        leaf_params.distinguished_name = leaf_dn;
        let leaf = leaf_params.signed_by(&leaf_key, &ca).unwrap();
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, ca.pem()).unwrap();
        let cert_file = dir.join("server.pem");
        std::fs::write(&cert_file, leaf.pem()).unwrap();
        let key_file = dir.join("server.key");
        std::fs::write(&key_file, leaf_key.serialize_pem()).unwrap();
        let chain = vec![leaf.der().clone(), ca.der().clone()];
        let key = leaf_key.serialize_der();
        TestPki {
            ca_file,
            server: server_config(&chain, &key, &[]),
            cert_file,
            key_file,
            chain,
            key,
            ca,
            dir: dir.to_owned(),
        }
    }

    /// A CA with its own file name prefix in `dir` (`<prefix>ca.pem`), for a second trust
    /// domain.
    pub fn named(dir: &Path, prefix: &str) -> TestPki {
        let sub = dir.join(prefix);
        std::fs::create_dir_all(&sub).unwrap();
        TestPki::new(&sub)
    }

    /// The CA certificate's PEM.
    pub fn ca_pem(&self) -> String {
        self.ca.pem()
    }

    /// A client certificate (clientAuth) with subject `CN=<cn>,O=<org>` signed by this CA:
    /// `(cert_file, key_file)`.
    pub fn client(&self, cn: &str, org: &str) -> (PathBuf, PathBuf) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, cn);
        dn.push(DnType::OrganizationName, org);
        params.distinguished_name = dn;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params.signed_by(&key, &self.ca).unwrap();
        let c = self.dir.join(format!("{cn}.pem"));
        let k = self.dir.join(format!("{cn}.key"));
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        (c, k)
    }

    /// A server certificate for `127.0.0.1`/`localhost` signed by this CA, as PEM
    /// `(cert, key)`.
    pub fn server_pem(&self) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "localhost");
        params.distinguished_name = dn;
        let cert = params.signed_by(&key, &self.ca).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    /// A server config offering `alpn` (`b"h2"` for gRPC).
    pub fn server_config(&self, alpn: &[&[u8]]) -> Arc<rustls::ServerConfig> {
        server_config(&self.chain, &self.key, alpn)
    }

    /// A TLS terminator on a loopback port forwarding the plaintext to `127.0.0.1:upstream`,
    /// offering `alpn`. Returns its port.
    pub async fn terminator(&self, upstream: u16, alpn: &[&[u8]]) -> u16 {
        let acceptor = tokio_rustls::TlsAcceptor::from(self.server_config(alpn));
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((s, _)) = l.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(s).await else {
                        return;
                    };
                    if let Ok(mut up) =
                        tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await
                    {
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
                    }
                });
            }
        });
        port
    }
}

fn server_config(
    chain: &[rustls::pki_types::CertificateDer<'static>],
    key: &[u8],
    alpn: &[&[u8]],
) -> Arc<rustls::ServerConfig> {
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(key.to_vec().into());
    let mut c = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain.to_vec(), key)
    .unwrap();
    c.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(c)
}
