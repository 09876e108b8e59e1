//! Redfish events → OTel logs, end to end: the real `strata` binary against the fake BMC
//! (`tests/common/fake_redfish.rs`: the DMTF mockup plus an EventService that keeps client
//! subscriptions, delivers events by POST like a BMC, and streams Server-Sent Events). No BMC
//! emulator installable here sends events (sushy-tools, static or emulator, has no
//! EventService at all), so the fake replays DMTF's `Event` schema example. Push (over HTTPS, with the subscription kept across a BMC
//! restart and deleted at shutdown, the mockup's own subscriptions untouched) and SSE (resumed
//! with `Last-Event-ID`, replays dropped).

mod common;

use std::time::Duration;

use common::fake_redfish::{AuthMode, FakeRedfish, Fault, example_event, post};
use common::tls::TestPki;
use common::{Strata, eventually, free_port, read_lines};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest as Logs;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Av;
use opentelemetry_proto::tonic::logs::v1::LogRecord;

const PSU: &str = "/redfish/v1/Chassis/1U/PowerSubsystem/PowerSupplies/Bay1";

fn config(endpoint: &str, events: &str) -> String {
    format!(
        r#"
receivers:
  redfish:
    endpoint: {endpoint}
    username: admin
    password: secret
    collection_interval: 300ms
    initial_delay: 0s
    events: {events}
exporters:
  file: {{ path: "{{dir}}/metrics.jsonl" }}
  file/logs: {{ path: "{{dir}}/logs.jsonl" }}
service:
  pipelines:
    metrics: {{ receivers: [redfish], exporters: [file] }}
    logs: {{ receivers: [redfish], exporters: [file/logs] }}
"#
    )
}

/// Every log record written, with its resource's `redfish.chassis.id` (if any).
fn records(s: &Strata) -> Vec<(Option<String>, LogRecord)> {
    let lines: Vec<Logs> = read_lines(&s.path("logs.jsonl"));
    let mut out = Vec::new();
    for l in lines {
        for rl in l.resource_logs {
            let chassis = rl.resource.as_ref().and_then(|r| {
                r.attributes
                    .iter()
                    .find(|kv| kv.key == "redfish.chassis.id")
                    .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                        Av::StringValue(s) => Some(s.clone()),
                        _ => None,
                    })
            });
            for sl in rl.scope_logs {
                for r in sl.log_records {
                    out.push((chassis.clone(), r));
                }
            }
        }
    }
    out
}

fn attr(r: &LogRecord, key: &str) -> Option<Av> {
    r.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.clone())
}

fn wait(s: &Strata, what: &str, f: impl FnMut() -> bool) {
    assert!(
        eventually(Duration::from_secs(20), f),
        "{what}; log:\n{}",
        s.log()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn push_over_https_subscription_kept_and_deleted() {
    let fake = FakeRedfish::start(AuthMode::Session).await;
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path());
    let port = free_port();
    let destination = format!("https://127.0.0.1:{port}/redfish/events");
    let events = format!(
        "{{ mode: push, listen: \"127.0.0.1:{port}\", destination: \"{destination}\", context: strata-test, check_interval: 300ms, tls: {{ cert_file: \"{}\", key_file: \"{}\" }} }}",
        pki.cert_file.display(),
        pki.key_file.display()
    );
    let mut s = Strata::start(&config(&fake.endpoint(), &events), &[port]);
    wait(&s, "no subscription", || fake.subscriptions().len() == 1);
    let sub = &fake.subscriptions()[0];
    assert_eq!(sub["Context"], "strata-test");
    assert_eq!(sub["Destination"], destination.as_str());
    assert_eq!(sub["Protocol"], "Redfish");
    // Every type the EventService lists in EventTypesForSubscription, as DMTF's mockup server
    // and iDRAC/iLO need to deliver anything.
    assert_eq!(
        sub["EventTypes"],
        serde_json::json!([
            "StatusChange",
            "ResourceUpdated",
            "ResourceAdded",
            "ResourceRemoved",
            "Alert"
        ])
    );
    wait(&s, "no scrape", || {
        !read_lines::<serde_json::Value>(&s.path("metrics.jsonl")).is_empty()
    });

    // The BMC posts DMTF's example event: one log record, on the PSU's chassis resource.
    let ev = example_event(1, "PowerSupply.1.0.PowerSupplyFailed", PSU);
    assert_eq!(fake.push_event(&ev, Some(&pki.ca_file)).await, [204]);
    wait(&s, "no log record", || !records(&s).is_empty());
    let (chassis, r) = records(&s).remove(0);
    assert_eq!(chassis.as_deref(), Some("1U"));
    assert_eq!(r.severity_number, 17, "Critical is ERROR");
    assert_eq!(r.severity_text, "Critical");
    assert_eq!(
        r.body.clone().and_then(|b| b.value),
        Some(Av::StringValue("Power supply 1 lost input power".into()))
    );
    let text = |k: &str| match attr(&r, k) {
        Some(Av::StringValue(s)) => s,
        other => panic!("{k}: {other:?}"),
    };
    assert_eq!(
        text("redfish.message_id"),
        "PowerSupply.1.0.PowerSupplyFailed"
    );
    assert_eq!(text("redfish.origin"), PSU);
    assert_eq!(text("redfish.event_id"), "1");
    assert!(
        matches!(attr(&r, "redfish.message_args"), Some(Av::ArrayValue(a)) if a.values.len() == 1)
    );
    assert!(r.time_unix_nano > 0, "EventTimestamp with a -0600 offset");

    // A retried delivery of the same event: accepted, not logged twice.
    assert_eq!(fake.push_event(&ev, Some(&pki.ca_file)).await, [204]);
    // Garbage is refused with 400.
    assert_eq!(
        post(&destination, "{\"Events\": 3}", Some(&pki.ca_file)).await,
        400
    );
    assert_eq!(post(&destination, "<xml/>", Some(&pki.ca_file)).await, 400);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(records(&s).len(), 1);
    let counter = |outcome: &str| {
        s.counter(&format!(
            "strata_receiver_redfish_events{{receiver=\"redfish\",server=\"{}\",outcome=\"{outcome}\"}}",
            fake.endpoint()
        ))
    };
    assert_eq!(counter("duplicate"), 1);
    assert_eq!(counter("received"), 1);
    assert!(counter("invalid") >= 1);

    // The BMC restarts and forgets its subscriptions: ours comes back, with one warning.
    let first = fake.subscriptions()[0]["@odata.id"].clone();
    fake.restart_events();
    wait(&s, "not subscribed again", || {
        fake.subscriptions().len() == 1
    });
    assert_ne!(fake.subscriptions()[0]["@odata.id"], first);
    assert!(s.log().contains("subscription is gone"), "{}", s.log());
    let ev2 = example_event(2, "PowerSupply.1.0.PowerSupplyFailed", PSU);
    assert_eq!(fake.push_event(&ev2, Some(&pki.ca_file)).await, [204]);
    wait(&s, "the second event", || records(&s).len() == 2);

    // Shutdown deletes our subscription, and only ours.
    let ours = fake.subscriptions()[0]["@odata.id"]
        .as_str()
        .unwrap()
        .to_owned();
    let status = s.interrupt(Duration::from_secs(10));
    assert!(status.success(), "{}", s.log());
    assert_eq!(fake.unsubscribed(), [ours]);
    assert!(fake.subscriptions().is_empty());
    assert!(!s.log().contains("secret"), "a credential in the log");
}

#[tokio::test(flavor = "multi_thread")]
async fn sse_resumes_with_last_event_id_and_drops_replays() {
    let fake = FakeRedfish::start(AuthMode::Session).await;
    fake.sse_event(
        1,
        example_event(
            1,
            "Alert.1.0.LanDisconnect",
            "/redfish/v1/Systems/437XR1138R2",
        ),
    );
    fake.sse_event(2, example_event(2, "Alert.1.0.LanDisconnect", PSU));
    let s = Strata::start(&config(&fake.endpoint(), "{ mode: sse }"), &[]);
    wait(&s, "the first two events", || records(&s).len() == 2);
    // The system's event is on the chassis that links the system.
    let recs = records(&s);
    assert!(
        recs.iter().all(|(c, _)| c.as_deref() == Some("1U")),
        "{recs:?}"
    );

    // The stream drops; the receiver reconnects with Last-Event-ID 2 and gets event 3.
    fake.drop_streams();
    fake.sse_event(3, example_event(3, "Alert.1.0.LanDisconnect", PSU));
    wait(&s, "event 3 after the reconnect", || records(&s).len() == 3);
    let connects = fake.sse_connects();
    assert_eq!(connects[0], "");
    assert!(connects[1..].iter().any(|c| c == "2"), "{connects:?}");

    // The BMC replays an event under a new stream id: dropped by its EventId.
    fake.sse_event(4, example_event(2, "Alert.1.0.LanDisconnect", PSU));
    fake.sse_event(5, example_event(5, "Alert.1.0.LanDisconnect", PSU));
    wait(&s, "event 5", || records(&s).len() == 4);
    let ids: Vec<_> = records(&s)
        .iter()
        .map(|(_, r)| attr(r, "redfish.event_id"))
        .collect();
    assert_eq!(
        ids,
        ["1", "2", "3", "5"].map(|i| Some(Av::StringValue(i.into())))
    );
    assert_eq!(
        s.counter(&format!(
            "strata_receiver_redfish_events{{receiver=\"redfish\",server=\"{}\",outcome=\"duplicate\"}}",
            fake.endpoint()
        )),
        1
    );

    // The stream fails (503) for a while: retried with backoff, one warning, then resumed.
    let sse_gets = || {
        fake.requests()
            .iter()
            .filter(|r| r.as_str() == "GET /redfish/v1/EventService/SSE")
            .count()
    };
    let before = sse_gets();
    fake.fault("/redfish/v1/EventService/SSE", Some(Fault::Status(503)));
    fake.drop_streams();
    // Two refused attempts (after ~1 s and ~2 s of backoff), then the BMC is back.
    wait(&s, "no retry", || sse_gets() >= before + 3);
    fake.fault("/redfish/v1/EventService/SSE", None);
    fake.sse_event(6, example_event(6, "Alert.1.0.LanDisconnect", PSU));
    wait(&s, "event 6 after the outage", || records(&s).len() == 5);
    assert_eq!(
        s.log()
            .matches("cannot open the Redfish event stream")
            .count(),
        1,
        "{}",
        s.log()
    );
}

/// Starts a push receiver over plain HTTP against `fake` with `extra` keys in `events`; waits
/// for its subscription.
fn push_receiver(fake: &FakeRedfish, extra: &str) -> (Strata, String) {
    let port = free_port();
    let destination = format!("http://127.0.0.1:{port}/redfish/events");
    let events = format!(
        "{{ mode: push, listen: \"127.0.0.1:{port}\", destination: \"{destination}\", context: strata-test, check_interval: 300ms{extra} }}"
    );
    let s = Strata::start(&config(&fake.endpoint(), &events), &[port]);
    wait(&s, "no subscription", || fake.subscriptions().len() == 1);
    (s, destination)
}

#[tokio::test(flavor = "multi_thread")]
async fn configured_event_types_are_what_the_bmc_delivers() {
    let fake = FakeRedfish::start(AuthMode::Session).await;
    let (s, _) = push_receiver(&fake, ", event_types: [StatusChange]");
    assert_eq!(
        fake.subscriptions()[0]["EventTypes"],
        serde_json::json!(["StatusChange"])
    );
    // An Alert is not delivered to this subscription (the BMC filters by type); a
    // StatusChange is.
    let alert = example_event(1, "PowerSupply.1.0.PowerSupplyFailed", PSU);
    assert!(fake.push_event(&alert, None).await.is_empty());
    let mut change = example_event(2, "ResourceEvent.1.0.ResourceStatusChangedCritical", PSU);
    change["Events"][0]["EventType"] = "StatusChange".into();
    assert_eq!(fake.push_event(&change, None).await, [204]);
    wait(&s, "the StatusChange event", || records(&s).len() == 1);
    assert_eq!(
        attr(&records(&s)[0].1, "redfish.event_type"),
        Some(Av::StringValue("StatusChange".into()))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bmc_that_refuses_event_types_is_subscribed_without_them_with_one_warning() {
    let fake = FakeRedfish::start(AuthMode::Session).await;
    fake.refuse_event_types();
    let (s, _) = push_receiver(&fake, "");
    let sub = &fake.subscriptions()[0];
    assert!(sub.get("EventTypes").is_none(), "{sub}");
    let ev = example_event(1, "PowerSupply.1.0.PowerSupplyFailed", PSU);
    assert_eq!(fake.push_event(&ev, None).await, [204]);
    wait(&s, "the event", || records(&s).len() == 1);
    // The BMC restarts: the receiver subscribes again, without asking with EventTypes first.
    fake.restart_events();
    wait(&s, "not subscribed again", || {
        fake.subscriptions().len() == 1
    });
    let warned = s.log().matches("refused EventTypes").count();
    assert_eq!(warned, 1, "{}", s.log());
    let refusals = fake
        .requests()
        .iter()
        .filter(|r| r.starts_with("POST /redfish/v1/EventService/Subscriptions"))
        .count();
    assert_eq!(refusals, 3, "one refused, then two without EventTypes");
}
