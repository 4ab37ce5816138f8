//! `loh chaos`, the kill campaign users run, in its short form: two SIGKILLs of `loh up` while
//! bots play, each followed by a restart; every acknowledged command is in the log once, the
//! chain intact, value conserved. (The long form, 100 kills, is run by hand: docs/RELIABILITY.md.)

use crate::process::loh;

#[test]
fn a_short_kill_campaign_loses_and_doubles_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let out = loh()
        .args([
            "chaos",
            "--faults",
            "2",
            "--players",
            "6",
            "--min-secs",
            "2",
            "--max-secs",
            "4",
            "--json",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .expect("run loh chaos");
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(out.status.success(), "{summary}");
    assert_eq!(summary["faults"], 2);
    assert_eq!(summary["lost"], 0, "{summary}");
    assert_eq!(summary["duplicated"], 0, "{summary}");
    assert_eq!(summary["intact"], true);
    assert_eq!(summary["conserved"], true);
    assert!(
        summary["acknowledged"].as_u64().unwrap() > 20,
        "too little was acknowledged to prove anything: {summary}"
    );
    for fault in summary["per_fault"].as_array().unwrap() {
        assert!(fault["recovery_secs"].as_f64().unwrap() > 0.0, "{fault}");
    }
}

#[test]
fn chaos_refuses_bad_arguments() {
    for args in [
        &["chaos", "--faults", "0"][..],
        &["chaos", "--min-secs", "5", "--max-secs", "1"],
        &["chaos", "--players", "x"],
    ] {
        let out = loh().args(args).output().unwrap();
        assert!(!out.status.success(), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?} says why");
    }
}
