use super::*;

#[test]
fn urls() {
    let o = KafkaOptions::from_url("kafka://127.0.0.1:9092").expect("plain");
    assert_eq!(o.brokers, "127.0.0.1:9092");
    assert_eq!(o.events_topic, "events");
    let o = KafkaOptions::from_url("kafka://a:1,b:2/clicks/").expect("topic");
    assert_eq!(o.brokers, "a:1,b:2");
    assert_eq!(o.events_topic, "clicks");
    for bad in [
        "kafka://",
        "kafka:///events",
        "kafka://host/events",
        "kafka://host:0",
        "kafka://host:x",
        "kafka://a:1,,b:2",
        "kafka://a:1/../x",
        "kafka://a:1/a b",
        "http://a:1",
    ] {
        let e = KafkaOptions::from_url(bad).expect_err(bad).to_string();
        assert!(e.contains("log.url"), "{bad}: {e}");
    }
}

#[test]
fn topic_names_follow_the_events_topic() {
    let plain = KafkaOptions::default();
    for t in ["events", "events.dead-letter", "catalog"] {
        assert_eq!(plain.physical(t), t);
    }
    let o = KafkaOptions::from_url("kafka://a:1/clicks").expect("url");
    assert_eq!(o.physical("events"), "clicks");
    assert_eq!(o.physical("events.dead-letter"), "clicks.dead-letter");
    assert_eq!(o.physical("catalog"), "clicks.catalog");
}

#[test]
fn knobs_are_checked_and_reserved_properties_refused() {
    let ok = KafkaOptions::default();
    assert!(ok.validate().is_ok());
    let cases: Vec<(KafkaOptions, &str)> = vec![
        (
            KafkaOptions {
                compression: "brotli".into(),
                ..ok.clone()
            },
            "log.kafka.compression",
        ),
        (
            KafkaOptions {
                replication_factor: 0,
                ..ok.clone()
            },
            "log.kafka.replication_factor",
        ),
        (
            KafkaOptions {
                max_queued_records: 0,
                ..ok.clone()
            },
            "log.kafka.max_queued_records",
        ),
        (
            KafkaOptions {
                delivery_timeout_ms: 10,
                ..ok.clone()
            },
            "log.kafka.delivery_timeout_ms",
        ),
        (
            KafkaOptions {
                properties: [("acks".to_owned(), "1".to_owned())].into(),
                ..ok.clone()
            },
            "log.kafka.properties.acks",
        ),
    ];
    for (o, field) in cases {
        let e = o.validate().expect_err(field).to_string();
        assert!(e.contains(field), "{field}: {e}");
    }
}

#[test]
fn a_broker_that_is_not_there_is_a_clear_error() {
    // A loopback port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let opts = KafkaOptions {
        request_timeout_ms: 1_000,
        ..KafkaOptions::from_url(&format!("kafka://127.0.0.1:{port}")).expect("url")
    };
    let e = KafkaLog::open(opts).err().expect("no broker").to_string();
    assert!(e.contains(&format!("127.0.0.1:{port}")), "{e}");
}
