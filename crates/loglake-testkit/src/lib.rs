//! Test support: the moto server (AWS emulator) on loopback, and golden files.
//!
//! [`Moto::start`] uses the server `scripts/test.sh` started (`LOGLAKE_MOTO_URL`), else starts
//! `scripts/moto-server.py` with the test venv's Python (`LOGLAKE_VENV`, default
//! `/var/tmp/loglake-venv`) or a `python3` that has moto. Without
//! moto it returns `None` so the test can say it skipped, unless `LOGLAKE_REQUIRE_MOTO` is set
//! (the test script sets it, so CI can never skip silently).

#![allow(clippy::print_stdout)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A moto server: started here (stopped on drop) or shared.
#[derive(Debug)]
pub struct Moto {
    child: Option<Child>,
    /// `host:port`.
    pub addr: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The venv's Python (with moto), else `python3` on `PATH` when it has moto.
fn moto_python() -> Option<PathBuf> {
    let venv = std::env::var("LOGLAKE_VENV").unwrap_or_else(|_| "/var/tmp/loglake-venv".into());
    let candidate = Path::new(&venv).join("bin/python");
    if candidate.exists() {
        return Some(candidate);
    }
    let python = PathBuf::from("python3");
    Command::new(&python)
        .args(["-c", "import moto.server"])
        .status()
        .is_ok_and(|s| s.success())
        .then_some(python)
}

/// `scripts/moto-server.py` (moto with requests applied one at a time, as AWS does).
fn moto_script() -> PathBuf {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    manifest.join("../../scripts/moto-server.py")
}

impl Moto {
    /// The shared server, or a new one; `None` (after saying so) when moto is not installed.
    ///
    /// # Panics
    /// When moto is missing and `LOGLAKE_REQUIRE_MOTO` is set, or it does not start in 30 s.
    pub fn start() -> Option<Moto> {
        if let Ok(url) = std::env::var("LOGLAKE_MOTO_URL") {
            let addr = url
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .to_owned();
            return Some(Moto { child: None, addr });
        }
        let Some(python) = moto_python() else {
            assert!(
                std::env::var_os("LOGLAKE_REQUIRE_MOTO").is_none(),
                "moto_server not found: run scripts/test.sh, which installs it in the test venv"
            );
            println!("SKIPPED: moto_server not found (scripts/test.sh installs it)");
            return None;
        };
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free loopback port");
        let child = Command::new(python)
            .arg(moto_script())
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts");
        let moto = Moto {
            child: Some(child),
            addr: format!("127.0.0.1:{port}"),
        };
        let t = Instant::now();
        while TcpStream::connect(&moto.addr).is_err() {
            assert!(t.elapsed() < Duration::from_secs(30), "moto did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(moto)
    }

    /// `http://host:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// One plain HTTP/1.1 request; returns the status and body. moto does not check
    /// signatures, but treats a request without any `Authorization` as anonymous (and refuses
    /// to overwrite an object), so a syntactically valid, unsigned header is sent.
    ///
    /// # Panics
    /// When moto cannot be reached or answers something that is not HTTP.
    pub fn http(&self, method: &str, path: &str, body: &[u8]) -> (u16, String) {
        let mut s = TcpStream::connect(&self.addr).expect("moto reachable");
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\nConnection: close\r\n\
             Authorization: AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/s3/aws4_request, \
             SignedHeaders=host, Signature=0\r\n\r\n",
            self.addr,
            body.len()
        )
        .expect("request sent");
        s.write_all(body).expect("body sent");
        let mut resp = Vec::new();
        s.read_to_end(&mut resp).expect("answer read");
        let text = String::from_utf8_lossy(&resp).into_owned();
        let status = text
            .get(9..12)
            .and_then(|s| s.parse().ok())
            .expect("an HTTP status line");
        let body = text
            .split_once("\r\n\r\n")
            .map_or("", |(_, b)| b)
            .to_owned();
        (status, body)
    }
}

/// A name unique to this process and call, for buckets, tables and jobs on a shared server.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{prefix}-{}-{}-{}",
        std::process::id(),
        nanos % 100_000,
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// The shared fixtures folder: `LOGLAKE_FIXTURES`, else `../shared/fixtures` beside the
/// repository (found from the running test's crate folder).
pub fn fixtures_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("LOGLAKE_FIXTURES") {
        return PathBuf::from(dir);
    }
    let manifest =
        std::env::var("CARGO_MANIFEST_DIR").map_or_else(|_| PathBuf::from("."), PathBuf::from);
    manifest.join("../../../shared/fixtures")
}

/// Compares `actual` with the golden file `testdata/golden/<name>` of the repository.
///
/// `UPDATE_GOLDEN=1` rewrites the file instead (review the diff), except under CI (`CI` set),
/// where a test that rewrote its own expectation could never fail: there it panics.
///
/// # Panics
/// When the output differs, the file is missing, or `UPDATE_GOLDEN` is set under CI.
pub fn golden(name: &str, actual: &str) {
    let manifest =
        std::env::var("CARGO_MANIFEST_DIR").map_or_else(|_| PathBuf::from("."), PathBuf::from);
    let path = manifest.join("../../testdata/golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        assert!(
            std::env::var_os("CI").is_none(),
            "UPDATE_GOLDEN is set under CI: refusing to rewrite {}; update goldens locally and \
             commit the reviewed diff",
            path.display()
        );
        std::fs::write(&path, actual)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    assert_eq!(
        actual,
        expected,
        "golden file {} differs; if the change is intended, rerun with UPDATE_GOLDEN=1 and \
         review the diff",
        path.display()
    );
}

/// AWS resources on moto, made through the SDK (as Terraform would make them).
pub mod aws {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    use aws_sdk_glue::types::{ExecutionProperty, JobCommand};
    use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};

    use super::Moto;

    /// The SDK configuration for `moto` (fixed test credentials, us-east-1).
    pub async fn sdk(moto: &Moto) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(moto.url())
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "testing", "testing", None, None, "moto",
            ))
            .load()
            .await
    }

    /// An S3 client with path-style addressing (loopback has no per-bucket host names).
    pub fn s3(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(sdk)
                .force_path_style(true)
                .build(),
        )
    }

    /// Creates a bucket, versioned when asked.
    ///
    /// # Panics
    /// When moto refuses.
    pub async fn bucket(s3: &aws_sdk_s3::Client, name: &str, versioned: bool) {
        s3.create_bucket()
            .bucket(name)
            .send()
            .await
            .expect("create bucket");
        if versioned {
            s3.put_bucket_versioning()
                .bucket(name)
                .versioning_configuration(
                    VersioningConfiguration::builder()
                        .status(BucketVersioningStatus::Enabled)
                        .build(),
                )
                .send()
                .await
                .expect("enable versioning");
        }
    }

    /// Creates a ledger table as `infra/ddb.tf` does (hash key `id`, on demand).
    ///
    /// # Panics
    /// When moto refuses.
    pub async fn ledger_table(sdk: &aws_config::SdkConfig, name: &str) {
        let attribute = AttributeDefinition::builder()
            .attribute_name("id")
            .attribute_type(ScalarAttributeType::S)
            .build()
            .expect("attribute");
        let key = KeySchemaElement::builder()
            .attribute_name("id")
            .key_type(KeyType::Hash)
            .build()
            .expect("key");
        aws_sdk_dynamodb::Client::new(sdk)
            .create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attribute)
            .key_schema(key)
            .send()
            .await
            .expect("create table");
    }

    /// Creates a Glue job (`glueetl`) allowing `max_concurrent_runs`.
    ///
    /// # Panics
    /// When moto refuses.
    pub async fn glue_job(sdk: &aws_config::SdkConfig, name: &str, max_concurrent_runs: i32) {
        aws_sdk_glue::Client::new(sdk)
            .create_job()
            .name(name)
            .role("arn:aws:iam::123456789012:role/loglake-glue")
            .command(
                JobCommand::builder()
                    .name("glueetl")
                    .script_location("s3://code/glue/loglake_glue_job.py")
                    .build(),
            )
            .execution_property(
                ExecutionProperty::builder()
                    .max_concurrent_runs(max_concurrent_runs)
                    .build(),
            )
            .send()
            .await
            .expect("create job");
    }
}
