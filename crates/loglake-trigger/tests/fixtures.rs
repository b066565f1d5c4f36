//! Every published event document in `../shared/fixtures/events/` decodes to the objects it
//! names. The expectations below were extracted independently (a short Python walk using
//! `urllib.parse.unquote_plus` for notification keys) and checked against the fixtures'
//! SOURCES.md descriptions; key decoding is also checked against `key_decoding_cases.json`.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use loglake_trigger::event::{decode, form_url_decode};

#[derive(Debug)]
struct Obj {
    bucket: &'static str,
    key: &'static str,
    version_id: Option<&'static str>,
    size: Option<u64>,
    etag: Option<&'static str>,
    sequencer: Option<&'static str>,
}

#[derive(Debug)]
enum Expect {
    /// Created objects, in order.
    Objects(&'static [Obj]),
    /// A valid event naming no new object (deletes, restores, tests, other EventBridge events).
    Ignored,
    /// Not an event document at all (also an SQS/SNS message that carries none): an error.
    NotAnEvent,
}

fn fixtures() -> PathBuf {
    std::env::var_os("LOGLAKE_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest_dir().join("../../../shared/fixtures"))
        .join("events")
}

const EXPECTED: &[(&str, Expect)] = &[
    (
        "eventbridge/awsdocs-2022-object-created.json",
        Expect::Objects(&[Obj {
            bucket: "DOC-EXAMPLE-BUCKET1",
            key: "example-key",
            version_id: Some("IYV3p45BT0ac8hjHg1houSdS1a.Mro8e"),
            size: Some(5),
            etag: Some("b1946ac92492d2347c6235b4d2611184"),
            sequencer: Some("617f08299329d189"),
        }]),
    ),
    (
        "eventbridge/awsdocs-2022-object-deleted-lifecycle.json",
        Expect::Ignored,
    ),
    (
        "eventbridge/awsdocs-2022-object-deleted.json",
        Expect::Ignored,
    ),
    (
        "eventbridge/awsdocs-2022-object-restore-completed.json",
        Expect::Ignored,
    ),
    (
        "eventbridge/awsdocs-current-object-annotation-created.json",
        Expect::Ignored,
    ),
    (
        "eventbridge/awsdocs-current-object-created-event-version-1.1.json",
        Expect::Objects(&[Obj {
            bucket: "amzn-s3-demo-bucket1",
            key: "example-key",
            version_id: Some("IYV3p45BT0ac8hjHg1houSdS1a.Mro8e"),
            size: Some(5),
            etag: Some("b1946ac92492d2347c6235b4d2611184"),
            sequencer: Some("617f08299329d189"),
        }]),
    ),
    (
        "eventbridge/dotnet-cloudwatchevents-s3objectcreated.json",
        Expect::Objects(&[Obj {
            bucket: "DOC-EXAMPLE-BUCKET1",
            key: "example-key",
            version_id: Some("IYV3p45BT0ac8hjHg1houSdS1a.Mro8e"),
            size: Some(5),
            etag: Some("b1946ac92492d2347c6235b4d2611184"),
            sequencer: Some("617f08299329d189"),
        }]),
    ),
    (
        "eventbridge/dotnet-cloudwatchevents-s3objectdeleted.json",
        Expect::Ignored,
    ),
    (
        "eventbridge/dotnet-cloudwatchevents-s3objectrestore.json",
        Expect::Ignored,
    ),
    (
        "eventbridge/powertools-py-s3EventBridgeNotificationObjectCreatedEvent.json",
        Expect::Objects(&[Obj {
            bucket: "example-bucket",
            key: "IMG_m7fzo3.jpg",
            version_id: None,
            size: Some(184662),
            etag: Some("4e68adba0abe2dc8653dc3354e14c01d"),
            sequencer: Some("006408CAD69598B05E"),
        }]),
    ),
    (
        "eventbridge/powertools-py-s3EventBridgeNotificationObjectDeletedEvent.json",
        Expect::Ignored,
    ),
    (
        "eventbridge/powertools-py-s3EventBridgeNotificationObjectExpiredEvent.json",
        Expect::Ignored,
    ),
    (
        "eventbridge/powertools-py-s3EventBridgeNotificationObjectRestoreCompletedEvent.json",
        Expect::Ignored,
    ),
    (
        "eventbridge/pt4069-eb_s3_event.json",
        Expect::Objects(&[Obj {
            bucket: "s3-eb-unwrap-sourcebucket-7mop1gqlyrzu",
            key: "s3-eb-template.yaml",
            version_id: None,
            size: Some(1565),
            etag: Some("e56e21b1610dd94e9907f82b8d05b934"),
            sequencer: Some("0065FB77A03AD4478F"),
        }]),
    ),
    (
        "localstack_snapshots/derived-test_object_created_put_versioned.recorded-content.json",
        Expect::NotAnEvent,
    ),
    (
        "localstack_snapshots/test_s3_notifications_eventbridge.snapshot.json",
        Expect::NotAnEvent,
    ),
    (
        "localstack_snapshots/test_s3_notifications_sqs.snapshot.json",
        Expect::NotAnEvent,
    ),
    (
        "other/go-s3-batch-job-event-request-2.0.json",
        Expect::NotAnEvent,
    ),
    (
        "other/java-cloudwatch_scheduled_event.json",
        Expect::Ignored,
    ),
    (
        "other/rust-example-cloudwatch-cloudtrail-assumed-role.json",
        Expect::NotAnEvent,
    ),
    (
        "other/rust-example-eventbridge-event-obj.json",
        Expect::Ignored,
    ),
    (
        "s3/awsdocs-s3-put-example.json",
        Expect::Objects(&[Obj {
            bucket: "mybucket",
            key: "HappyFace.jpg",
            version_id: Some("096fKKXTRTtl3on89fVO.nfljtsv6qko"),
            size: Some(1024),
            etag: Some("d41d8cd98f00b204e9800998ecf8427e"),
            sequencer: Some("0055AED6DCD90281E5"),
        }]),
    ),
    ("s3/awsdocs-s3-test-event.json", Expect::Ignored),
    (
        "s3/datadog-elb-CompleteMultipartUpload.json",
        Expect::Objects(&[Obj {
            bucket: "dd-elb-logs-staging",
            key: "AWSLogs/727006795293/elasticloadbalancing/us-east-1/2016/01/14/727006795293_elasticloadbalancing_us-east-1_app-datad0g-com-cert_20160114T2300Z_54.225.183.223_5ypsvibo.log",
            version_id: None,
            size: Some(13014151),
            etag: Some("b920c39d84c99220c7f3ef6bfcce1dd2-3"),
            sequencer: Some("0056982978730E2BA3"),
        }]),
    ),
    (
        "s3/dotnet-s3-event.json",
        Expect::Objects(&[
            Obj {
                bucket: "sourcebucket",
                key: "HappyFace.jpg",
                version_id: None,
                size: Some(1024),
                etag: Some("0123456789abcdef0123456789abcdef"),
                sequencer: Some("0A1B2C3D4E5F678901"),
            },
            Obj {
                bucket: "sourcebucket",
                key: "New File.jpg",
                version_id: None,
                size: Some(1024),
                etag: Some("0123456789abcdef0123456789abcdef"),
                sequencer: Some("0A1B2C3D4E5F678901"),
            },
        ]),
    ),
    (
        "s3/e2u-logrotate-unicode-key.records-array.json",
        Expect::Objects(&[Obj {
            bucket: "xxxx",
            key: "你家娃🐱.png",
            version_id: None,
            size: Some(1603233),
            etag: Some("xxxx"),
            sequencer: Some("xxxxx"),
        }]),
    ),
    ("s3/go-s3-intelligenttier-event.json", Expect::Ignored),
    ("s3/go-s3-lifecycle-event.json", Expect::Ignored),
    ("s3/go-s3-replication-event.json", Expect::Ignored),
    ("s3/go-s3-restore-event.json", Expect::Ignored),
    ("s3/go-s3-test-event.json", Expect::Ignored),
    (
        "s3/java-s3_event.json",
        Expect::Objects(&[Obj {
            bucket: "example-bucket",
            key: "test/key",
            version_id: None,
            size: Some(1024),
            etag: Some("0123456789abcdef0123456789abcdef"),
            sequencer: Some("0A1B2C3D4E5F678901"),
        }]),
    ),
    (
        "s3/localstack-aws-recorded-ObjectCreated-CompleteMultipartUpload.json",
        Expect::Objects(&[Obj {
            bucket: "<resource:1>",
            key: "test-key",
            version_id: None,
            size: Some(6144),
            etag: Some("8eabe9d6b43316e840b079170916c079-1"),
            sequencer: Some("sequencer"),
        }]),
    ),
    (
        "s3/localstack-aws-recorded-ObjectCreated-Copy.json",
        Expect::Objects(&[Obj {
            bucket: "<resource:1>",
            key: "<object-key:1>",
            version_id: None,
            size: Some(9),
            etag: Some("437b930db84b8079c2dd804a71936b5f"),
            sequencer: Some("sequencer"),
        }]),
    ),
    (
        "s3/localstack-aws-recorded-copy-put-delete-sequence.json",
        Expect::Objects(&[
            Obj {
                bucket: "<resource:1>",
                key: "<object-key:1>",
                version_id: None,
                size: Some(9),
                etag: Some("437b930db84b8079c2dd804a71936b5f"),
                sequencer: Some("sequencer"),
            },
            Obj {
                bucket: "<resource:1>",
                key: "<object-key:2>",
                version_id: None,
                size: Some(9),
                etag: Some("437b930db84b8079c2dd804a71936b5f"),
                sequencer: Some("sequencer"),
            },
        ]),
    ),
    (
        "s3/localstack-aws-recorded-key-encoding-a-at-b.json",
        Expect::Objects(&[Obj {
            bucket: "<resource:1>",
            key: "a@b",
            version_id: None,
            size: Some(9),
            etag: Some("437b930db84b8079c2dd804a71936b5f"),
            sequencer: Some("sequencer"),
        }]),
    ),
    (
        "s3/powertools-py-s3Event.json",
        Expect::Objects(&[Obj {
            bucket: "lambda-artifacts-deafc19498e3f2df",
            key: "b21b84d653bb07b05b1e6b33684dc11b",
            version_id: None,
            size: Some(1305107),
            etag: Some("b21b84d653bb07b05b1e6b33684dc11b"),
            sequencer: Some("0C0F6F405D6ED209E1"),
        }]),
    ),
    ("s3/powertools-py-s3EventDeleteObject.json", Expect::Ignored),
    (
        "s3/powertools-py-s3EventGlacier.json",
        Expect::Objects(&[Obj {
            bucket: "lambda-artifacts-deafc19498e3f2df",
            key: "b21b84d653bb07b05b1e6b33684dc11b",
            version_id: None,
            size: Some(1305107),
            etag: Some("b21b84d653bb07b05b1e6b33684dc11b"),
            sequencer: Some("0C0F6F405D6ED209E1"),
        }]),
    ),
    ("s3/powertools-ts-s3-lifecycle-event.json", Expect::Ignored),
    (
        "s3/rezhaque-firehose-hive-partition-key.json",
        Expect::Objects(&[Obj {
            bucket: "vsf-dev-oh-frisco-ingested-wifiscan-data",
            key: "year=2025/month=08/day=13/hour=22/MVS-stream/frisco-wifiscan-mvs-stream-4-2025-08-13-22-29-19-176e8954-348c-4c9b-8798-1fc44872c0ad",
            version_id: None,
            size: Some(1049040),
            etag: Some("af789ccf52246f4d7c9eea1925176409"),
            sequencer: Some("00689D11F29F29282F"),
        }]),
    ),
    (
        "s3/rust-example-s3-event-with-decoded.json",
        Expect::Objects(&[Obj {
            bucket: "sourcebucket",
            key: "Happy Face.jpg",
            version_id: Some("version"),
            size: Some(1024),
            etag: Some("d41d8cd98f00b204e9800998ecf8427e"),
            sequencer: Some("Happy Sequencer"),
        }]),
    ),
    (
        "s3/rust-example-s3-event.json",
        Expect::Objects(&[Obj {
            bucket: "sourcebucket",
            key: "Happy Face.jpg",
            version_id: Some("version"),
            size: Some(1024),
            etag: Some("d41d8cd98f00b204e9800998ecf8427e"),
            sequencer: Some("Happy Sequencer"),
        }]),
    ),
    ("s3/sam-S3Delete.template.json", Expect::Ignored),
    (
        "s3/sam-S3Put.template.json",
        Expect::Objects(&[Obj {
            bucket: "{{{bucket}}}",
            key: "{{{key}}}",
            version_id: None,
            size: Some(1024),
            etag: Some("0123456789abcdef0123456789abcdef"),
            sequencer: Some("0A1B2C3D4E5F678901"),
        }]),
    ),
    (
        "sns/pt4069-sns_s3_event.json",
        Expect::Objects(&[Obj {
            bucket: "s3-sns-unwrap-bucket-683517028648",
            key: "samconfig.toml",
            version_id: None,
            size: Some(221),
            etag: Some("551277913a5ad93e0db069e673f23376"),
            sequencer: Some("0065F3718D39E6D6DC"),
        }]),
    ),
    (
        "sqs/datadog-sqs_s3.json",
        Expect::Objects(&[Obj {
            bucket: "my-bucket",
            key: "my-key.log",
            version_id: None,
            size: Some(1234),
            etag: None,
            sequencer: None,
        }]),
    ),
    (
        "sqs/datadog-sqs_sns_s3.json",
        Expect::Objects(&[Obj {
            bucket: "my-bucket",
            key: "my-key.log",
            version_id: None,
            size: Some(1234),
            etag: None,
            sequencer: None,
        }]),
    ),
    (
        "sqs/powertools-py-s3SqsEvent.json",
        Expect::Objects(&[Obj {
            bucket: "xxx",
            key: "test.pdf",
            version_id: Some("yd3d4HaWOT2zguDLvIQLU6ptDTwKBnQV"),
            size: Some(104681),
            etag: Some("2e3ad1e983318bbd8e73b080e2997980"),
            sequencer: Some("00643717F9F8B85354"),
        }]),
    ),
    // Generic SQS messages (plain text, JSON that is no event): not ours to drop unseen.
    ("sqs/powertools-py-snsSqsEvent.json", Expect::NotAnEvent),
    ("sqs/powertools-py-sqsEvent.json", Expect::NotAnEvent),
    (
        "sqs/pt4069-sqs_eb_s3_event.json",
        Expect::Objects(&[Obj {
            bucket: "s3-eb-unwrap-sourcebucket-7mop1gqlyrzu",
            key: "__init__.py",
            version_id: None,
            size: Some(0),
            etag: Some("d41d8cd98f00b204e9800998ecf8427e"),
            sequencer: Some("0066030E82E2A48DFE"),
        }]),
    ),
    (
        "sqs/pt4069-sqs_rawsns_s3_event.json",
        Expect::Objects(&[Obj {
            bucket: "unwraptestevents-bucket-683517028648",
            key: "samconfig.toml",
            version_id: None,
            size: Some(221),
            etag: Some("9cc7da5febb07868706f59ab70d89981"),
            sequencer: Some("0065FA186CC08E810D"),
        }]),
    ),
    (
        "sqs/pt4069-sqs_s3_event.json",
        Expect::Objects(&[Obj {
            bucket: "sqs-s3-unwrap-bucket-683517028648",
            key: "samconfig.toml",
            version_id: None,
            size: Some(221),
            etag: Some("8f6c039f567cc53694be2a275e452743"),
            sequencer: Some("0065F349D4F05B5827"),
        }]),
    ),
    (
        "sqs/pt4069-sqs_s3_multi_event.json",
        Expect::Objects(&[
            Obj {
                bucket: "example-bucket11",
                key: "example-object-3.txt",
                version_id: Some("3"),
                size: Some(3072),
                etag: Some("example-tag-3"),
                sequencer: Some("example-sequencer-3"),
            },
            Obj {
                bucket: "example-bucket22",
                key: "example-object-3.txt",
                version_id: Some("3"),
                size: Some(3072),
                etag: Some("example-tag-3"),
                sequencer: Some("example-sequencer-3"),
            },
        ]),
    ),
    (
        "sqs/pt4069-sqs_sns_s3_event.json",
        Expect::Objects(&[Obj {
            bucket: "unwraptestevents-bucket-683517028648",
            key: "firehose-s3-template.json",
            version_id: None,
            size: Some(4314),
            etag: Some("e77dffcd1756d6e8e5123ef1e0ce7c54"),
            sequencer: Some("0065FA0B4B104A6DAB"),
        }]),
    ),
    ("sqs/rust-example-sqs-event.json", Expect::NotAnEvent),
    ("sqs/sam-Sqs.template.json", Expect::NotAnEvent),
    (
        "sqs/umccr-sqs-eventbridge-object-created-copyobject.json",
        Expect::Objects(&[Obj {
            bucket: "pipeline-dev-cache-987654321987-ap-southeast-2",
            key: "byob-icav2/development/primary/240424_A01052_0193_BH7JMMDRX5/2024062093bae4d5/InterOp/OpticalModelMetricsOut.bin",
            version_id: None,
            size: Some(14363),
            etag: Some("9999999b411d58dc35bf3c978a680647"),
            sequencer: Some("00667479A0F5211022"),
        }]),
    ),
    (
        "sqs/umccr-sqs-eventbridge-object-deleted.json",
        Expect::Ignored,
    ),
    (
        "sqs/umccr-sqs-s3-put.json",
        Expect::Objects(&[Obj {
            bucket: "primary-data-dev",
            key: "cancer_report_tables/hrd/SBJ00001__SBJ00001_MDX000001_L0000001_rerun-hrdetect.json.gz",
            version_id: Some("La_q0lNQXDZtGvlb_WBf3o6yUVcch4T2"),
            size: Some(170),
            etag: Some("1870ed1a461dad0af6fd8da246399999"),
            sequencer: Some("12347C27880044A321"),
        }]),
    ),
    ("sqs/umccr-sqs-s3-test-event.json", Expect::Ignored),
];

#[test]
fn every_fixture_decodes_to_its_objects() {
    let dir = fixtures();
    // Every fixture file is listed: a new file must get an expectation.
    let mut on_disk = Vec::new();
    for sub in std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e} (set LOGLAKE_FIXTURES)", dir.display()))
    {
        let sub = sub.unwrap().path();
        if sub.is_dir() {
            for f in std::fs::read_dir(&sub).unwrap() {
                let f = f.unwrap().path();
                on_disk.push(f.strip_prefix(&dir).unwrap().display().to_string());
            }
        }
    }
    on_disk.sort();
    let mut listed: Vec<String> = EXPECTED.iter().map(|(f, _)| (*f).to_owned()).collect();
    listed.sort();
    assert_eq!(on_disk, listed);

    for (file, expect) in EXPECTED {
        let bytes = std::fs::read(dir.join(file)).unwrap();
        let result = decode(&bytes);
        match expect {
            Expect::NotAnEvent => {
                let e = result.expect_err(file);
                assert!(!e.message.is_empty(), "{file}");
            }
            Expect::Ignored => {
                let d = result.unwrap_or_else(|e| panic!("{file}: {e}"));
                assert_eq!(d.objects().count(), 0, "{file}");
                assert!(
                    d.ignored().count() > 0,
                    "{file}: ignored events carry a reason"
                );
            }
            Expect::Objects(want) => {
                let d = result.unwrap_or_else(|e| panic!("{file}: {e}"));
                let got: Vec<_> = d.objects().collect();
                assert_eq!(got.len(), want.len(), "{file}: {got:?}");
                for (g, w) in got.iter().zip(want.iter()) {
                    assert_eq!(g.bucket, w.bucket, "{file}");
                    assert_eq!(g.key, w.key, "{file}");
                    assert_eq!(g.version_id.as_deref(), w.version_id, "{file}");
                    assert_eq!(g.size, w.size, "{file}");
                    assert_eq!(g.etag.as_deref(), w.etag, "{file}");
                    assert_eq!(g.sequencer.as_deref(), w.sequencer, "{file}");
                }
            }
        }
    }
}

#[test]
fn sqs_batches_keep_one_entry_per_message() {
    let bytes = std::fs::read(fixtures().join("sqs/pt4069-sqs_s3_multi_event.json")).unwrap();
    let d = decode(&bytes).unwrap();
    assert_eq!(d.messages.len(), 2);
    for m in &d.messages {
        assert!(m.message_id.is_some());
        assert_eq!(m.objects.len(), 1);
    }
    let test = std::fs::read(fixtures().join("sqs/umccr-sqs-s3-test-event.json")).unwrap();
    let d = decode(&test).unwrap();
    assert_eq!(d.messages.len(), 1);
    assert!(d.messages[0].ignored[0].contains("s3:TestEvent"), "{d:?}");
}

#[test]
fn key_decoding_matches_the_published_cases() {
    let text = std::fs::read_to_string(fixtures().join("key_decoding_cases.json")).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let cases = doc["cases"].as_array().unwrap();
    assert!(cases.len() >= 14);
    for c in cases {
        let encoded = c["encoded"].as_str().unwrap();
        let decoded = c["decoded"].as_str().unwrap();
        assert_eq!(
            form_url_decode(encoded).unwrap(),
            decoded,
            "{}",
            c["source"]
        );
        // And inside a notification, end to end.
        let event = serde_json::json!({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
            "s3": {"bucket": {"name": "b"}, "object": {"key": encoded, "size": 1}}}]});
        let d = loglake_trigger::event::decode_value(&event).unwrap();
        assert_eq!(d.objects().next().unwrap().key, decoded);
    }
}

/// The crate's folder, as `cargo test` says at run time (a test binary reused from a build in
/// another checkout must not read that checkout's files).
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}
