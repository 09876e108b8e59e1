//! `loadbalancing` exporter building blocks (the exporter itself is in progress): the
//! rendezvous-hash ring that maps a routing key to its backend.

pub mod ring;
