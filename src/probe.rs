//! `strata health`: the container image's `HEALTHCHECK`. The distroless image has no shell and
//! no HTTP client, so the binary probes its own `health_check` extension: one HTTP/1.1 `GET`
//! of `/livez` (default) on the address `STRATA_HEALTH_ENDPOINT` names, with a wildcard host
//! (`0.0.0.0`, `[::]`) replaced by loopback. Exit 0 on a 2xx answer, 1 otherwise, with the
//! cause on stderr.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use anyhow::{Context, bail};

/// How long the probe waits for the connection and for the answer.
const TIMEOUT: Duration = Duration::from_secs(3);

/// The address to probe: `endpoint` (`host:port`) with a wildcard host made loopback.
///
/// # Errors
/// An endpoint that is not `host:port`, or a host that does not resolve.
pub fn target(endpoint: &str) -> anyhow::Result<SocketAddr> {
    let (host, port) = endpoint
        .rsplit_once(':')
        .with_context(|| format!("health endpoint {endpoint:?}: expected host:port"))?;
    let host = match host {
        "" | "0.0.0.0" => "127.0.0.1",
        "[::]" | "::" => "[::1]",
        h => h,
    };
    format!("{host}:{port}")
        .to_socket_addrs()
        .with_context(|| format!("health endpoint {endpoint:?}"))?
        .next()
        .with_context(|| format!("health endpoint {endpoint:?} resolves to no address"))
}

/// `GET path` on `addr`: the status code.
///
/// # Errors
/// No connection, no answer within [`TIMEOUT`], or an answer that is not HTTP.
pub fn get(addr: SocketAddr, path: &str) -> anyhow::Result<u16> {
    let mut s = TcpStream::connect_timeout(&addr, TIMEOUT)
        .with_context(|| format!("cannot connect to {addr}"))?;
    s.set_read_timeout(Some(TIMEOUT))?;
    s.set_write_timeout(Some(TIMEOUT))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nUser-Agent: strata-health\r\n\r\n"
    )?;
    let mut head = Vec::new();
    s.take(4096).read_to_end(&mut head).ok();
    let text = String::from_utf8_lossy(&head);
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| text.strip_prefix("HTTP/1.0 "))
        .and_then(|r| r.get(..3))
        .and_then(|c| c.parse().ok());
    match status {
        Some(code) => Ok(code),
        None => bail!("{addr} answered something that is not HTTP"),
    }
}

/// Runs the probe: `url_path` on `endpoint` (else `STRATA_HEALTH_ENDPOINT`).
///
/// # Errors
/// No endpoint configured, no answer, or a status other than 2xx.
pub fn run(endpoint: Option<&str>, path: &str) -> anyhow::Result<()> {
    let endpoint = match endpoint {
        Some(e) => e.to_owned(),
        None => std::env::var("STRATA_HEALTH_ENDPOINT")
            .ok()
            .filter(|v| !v.is_empty())
            .context("no health endpoint: set STRATA_HEALTH_ENDPOINT or pass --endpoint")?,
    };
    let addr = target(&endpoint)?;
    let code = get(addr, path)?;
    if (200..300).contains(&code) {
        println!("{path} on {addr}: {code}");
        Ok(())
    } else {
        bail!("{path} on {addr}: {code}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_hosts_are_probed_on_loopback() {
        assert_eq!(
            target("0.0.0.0:13133").unwrap().to_string(),
            "127.0.0.1:13133"
        );
        assert_eq!(target("[::]:13133").unwrap().to_string(), "[::1]:13133");
        assert_eq!(target("127.0.0.1:9").unwrap().to_string(), "127.0.0.1:9");
        assert!(target("13133").is_err());
    }

    #[test]
    fn nothing_listening_is_an_error_naming_the_address() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        let e = get(addr, "/livez").unwrap_err();
        assert!(format!("{e:#}").contains(&addr.to_string()), "{e:#}");
    }
}
