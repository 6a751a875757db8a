//! moto's S3-compatible server for the S3 tests, and the venv's AWS CLI pointed at it.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The Python venv of scripts/install-deps (AWS CLI, moto).
pub fn venv() -> PathBuf {
    PathBuf::from(
        std::env::var("VODPACK_VENV").unwrap_or_else(|_| "/var/cache/vodpack/venv".into()),
    )
}

/// A moto S3 server on a free port (any key is accepted); continued and killed on drop.
pub struct Moto {
    child: std::process::Child,
    pub endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        // A test may have stopped it (SIGSTOP); a stopped process cannot be waited for.
        let _ = Command::new("kill")
            .args(["-CONT", &self.child.id().to_string()])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    pub async fn start() -> Moto {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let bin = venv().join("bin/moto_server");
        assert!(
            bin.exists(),
            "{} is missing: run scripts/install-deps",
            bin.display()
        );
        let child = Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Owned by the guard at once, so it is killed and waited for whatever happens next.
        let moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        for _ in 0..100 {
            if reqwest::get(format!("{}/", moto.endpoint)).await.is_ok() {
                return moto;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("moto_server did not start");
    }

    /// Runs the venv's `aws` against this server with test credentials; it must succeed.
    pub fn aws(&self, args: &[&str]) {
        let out = Command::new(venv().join("bin/aws"))
            .args(["--endpoint-url", &self.endpoint])
            .args(args)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "aws {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Sends a signal (`-STOP`, `-CONT`) to the server process.
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig}");
    }
}
