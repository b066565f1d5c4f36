//! `loglake run` and `loglake query` with S3 raw, clean and quarantine locations, against a
//! moto server on loopback: the one `scripts/test.sh` starts (`LOGLAKE_MOTO_URL`), else one
//! started here from the test venv. Without moto the test says so and passes, unless
//! `LOGLAKE_REQUIRE_MOTO` is set (the test script sets it, so CI can never skip it silently).

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Instant;

use loglake_testkit::Moto;

fn encode_key(key: &str) -> String {
    key.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn put(moto: &Moto, bucket: &str, key: &str, body: &[u8]) {
    let (status, text) = moto.http("PUT", &format!("/{bucket}/{}", encode_key(key)), body);
    assert_eq!(status, 200, "PUT {bucket}/{key}: {text}");
}

fn loglake(moto: &Moto, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_loglake"))
        .args(args)
        .env("AWS_ENDPOINT_URL", moto.url())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap()
}

/// Asserts the exit code, showing stderr when it differs.
fn assert_exit(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn lines(o: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn run_and_query_on_s3() {
    let Some(moto) = Moto::start() else { return };
    // Unique names: the server may be shared with other tests.
    let n = std::process::id();
    let (raw_b, clean_b) = (format!("raw-{n}"), format!("clean-{n}"));
    for b in [&raw_b, &clean_b] {
        assert_eq!(moto.http("PUT", &format!("/{b}"), b"").0, 200);
    }
    let gen_dir = tempfile::tempdir().unwrap();
    let g = Command::new(env!("CARGO_BIN_EXE_loglake"))
        .args([
            "gen",
            "--out",
            gen_dir.path().to_str().unwrap(),
            "--files",
            "3",
            "--lines",
            "1500",
            "--seed",
            "8",
            "--gzip",
        ])
        .output()
        .unwrap();
    assert!(g.status.success());
    let files: Vec<PathBuf> = (0..3)
        .map(|i| gen_dir.path().join(format!("app-{i:04}.ndjson.gz")))
        .collect();
    // Keys with a space, a plus and unicode; a zero-byte object and a folder marker (ignored).
    let keys = [
        "logs/a b+c.ndjson.gz",
        "logs/ünï/app-1.ndjson.gz",
        "logs/2024/app-2.ndjson.gz",
    ];
    for (k, f) in keys.iter().zip(&files) {
        put(&moto, &raw_b, k, &std::fs::read(f).unwrap());
    }
    put(&moto, &raw_b, "logs/empty.json", b"");
    put(&moto, &raw_b, "logs/folder/", b"");

    let root = tempfile::tempdir().unwrap();
    let r = root.path().to_str().unwrap();
    let (raw_uri, clean_uri, q_uri) = (
        format!("s3://{raw_b}/logs"),
        format!("s3://{clean_b}/clean"),
        format!("s3://{clean_b}/quarantine"),
    );
    let s3_args = [
        "run",
        "--root",
        r,
        "--quiet",
        "--raw",
        &raw_uri,
        "--clean",
        &clean_uri,
        "--quarantine",
        &q_uri,
    ];
    let t = Instant::now();
    let run = loglake(&moto, &s3_args);
    println!("S3 run (debug build): {:?}", t.elapsed());
    let stderr = String::from_utf8_lossy(&run.stderr);
    let reports = lines(&run);
    assert_eq!(reports.len(), 3, "{stderr}\n{reports:?}");
    let mut written = 0;
    for rep in &reports {
        assert_eq!(rep["outcome"], "processed", "{rep}");
        assert!(
            rep["id"]
                .as_str()
                .unwrap()
                .starts_with(&format!("s3://{raw_b}/logs/"))
        );
        let s = &rep["summary"];
        written += s["records_written"].as_u64().unwrap();
        for f in s["files"].as_array().unwrap() {
            assert!(
                f.as_str()
                    .unwrap()
                    .starts_with(&format!("s3://{clean_b}/clean/app_logs/dt=")),
                "{f}"
            );
        }
        if s["records_quarantined"].as_u64().unwrap() > 0 {
            assert!(
                s["quarantine_file"]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("s3://{clean_b}/quarantine/app_logs/"))
            );
        }
    }
    let ids: Vec<&str> = reports.iter().map(|l| l["key"].as_str().unwrap()).collect();
    assert!(ids.contains(&"logs/a b+c.ndjson.gz"), "{ids:?}");

    let count = |moto: &Moto| {
        let q = loglake(
            moto,
            &[
                "query",
                "--root",
                r,
                "--format",
                "csv",
                "SELECT count(*) AS n FROM app_logs",
            ],
        );
        assert!(q.status.success(), "{}", String::from_utf8_lossy(&q.stderr));
        String::from_utf8(q.stdout).unwrap()
    };
    assert_eq!(count(&moto), format!("n\n{written}\n"));

    // Rerun: nothing new.
    let again = loglake(&moto, &s3_args);
    assert!(lines(&again).iter().all(|l| l["outcome"] == "duplicate"));

    // A new version of one key (other content → new ETag) replaces that key's rows.
    let small = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_loglake"))
        .args([
            "gen",
            "--out",
            small.path().to_str().unwrap(),
            "--files",
            "1",
            "--lines",
            "100",
            "--seed",
            "1",
        ])
        .output()
        .unwrap();
    put(
        &moto,
        &raw_b,
        keys[0],
        &std::fs::read(small.path().join("app-0000.ndjson")).unwrap(),
    );
    let third = loglake(&moto, &s3_args);
    let processed: Vec<_> = lines(&third)
        .into_iter()
        .filter(|l| l["outcome"] == "processed")
        .collect();
    assert_eq!(processed.len(), 1);
    let old = reports.iter().find(|l| l["key"] == keys[0]).unwrap();
    let expected = written - old["summary"]["records_written"].as_u64().unwrap()
        + processed[0]["summary"]["records_written"].as_u64().unwrap();
    assert_eq!(count(&moto), format!("n\n{expected}\n"));
    // The manifest of that source names only the new files.
    let sid = processed[0]["summary"]["source_id"].as_str().unwrap();
    let (status, manifest) = moto.http(
        "GET",
        &format!("/{clean_b}/clean/app_logs/_manifests/{sid}.json"),
        b"",
    );
    assert_eq!(status, 200);
    let m: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    assert_eq!(
        m["files"].as_array().unwrap().len(),
        processed[0]["summary"]["files"].as_array().unwrap().len()
    );
}

/// `loglake transform` with `s3://` input (a pinned version, and a prefix) and `s3://` output
/// writes the same bytes, names and counts as the local-file path for the same source name.
#[test]
fn transform_s3_in_s3_out_matches_the_local_path() {
    let Some(moto) = Moto::start() else { return };
    let (raw, clean) = (
        loglake_testkit::unique("traw"),
        loglake_testkit::unique("tclean"),
    );
    let gen_dir = tempfile::tempdir().unwrap();
    let g = Command::new(env!("CARGO_BIN_EXE_loglake"))
        .args(["gen", "--out", gen_dir.path().to_str().unwrap()])
        .args(["--files", "2", "--lines", "20000", "--seed", "11", "--gzip"])
        .output()
        .unwrap();
    assert!(g.status.success());
    let mut files: Vec<PathBuf> = std::fs::read_dir(gen_dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let key = "logs/app one.json.gz";
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (s3, v1) = rt.block_on(async {
        let sdk = loglake_testkit::aws::sdk(&moto).await;
        let s3 = loglake_testkit::aws::s3(&sdk);
        loglake_testkit::aws::bucket(&s3, &raw, true).await;
        loglake_testkit::aws::bucket(&s3, &clean, false).await;
        let mut versions = Vec::new();
        for f in &files {
            let body = aws_sdk_s3::primitives::ByteStream::from(std::fs::read(f).unwrap());
            let out = s3
                .put_object()
                .bucket(&raw)
                .key(key)
                .body(body)
                .send()
                .await
                .unwrap();
            versions.push(out.version_id().unwrap().to_owned());
        }
        (s3, versions[0].clone())
    });

    // The first version, pinned, from S3 to S3.
    let t = Instant::now();
    let remote = loglake(
        &moto,
        &[
            "transform",
            "--quiet",
            "--input",
            &format!("s3://{raw}/{key}"),
        ],
    );
    assert_eq!(remote.status.code(), Some(2), "--output is required");
    let remote = loglake(
        &moto,
        &[
            "transform",
            "--quiet",
            "--input",
            &format!("s3://{raw}/{key}"),
            "--version-id",
            &v1,
            "--output",
            &format!("s3://{clean}/out"),
        ],
    );
    let s3_time = t.elapsed();
    let stderr = String::from_utf8_lossy(&remote.stderr);
    let summary = &lines(&remote)[0];
    assert_eq!(summary["source"], format!("s3://{raw}/{key}"), "{stderr}");

    // The same bytes from a local file, with the same source name, to a folder.
    let out = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let local = loglake(
        &moto,
        &[
            "transform",
            "--quiet",
            "--input",
            files[0].to_str().unwrap(),
            "--source",
            &format!("{raw}/{key}"),
            "--output",
            out.path().to_str().unwrap(),
        ],
    );
    let local_time = t.elapsed();
    let expected = &lines(&local)[0];
    for field in [
        "records_in",
        "records_written",
        "records_quarantined",
        "bytes_in",
        "partitions",
    ] {
        assert_eq!(summary[field], expected[field], "{field}");
    }
    let mb = expected["bytes_in"].as_f64().unwrap() / 1e6;
    println!(
        "transform {mb:.1} MB: S3 -> S3 (moto) {:.1} MB/s, local -> local {:.1} MB/s (debug build)",
        mb / s3_time.as_secs_f64(),
        mb / local_time.as_secs_f64()
    );
    // Every file is where the contract says, byte for byte the local one.
    let remote_files = summary["files"].as_array().unwrap();
    assert_eq!(
        remote_files.len(),
        expected["files"].as_array().unwrap().len()
    );
    for f in remote_files {
        let uri = f.as_str().unwrap();
        let rel = uri
            .strip_prefix(&format!("s3://{clean}/out/"))
            .unwrap_or_else(|| panic!("{uri} is not under the output root"));
        assert!(rel.starts_with("clean/app_logs/dt="), "{rel}");
        let body = rt.block_on(async {
            let k = format!("out/{rel}");
            let o = s3.get_object().bucket(&clean).key(&k).send().await.unwrap();
            o.body.collect().await.unwrap().into_bytes()
        });
        assert_eq!(
            &body[..],
            &std::fs::read(out.path().join(rel)).unwrap()[..],
            "{rel}"
        );
    }
    let q = summary["quarantine_file"].as_str().unwrap();
    assert!(
        q.starts_with(&format!("s3://{clean}/out/quarantine/app_logs/")),
        "{q}"
    );

    // A prefix reads the current version (the second file).
    let listed = loglake(
        &moto,
        &[
            "transform",
            "--quiet",
            "--input",
            &format!("s3://{raw}/logs/"),
            "--output",
            &format!("s3://{clean}/out"),
        ],
    );
    let listed = lines(&listed);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["records_in"], 20_000);
    // A missing object names itself.
    let missing = loglake(
        &moto,
        &[
            "transform",
            "--quiet",
            "--input",
            &format!("s3://{raw}/logs/nope.json"),
            "--output",
            &format!("s3://{clean}/out"),
        ],
    );
    assert_ne!(missing.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.contains(&format!("s3://{raw}/logs/nope.json")) && stderr.contains("not found"),
        "{stderr}"
    );
}

/// Creates `database.app_logs` as infra/catalog.tf does, from the built-in schema; `tweak`
/// changes the columns first (to make a table that disagrees with the schema).
async fn glue_table(
    glue: &aws_sdk_glue::Client,
    database: &str,
    location: &str,
    tweak: impl Fn(&mut Vec<(String, String)>),
) {
    let schema = loglake_core::Schema::default_app_logs()
        .compile("built-in")
        .unwrap();
    glue_table_of(glue, &schema, database, location, tweak).await;
}

/// [`glue_table`] for any schema whose table is `app_logs`.
async fn glue_table_of(
    glue: &aws_sdk_glue::Client,
    schema: &loglake_core::CompiledSchema,
    database: &str,
    location: &str,
    tweak: impl Fn(&mut Vec<(String, String)>),
) {
    use aws_sdk_glue::types::{Column, DatabaseInput, SerDeInfo, StorageDescriptor, TableInput};
    let t = loglake_core::catalog::catalog_table(schema, database, location);
    let mut columns = t.column_types();
    tweak(&mut columns);
    let column = |(n, ty): &(String, String)| Column::builder().name(n).r#type(ty).build().unwrap();
    glue.create_database()
        .database_input(DatabaseInput::builder().name(database).build().unwrap())
        .send()
        .await
        .unwrap();
    let storage = StorageDescriptor::builder()
        .set_columns(Some(columns.iter().map(column).collect()))
        .location(location)
        .input_format("org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat")
        .output_format("org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat")
        .serde_info(
            SerDeInfo::builder()
                .serialization_library(
                    "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
                )
                .build(),
        )
        .build();
    let keys = t
        .partition_keys
        .iter()
        .map(|c| column(&(c.name.clone(), c.kind.clone())))
        .collect();
    glue.create_table()
        .database_name(database)
        .table_input(
            TableInput::builder()
                .name("app_logs")
                .table_type("EXTERNAL_TABLE")
                .storage_descriptor(storage)
                .set_partition_keys(Some(keys))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

/// `--catalog` registers the written partitions (twice is fine) and refuses, before writing
/// anything, a table whose columns disagree with the schema.
#[test]
fn transform_registers_partitions_and_refuses_a_mismatched_table() {
    let Some(moto) = Moto::start() else { return };
    let (raw, clean) = (
        loglake_testkit::unique("craw"),
        loglake_testkit::unique("cclean"),
    );
    let (good, bad) = (
        loglake_testkit::unique("db").replace('-', "_"),
        loglake_testkit::unique("db").replace('-', "_"),
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let location = format!("s3://{clean}/out/clean/app_logs");
    let (s3, glue) = rt.block_on(async {
        let sdk = loglake_testkit::aws::sdk(&moto).await;
        let s3 = loglake_testkit::aws::s3(&sdk);
        let glue = aws_sdk_glue::Client::new(&sdk);
        loglake_testkit::aws::bucket(&s3, &raw, false).await;
        loglake_testkit::aws::bucket(&s3, &clean, false).await;
        glue_table(&glue, &good, &location, |_| {}).await;
        glue_table(&glue, &bad, &location, |cols| {
            cols.iter_mut().find(|(n, _)| n == "status").unwrap().1 = "string".into();
            cols.retain(|(n, _)| n != "attributes");
        })
        .await;
        let body = "{\"ts\":\"2024-05-01T07:08:09Z\",\"level\":\"info\",\"msg\":\"a\",\"status\":200}\n\
                    {\"ts\":\"2024-05-01T09:00:00Z\",\"level\":\"warn\",\"msg\":\"b\",\"status\":\"503\"}\n";
        s3.put_object()
            .bucket(&raw)
            .key("logs/a.json")
            .body(aws_sdk_s3::primitives::ByteStream::from_static(body.as_bytes()))
            .send()
            .await
            .unwrap();
        (s3, glue)
    });
    let transform = |db: &str, prefix: &str| {
        loglake(
            &moto,
            &[
                "transform",
                "--quiet",
                "--input",
                &format!("s3://{raw}/logs/a.json"),
                "--output",
                &format!("s3://{clean}/{prefix}"),
                "--catalog",
                &format!("{db}.app_logs"),
            ],
        )
    };
    let partitions = |db: &str| {
        rt.block_on(async {
            let out = glue
                .get_partitions()
                .database_name(db)
                .table_name("app_logs")
                .send()
                .await
                .unwrap();
            let mut p: Vec<(Vec<String>, String)> = out
                .partitions()
                .iter()
                .map(|p| {
                    let loc = p
                        .storage_descriptor()
                        .and_then(|s| s.location())
                        .unwrap_or_default();
                    (p.values().to_vec(), loc.to_owned())
                })
                .collect();
            p.sort();
            p
        })
    };
    for _ in 0..2 {
        let run = transform(&good, "out");
        assert_exit(&run, 0);
        assert_eq!(
            partitions(&good),
            [
                (
                    vec!["2024-05-01".to_owned(), "07".to_owned()],
                    format!("{location}/dt=2024-05-01/hr=07")
                ),
                (
                    vec!["2024-05-01".to_owned(), "09".to_owned()],
                    format!("{location}/dt=2024-05-01/hr=09")
                ),
            ]
        );
    }
    // `loglake query --glue`: DataFusion over the table as the Glue catalog describes it
    // (columns, partition keys, S3 location).
    let query =
        |spec: &str, sql: &str| loglake(&moto, &["query", "--glue", spec, "--format", "csv", sql]);
    let q = query(
        &good,
        "SELECT dt, hr, level, message, status FROM app_logs ORDER BY hr",
    );
    assert_exit(&q, 0);
    assert_eq!(
        String::from_utf8_lossy(&q.stdout),
        "dt,hr,level,message,status\n2024-05-01,07,INFO,a,200\n2024-05-01,09,WARN,b,503\n"
    );
    let q = query(
        &format!("{good}.app_logs"),
        "SELECT count(*) AS n FROM app_logs WHERE hr = '09'",
    );
    assert_eq!(String::from_utf8_lossy(&q.stdout), "n\n1\n");
    let no_db = query("no_such_db", "SELECT 1");
    assert_eq!(no_db.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&no_db.stderr)
            .contains("database `no_such_db` is not in the Glue Data Catalog"),
        "{}",
        String::from_utf8_lossy(&no_db.stderr)
    );
    let no_table = query(&format!("{good}.nope"), "SELECT 1");
    assert_eq!(no_table.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&no_table.stderr).contains(&format!(
            "table `{good}.nope` is not in the Glue Data Catalog"
        )),
        "{}",
        String::from_utf8_lossy(&no_table.stderr)
    );

    let refused = transform(&bad, "bad");
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("column `status` is `string` in the table but `int` in the schema")
            && stderr.contains(
                "column `attributes` (`string`) is in the schema but not yet in the Glue table: apply infra/"
            ),
        "{stderr}"
    );
    let written = rt.block_on(async {
        s3.list_objects_v2()
            .bucket(&clean)
            .prefix("bad/")
            .send()
            .await
            .unwrap()
            .key_count()
    });
    assert_eq!(written, Some(0), "nothing written for a refused table");
}

/// Regression: publishing to S3 removed a previous version's files only where the transform
/// wrote (the local staging folder, where they never are), so a new version of a key whose
/// records fell in other partitions left the old version's rows in the table.
#[test]
fn a_new_version_on_s3_removes_the_old_versions_files_in_partitions_it_left() {
    let Some(moto) = Moto::start() else { return };
    let (raw, clean) = (
        loglake_testkit::unique("mraw"),
        loglake_testkit::unique("mclean"),
    );
    let key = "logs/moving.json";
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (s3, v1, v2) = rt.block_on(async {
        let sdk = loglake_testkit::aws::sdk(&moto).await;
        let s3 = loglake_testkit::aws::s3(&sdk);
        loglake_testkit::aws::bucket(&s3, &raw, true).await;
        loglake_testkit::aws::bucket(&s3, &clean, false).await;
        let mut versions = Vec::new();
        for body in [
            "{\"ts\":\"2024-05-01T07:00:00Z\",\"msg\":\"a\"}\n{\"ts\":\"2024-05-01T08:00:00Z\",\"msg\":\"b\"}\n",
            "{\"ts\":\"2024-05-01T09:00:00Z\",\"msg\":\"c\"}\n",
        ] {
            let out = s3
                .put_object()
                .bucket(&raw)
                .key(key)
                .body(aws_sdk_s3::primitives::ByteStream::from_static(
                    body.as_bytes(),
                ))
                .send()
                .await
                .unwrap();
            versions.push(out.version_id().unwrap().to_owned());
        }
        (s3, versions[0].clone(), versions[1].clone())
    });
    let transform = |version: &str| {
        let o = loglake(
            &moto,
            &[
                "transform",
                "--quiet",
                "--input",
                &format!("s3://{raw}/{key}"),
                "--version-id",
                version,
                "--output",
                &format!("s3://{clean}"),
            ],
        );
        assert_exit(&o, 0);
        lines(&o).remove(0)
    };
    let listing = || {
        rt.block_on(async {
            let out = s3.list_objects_v2().bucket(&clean).send().await.unwrap();
            let mut keys: Vec<String> = out
                .contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned))
                .filter(|k| k.ends_with(".parquet"))
                .collect();
            keys.sort();
            keys
        })
    };
    let sid = loglake_core::source_id(&format!("{raw}/{key}"));
    let first = transform(&v1);
    assert_eq!(first["removed_files"], serde_json::json!([]));
    assert_eq!(
        listing(),
        [
            format!("clean/app_logs/dt=2024-05-01/hr=07/part-{sid}-0.parquet"),
            format!("clean/app_logs/dt=2024-05-01/hr=08/part-{sid}-0.parquet"),
        ]
    );
    let second = transform(&v2);
    assert_eq!(
        listing(),
        [format!(
            "clean/app_logs/dt=2024-05-01/hr=09/part-{sid}-0.parquet"
        )],
        "only the new version's file is left"
    );
    assert_eq!(
        second["removed_files"],
        serde_json::json!([
            format!("s3://{clean}/clean/app_logs/dt=2024-05-01/hr=07/part-{sid}-0.parquet"),
            format!("s3://{clean}/clean/app_logs/dt=2024-05-01/hr=08/part-{sid}-0.parquet"),
        ])
    );
}

/// An extra partition key whose values hold `/`, `=` and `%`: Glue gets the raw values (as
/// Hive keeps them) and locations with the escaped folder names the files are in.
#[test]
fn glue_partitions_hold_raw_values_and_escaped_locations() {
    let Some(moto) = Moto::start() else { return };
    let (raw, clean) = (
        loglake_testkit::unique("praw"),
        loglake_testkit::unique("pclean"),
    );
    let db = loglake_testkit::unique("db").replace('-', "_");
    let path = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap())
        .join("../../testdata/extra_partition_key.schema.json");
    let schema = loglake_core::Schema::from_path(&path)
        .unwrap()
        .compile("test")
        .unwrap();
    let location = format!("s3://{clean}/out/clean/app_logs");
    let envs = ["prod/eu", "a=b", "100%"];
    let rt = tokio::runtime::Runtime::new().unwrap();
    let glue = rt.block_on(async {
        let sdk = loglake_testkit::aws::sdk(&moto).await;
        let s3 = loglake_testkit::aws::s3(&sdk);
        let glue = aws_sdk_glue::Client::new(&sdk);
        loglake_testkit::aws::bucket(&s3, &raw, false).await;
        loglake_testkit::aws::bucket(&s3, &clean, false).await;
        glue_table_of(&glue, &schema, &db, &location, |_| {}).await;
        glue
    });
    let body: String = envs
        .iter()
        .map(|e| format!("{}\n", serde_json::json!({"ts": 0, "env": e, "msg": "m"})))
        .collect();
    put(&moto, &raw, "logs/e.json", body.as_bytes());
    let run = loglake(
        &moto,
        &[
            "transform",
            "--quiet",
            "--input",
            &format!("s3://{raw}/logs/e.json"),
            "--output",
            &format!("s3://{clean}/out"),
            "--schema",
            path.to_str().unwrap(),
            "--catalog",
            &format!("{db}.app_logs"),
        ],
    );
    assert_exit(&run, 0);
    let mut got: Vec<(String, String)> = rt.block_on(async {
        let out = glue
            .get_partitions()
            .database_name(&db)
            .table_name("app_logs")
            .send()
            .await
            .unwrap();
        out.partitions()
            .iter()
            .map(|p| {
                let loc = p.storage_descriptor().and_then(|s| s.location());
                (p.values()[2].clone(), loc.unwrap_or_default().to_owned())
            })
            .collect()
    });
    got.sort();
    let mut want: Vec<(String, String)> = envs
        .iter()
        .map(|e| {
            let escaped = loglake_core::partition::escape(e);
            (
                (*e).to_owned(),
                format!("{location}/dt=1970-01-01/hr=00/env={escaped}"),
            )
        })
        .collect();
    want.sort();
    assert_eq!(got, want);
}

/// `schema infer` and `schema check` read `s3://` prefixes as they read folders: the same
/// objects give byte-identical output on stdout.
#[test]
fn schema_infer_and_check_read_s3_prefixes_like_folders() {
    let Some(moto) = Moto::start() else { return };
    let bucket = loglake_testkit::unique("schema");
    assert_eq!(moto.http("PUT", &format!("/{bucket}"), b"").0, 200);
    let gen_dir = tempfile::tempdir().unwrap();
    let g = Command::new(env!("CARGO_BIN_EXE_loglake"))
        .args(["gen", "--out", gen_dir.path().to_str().unwrap()])
        .args(["--files", "3", "--lines", "800", "--seed", "9", "--gzip"])
        .output()
        .unwrap();
    assert!(g.status.success());
    for e in std::fs::read_dir(gen_dir.path()).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_str().unwrap().to_owned();
        put(
            &moto,
            &bucket,
            &format!("in/{name}"),
            &std::fs::read(&p).unwrap(),
        );
    }
    let local = gen_dir.path().to_str().unwrap();
    let remote = format!("s3://{bucket}/in/");
    let infer = |input: &str| loglake(&moto, &["schema", "infer", input, "--sample", "500"]);
    let (l, r) = (infer(local), infer(&remote));
    assert_exit(&l, 0);
    assert_exit(&r, 0);
    assert_eq!(
        String::from_utf8_lossy(&l.stdout),
        String::from_utf8_lossy(&r.stdout)
    );
    let schema_dir = tempfile::tempdir().unwrap();
    let schema = schema_dir.path().join("inferred.json");
    std::fs::write(&schema, &l.stdout).unwrap();
    let check = |input: &str| {
        loglake(
            &moto,
            &[
                "schema",
                "check",
                "--schema",
                schema.to_str().unwrap(),
                input,
                "--max-quarantine", // the generator writes about 1% bad lines
                "0.05",
            ],
        )
    };
    let (l, r) = (check(local), check(&remote));
    assert_exit(&l, 0);
    assert_exit(&r, 0);
    assert_eq!(lines(&l), lines(&r));
    assert_eq!(lines(&r)[0]["records"], 2400);
}

/// `loglake gen` into `dir`, every file uploaded under `prefix`; the generator's valid lines.
fn gen_to_s3(moto: &Moto, dir: &std::path::Path, bucket: &str, prefix: &str, args: &[&str]) -> u64 {
    let mut all = vec!["gen", "--out", dir.to_str().unwrap()];
    all.extend_from_slice(args);
    let g = loglake(moto, &all);
    assert_exit(&g, 0);
    let report: serde_json::Value = serde_json::from_slice(&g.stdout).unwrap();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        put(
            moto,
            bucket,
            &format!("{prefix}{name}"),
            &std::fs::read(&path).unwrap(),
        );
    }
    report["lines"].as_u64().unwrap() - report["bad_lines"].as_u64().unwrap()
}

/// A raw and a clean bucket and a Glue table `<db>.app_logs` over `s3://<clean>/clean/app_logs`,
/// for the compaction tests; the `loglake` commands those tests run against them.
struct Lake<'m> {
    moto: &'m Moto,
    raw: String,
    clean: String,
    db: String,
    catalog: String,
    rt: tokio::runtime::Runtime,
    s3: aws_sdk_s3::Client,
    glue: aws_sdk_glue::Client,
}

impl<'m> Lake<'m> {
    fn new(moto: &'m Moto, tag: &str) -> Self {
        let (raw, clean) = (
            loglake_testkit::unique(&format!("{tag}raw")),
            loglake_testkit::unique(&format!("{tag}clean")),
        );
        let db = loglake_testkit::unique("db").replace('-', "_");
        let rt = tokio::runtime::Runtime::new().unwrap();
        let location = format!("s3://{clean}/clean/app_logs");
        let (s3, glue) = rt.block_on(async {
            let sdk = loglake_testkit::aws::sdk(moto).await;
            let s3 = loglake_testkit::aws::s3(&sdk);
            let glue = aws_sdk_glue::Client::new(&sdk);
            loglake_testkit::aws::bucket(&s3, &raw, false).await;
            loglake_testkit::aws::bucket(&s3, &clean, false).await;
            glue_table(&glue, &db, &location, |_| {}).await;
            (s3, glue)
        });
        let catalog = format!("{db}.app_logs");
        Self {
            moto,
            raw,
            clean,
            db,
            catalog,
            rt,
            s3,
            glue,
        }
    }

    /// `loglake transform INPUT --output s3://<clean> --catalog <db>.app_logs`.
    fn transform(&self, input: &str) {
        let out = format!("s3://{}", self.clean);
        let args = [
            "transform",
            "--quiet",
            "--input",
            input,
            "--output",
            &out,
            "--catalog",
            &self.catalog,
        ];
        let o = loglake(self.moto, &args);
        assert!(
            o.status.code().is_some_and(|c| c <= 1),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }

    /// The first row of `loglake query --glue … --format csv SQL`.
    fn query(&self, sql: &str) -> String {
        let o = loglake(
            self.moto,
            &["query", "--glue", &self.catalog, "--format", "csv", sql],
        );
        assert_exit(&o, 0);
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .nth(1)
            .unwrap()
            .to_owned()
    }

    /// "rows,distinct trace ids" through the catalog.
    fn totals(&self) -> String {
        self.query("SELECT count(*) AS n, count(DISTINCT trace_id) AS d FROM app_logs")
    }

    /// `glue-task compact-plan` (settled now, two files or more, zero grace): its lines.
    fn plan(&self) -> Vec<String> {
        let args = [
            "glue-task",
            "compact-plan",
            "--catalog",
            &self.catalog,
            "--settle-minutes",
            "0",
            "--min-files",
            "2",
            "--grace-minutes",
            "0",
        ];
        let o = loglake(self.moto, &args);
        assert_exit(&o, 0);
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// `glue-task compact` of one plan line, killed at `failpoint` when given.
    fn compact(&self, line: &str, failpoint: Option<&str>) -> Output {
        let schema = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas/app_logs.json");
        let mut c = Command::new(env!("CARGO_BIN_EXE_loglake"));
        c.args([
            "glue-task",
            "compact",
            "--partition",
            line,
            "--schema",
            schema,
            "--catalog",
            &self.catalog,
            "--grace-minutes",
            "0",
        ])
        .env("AWS_ENDPOINT_URL", self.moto.url())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env_remove("AWS_PROFILE");
        if let Some(f) = failpoint {
            c.env("LOGLAKE_FAILPOINT", f);
        }
        c.output().unwrap()
    }

    /// A whole pass: the plan, then each line compacted; the results.
    fn compact_pass(&self) -> Vec<serde_json::Value> {
        self.plan()
            .iter()
            .map(|line| {
                let o = self.compact(line, None);
                assert_exit(&o, 0);
                serde_json::from_slice(&o.stdout).unwrap()
            })
            .collect()
    }

    /// Keys in the clean bucket under `prefix`.
    fn keys(&self, prefix: &str) -> Vec<String> {
        self.rt.block_on(async {
            let out = self
                .s3
                .list_objects_v2()
                .bucket(&self.clean)
                .prefix(prefix)
                .send()
                .await
                .unwrap();
            out.contents()
                .iter()
                .map(|o| o.key().unwrap().to_owned())
                .collect()
        })
    }

    /// Every partition's location in the catalog, sorted.
    fn locations(&self) -> Vec<String> {
        self.rt.block_on(async {
            let out = self
                .glue
                .get_partitions()
                .database_name(&self.db)
                .table_name("app_logs")
                .send()
                .await
                .unwrap();
            let mut l: Vec<String> = out
                .partitions()
                .iter()
                .map(|p| {
                    p.storage_descriptor()
                        .unwrap()
                        .location()
                        .unwrap()
                        .to_owned()
                })
                .collect();
            l.sort();
            l
        })
    }
}

/// Compaction on S3 through the Glue Data Catalog (the Glue job's compaction mode:
/// `glue-task compact-plan`, then `compact` per partition) while `query --glue` counts: every
/// read sees every row once; each partition's location moves to `gen-1/…` in one
/// `UpdatePartition`; late data lands in the current folder and is counted at once; a new
/// version of a compacted source replaces exactly its rows; a second pass deletes the old
/// generation after its (zero) grace period.
#[test]
fn compaction_on_s3_switches_glue_partitions_and_keeps_every_row() {
    let Some(moto) = Moto::start() else { return };
    let lake = Lake::new(&moto, "k");
    let dirs = tempfile::tempdir().unwrap();
    let gen_args = [
        "--files", "12", "--lines", "400", "--hours", "3", "--seed", "4",
    ];
    let want = gen_to_s3(&moto, &dirs.path().join("a"), &lake.raw, "logs/", &gen_args);
    lake.transform(&format!("s3://{}/logs/", lake.raw));
    assert_eq!(lake.totals(), format!("{want},{want}"));

    // A reader counting through the catalog during the first pass.
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (results, reads) = std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let mut reads = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                reads.push(lake.totals());
            }
            reads
        });
        let results = lake.compact_pass();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        (results, reader.join().unwrap())
    });
    assert_eq!(results.len(), 3, "{results:?}");
    assert!(
        results
            .iter()
            .all(|r| r["outcome"] == "compacted" && r["generation"] == 1)
    );
    assert!(!reads.is_empty());
    for r in &reads {
        assert_eq!(r, &format!("{want},{want}"), "a reader saw a partial table");
    }
    let locations = lake.locations();
    assert!(
        locations
            .iter()
            .all(|l| l.contains("/clean/app_logs/gen-1/dt=")),
        "{locations:?}"
    );

    // Late data for a compacted hour: in the partition's current folder, counted at once.
    let late_args = [
        "--files",
        "1",
        "--lines",
        "300",
        "--hours",
        "1",
        "--seed",
        "5",
        "--start",
        "2024-05-01T01:00:00Z",
    ];
    let late = gen_to_s3(
        &moto,
        &dirs.path().join("late"),
        &lake.raw,
        "late/",
        &late_args,
    );
    lake.transform(&format!("s3://{}/late/app-0000.ndjson", lake.raw));
    assert_eq!(
        lake.query("SELECT count(*) FROM app_logs"),
        (want + late).to_string()
    );
    let keys = lake.keys("clean/app_logs/gen-1/dt=2024-05-01/hr=01/");
    assert!(keys.iter().any(|k| k.contains("/part-")), "{keys:?}");

    // A new version of a compacted source replaces exactly its rows.
    let source = format!("{}/logs/app-0000.ndjson", lake.raw);
    let of_source = || {
        lake.query(&format!(
            "SELECT count(*) FROM app_logs WHERE source_object = '{source}'"
        ))
    };
    let old: u64 = of_source().parse().unwrap();
    assert!(old > 0);
    let v2_args = [
        "--files",
        "1",
        "--lines",
        "250",
        "--hours",
        "1",
        "--seed",
        "6",
        "--start",
        "2024-05-01T02:00:00Z",
    ];
    let new = gen_to_s3(&moto, &dirs.path().join("v2"), &lake.raw, "logs/", &v2_args);
    lake.transform(&format!("s3://{}/logs/app-0000.ndjson", lake.raw));
    assert_eq!(of_source(), new.to_string());
    let total = want + late - old + new;
    assert_eq!(
        lake.query("SELECT count(*) FROM app_logs"),
        total.to_string()
    );

    // A second pass: late files folded in, the first generation's folders deleted.
    lake.compact_pass();
    assert_eq!(
        lake.query("SELECT count(*) FROM app_logs"),
        total.to_string()
    );
    let gen0 = lake.keys("clean/app_logs/dt=");
    assert!(
        gen0.is_empty(),
        "generation 0 left after its grace period: {gen0:?}"
    );
}

/// A compaction killed just before or just after its `UpdatePartition` (SIGABRT at the
/// failpoint: no cleanup) leaves every row readable through the catalog, and the next pass
/// finishes the work: the partition ends at generation 1 with generation 0 deleted.
#[test]
fn a_compaction_killed_at_its_switch_leaves_every_row_readable() {
    let Some(moto) = Moto::start() else { return };
    let lake = Lake::new(&moto, "x");
    let dirs = tempfile::tempdir().unwrap();
    let gen_args = [
        "--files", "6", "--lines", "300", "--hours", "2", "--seed", "8",
    ];
    let want = gen_to_s3(&moto, dirs.path(), &lake.raw, "logs/", &gen_args);
    lake.transform(&format!("s3://{}/logs/", lake.raw));
    let expected = format!("{want},{want}");
    assert_eq!(lake.totals(), expected);
    let lines = lake.plan();
    assert_eq!(lines.len(), 2, "{lines:?}");
    for (line, point) in lines
        .iter()
        .zip(["glue-compact:before-swap", "glue-compact:after-swap"])
    {
        let o = lake.compact(line, Some(point));
        assert_eq!(o.status.code(), None, "{point}: not killed: {o:?}");
        assert_eq!(lake.totals(), expected, "after a kill at {point}");
    }
    // The attempt killed before its switch left generation 1 uploaded but not visible; an
    // extra file there (as a dead attempt with more output would leave) must not survive the
    // next attempt, or readers would count its rows twice after the switch.
    let first: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    let folder = format!(
        "clean/app_logs/gen-1/{}",
        first["partition"].as_str().unwrap()
    );
    lake.rt.block_on(async {
        lake.s3
            .copy_object()
            .bucket(&lake.clean)
            .copy_source(format!("{}/{folder}/compacted-0.parquet", lake.clean))
            .key(format!("{folder}/compacted-7.parquet"))
            .send()
            .await
            .unwrap();
    });
    // The next passes finish: compaction of the one not switched, deletion of generation 0.
    for _ in 0..2 {
        for line in lake.plan() {
            assert_exit(&lake.compact(&line, None), 0);
            assert_eq!(lake.totals(), expected);
        }
    }
    let keys = lake.keys("clean/app_logs/");
    let parquet: Vec<&String> = keys.iter().filter(|k| k.ends_with(".parquet")).collect();
    assert!(parquet.iter().all(|k| k.contains("/gen-1/")), "{keys:?}");
    assert_eq!(
        parquet
            .iter()
            .filter(|k| k.ends_with("compacted-0.parquet"))
            .count(),
        2
    );
}
