//! The browser player harness shared by the player tests (players.rs, players_encrypted.rs):
//! where the players and Chromium are, the CI rule for skipping, and one run of
//! tests/players/play.mjs.

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The folder holding the players' node_modules.
pub fn players_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("VODPACK_PLAYERS_DIR") {
        return PathBuf::from(d);
    }
    let out = Command::new(repo_root().join("scripts/install-players"))
        .arg("--print-dir")
        .output()
        .expect("run scripts/install-players --print-dir");
    assert!(
        out.status.success(),
        "scripts/install-players --print-dir failed"
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

pub fn chromium() -> PathBuf {
    std::env::var_os("VODPACK_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// What one case came to (play.mjs's JSON line, or why the case did not get that far).
pub enum Outcome {
    Played(String),
    Failed(String),
}

/// Runs play.mjs (`seconds` of playback before the seek, `timeout` for the whole run, further
/// arguments `extra`); its last stdout line is the JSON result.
pub fn play_for(
    player: &str,
    url: &str,
    seconds: &str,
    timeout: &str,
    extra: &[&str],
    players: &Path,
) -> Outcome {
    let out = Command::new("node")
        .arg(repo_root().join("tests/players/play.mjs"))
        .args(["--player", player, "--url", url])
        .args(["--seconds", seconds, "--timeout", timeout])
        .args(extra)
        .arg("--players-dir")
        .arg(players)
        .arg("--chromium")
        .arg(chromium())
        .output()
        .expect("run node (is Node.js installed?)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().rev().find(|l| l.starts_with('{'));
    match line.map(|l| (l, serde_json::from_str::<serde_json::Value>(l))) {
        Some((l, Ok(v))) if out.status.success() && v["ok"] == true => Outcome::Played(l.into()),
        Some((l, Ok(_))) => Outcome::Failed(l.into()),
        _ => Outcome::Failed(format!(
            "play.mjs exited with {} and no result; stdout: {stdout}; stderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )),
    }
}

/// Whether this run is CI: `VODPACK_CI` (set by `.ci/run`) or the `CI` variable most CI
/// systems set, to anything but empty, `0` or `false`.
pub fn in_ci() -> bool {
    ["VODPACK_CI", "CI"].iter().any(|k| {
        std::env::var(k)
            .map(|v| !matches!(v.trim(), "" | "0" | "false"))
            .unwrap_or(false)
    })
}

/// The players' folder, after checking every piece is there; `None` when the run asks to skip
/// (`VODPACK_SKIP_PLAYERS=1`, refused in CI). Missing pieces fail.
pub fn players_or_skip() -> Option<PathBuf> {
    if std::env::var("VODPACK_SKIP_PLAYERS").as_deref() == Ok("1") {
        assert!(
            !in_ci(),
            "VODPACK_SKIP_PLAYERS=1 in CI (VODPACK_CI or CI is set): the browser tests cannot be \
             skipped in CI"
        );
        println!("players: skipped (VODPACK_SKIP_PLAYERS=1)");
        return None;
    }
    let hint = if in_ci() {
        "run scripts/install-players"
    } else {
        "run scripts/install-players (or set VODPACK_SKIP_PLAYERS=1)"
    };
    let players = players_dir();
    assert!(
        players.join("node_modules/playwright-core").is_dir()
            && players.join("node_modules/hls.js").is_dir(),
        "no player packages in {}: {hint}",
        players.display()
    );
    assert!(
        chromium().exists(),
        "no Chromium at {}: {hint}",
        chromium().display()
    );
    Some(players)
}
