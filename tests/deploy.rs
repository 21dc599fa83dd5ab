//! The deployment files of `deploy/` are valid and start the agent they describe: the
//! Prometheus configuration passes `promtool check config`, the systemd unit passes
//! `systemd-analyze verify`, and the command lines of the unit and of the Kubernetes
//! DaemonSet are accepted by the built binary (run on a shipped capture instead of a
//! live interface, with the metrics on a free port).

use std::path::Path;
use std::process::{Command, Stdio};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn have(program: &str, required_by: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var_os(required_by).is_none(),
            "{program} is missing"
        );
        eprintln!("note: {program} not found: that check is skipped");
    }
    found
}

/// Runs the binary with a deployment's arguments, the live interface replaced by the
/// shipped capture and the metrics address by a free one.
fn runs_with(args: &[String]) {
    let mut args: Vec<String> = args.to_vec();
    let i = args.iter().position(|a| a == "-i").expect("a -i option");
    args[i] = "-f".into();
    args[i + 1] = "samples/keepalive.pcap".into();
    if let Some(m) = args.iter().position(|a| a == "--metrics-listen") {
        args[m + 1] = "127.0.0.1:0".into();
    }
    let out = Command::new(env!("CARGO_BIN_EXE_rustniffer"))
        .args(&args)
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.stdout.is_empty(), "{args:?} printed nothing");
}

#[test]
fn the_prometheus_configuration_is_valid() {
    if !have("promtool", "RUSTNIFFER_REQUIRE_PROMETHEUS") {
        return;
    }
    let out = Command::new("promtool")
        .args(["check", "config", "deploy/prometheus/prometheus.yml"])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_systemd_unit_is_valid_and_its_command_line_runs() {
    let unit = std::fs::read_to_string(root().join("deploy/rustniffer.service")).unwrap();
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("an ExecStart line");
    let mut words = exec.split_whitespace();
    assert_eq!(words.next(), Some("/usr/local/bin/rustniffer"));
    runs_with(&words.map(str::to_string).collect::<Vec<_>>());
    for line in [
        "AmbientCapabilities=CAP_NET_RAW",
        "CapabilityBoundingSet=CAP_NET_RAW",
        "DynamicUser=yes",
    ] {
        assert!(unit.lines().any(|l| l == line), "{line}");
    }
    if !have("systemd-analyze", "RUSTNIFFER_REQUIRE_SYSTEMD") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("rustniffer-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let copy = dir.join("rustniffer.service");
    std::fs::write(
        &copy,
        unit.replace(
            "/usr/local/bin/rustniffer",
            env!("CARGO_BIN_EXE_rustniffer"),
        ),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !text.contains("rustniffer.service:"),
        "{text}"
    );
}

#[test]
fn the_daemonset_runs_the_agent_with_net_raw_only() {
    let yaml = std::fs::read_to_string(root().join("deploy/kubernetes/daemonset.yaml")).unwrap();
    let args: Vec<String> = yaml
        .lines()
        .skip_while(|l| l.trim() != "args:")
        .skip(1)
        .take_while(|l| l.trim_start().starts_with("- "))
        .map(|l| {
            l.trim_start()
                .trim_start_matches("- ")
                .trim_matches('"')
                .to_string()
        })
        .collect();
    assert!(args.len() > 3, "{args:?}");
    runs_with(&args);
    for needle in [
        "hostNetwork: true",
        "drop: [\"ALL\"]",
        "add: [\"NET_RAW\"]",
        "containerPort: 9464",
    ] {
        assert!(yaml.contains(needle), "{needle}");
    }
}
