//! The binaries' start-up errors: bad sessions are refused with a clear
//! message and exit status 1 before anything is created (no root needed:
//! sessions are validated before the TUN and the socket).

use std::process::Command;

fn run(bin: &str, args: &[&str]) -> (i32, String) {
    let out = Command::new(bin)
        .args(args)
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const GNB: &str = env!("CARGO_BIN_EXE_gnb-sim");
const PEER: &str = env!("CARGO_BIN_EXE_gtpu-peer");

#[test]
fn bad_ue_spec_is_refused() {
    for bin in [GNB, PEER] {
        let (code, err) = run(bin, &["--ue", "10.45.0.2,ul_teid=0x100,qfi=9"]);
        assert_eq!(code, 1, "{err}");
        assert!(err.contains("dl_teid missing"), "{err}");
    }
    let (code, err) = run(GNB, &["--ue", "10.45.0.2,ul_teid=1,dl_teid=2,qfi=64"]);
    assert_eq!(code, 1);
    assert!(err.contains("qfi 64 > 63"), "{err}");
}

#[test]
fn bad_session_file_names_file_line_and_field() {
    let dir = std::env::temp_dir().join(format!("gnbsim-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("sessions.json");
    std::fs::write(&f, "{ \"sessions\": [\n  { \"ue_ip\": \"10.45.0.2\", \"ul_teid\": 1, \"dl_teid\": 2, \"qif\": 9 }\n] }\n")
        .unwrap();
    let (code, err) = run(GNB, &["--sessions", f.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("sessions.json") && err.contains("qif") && err.contains("line 2"),
        "{err}"
    );

    std::fs::write(
        &f,
        r#"{"sessions":[{"ue_ip":"10.45.0.2","ul_teid":1,"dl_teid":2,"qfi":9},
                        {"ue_ip":"10.45.0.3","ul_teid":3,"dl_teid":2,"qfi":9}]}"#,
    )
    .unwrap();
    let (code, err) = run(GNB, &["--sessions", f.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("dl_teid 0x2 also used by session 0"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn no_sessions_is_refused() {
    let (code, err) = run(GNB, &[]);
    assert_eq!(code, 1);
    assert!(err.contains("no sessions"), "{err}");
}

#[test]
fn missing_file_is_named() {
    let (code, err) = run(GNB, &["--sessions", "/nonexistent/s.json"]);
    assert_eq!(code, 1);
    assert!(err.contains("/nonexistent/s.json"), "{err}");
}
