//! An in-test DNS server (UDP, hickory-proto for the wire format) answering `A` queries for
//! one name with a list the test changes, TTL 0, as a Kubernetes headless Service's DNS does
//! when replicas come and go.

use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};

use hickory_proto::op::Message;
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record, RecordType};

/// A running DNS server on 127.0.0.1.
pub struct FakeDns {
    /// Its UDP port.
    pub port: u16,
    answers: Arc<Mutex<Vec<Ipv4Addr>>>,
}

impl FakeDns {
    /// Answers `A` queries for `name` (absolute or not) with `ips`.
    pub async fn start(name: &str, ips: &[Ipv4Addr]) -> FakeDns {
        let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let port = sock.local_addr().unwrap().port();
        let answers = Arc::new(Mutex::new(ips.to_vec()));
        let (a, want) = (
            answers.clone(),
            name.trim_end_matches('.').to_ascii_lowercase(),
        );
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            while let Ok((n, peer)) = sock.recv_from(&mut buf).await {
                let Ok(q) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                let mut r = Message::response(q.metadata.id, q.metadata.op_code);
                r.metadata.recursion_desired = q.metadata.recursion_desired;
                r.metadata.recursion_available = true;
                r.metadata.authoritative = true;
                r.add_queries(q.queries.clone());
                for query in &q.queries {
                    let name = query
                        .name()
                        .to_string()
                        .trim_end_matches('.')
                        .to_ascii_lowercase();
                    if query.query_type() == RecordType::A && name == want {
                        for ip in a.lock().unwrap().iter() {
                            r.add_answer(Record::from_rdata(
                                query.name().clone(),
                                0,
                                RData::A(A(*ip)),
                            ));
                        }
                    }
                }
                if let Ok(bytes) = r.to_vec() {
                    let _ = sock.send_to(&bytes, peer).await;
                }
            }
        });
        FakeDns { port, answers }
    }

    /// Changes the answer.
    pub fn set(&self, ips: &[Ipv4Addr]) {
        *self.answers.lock().unwrap() = ips.to_vec();
    }
}
