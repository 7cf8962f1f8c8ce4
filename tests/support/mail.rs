//! A real SMTP server for the tests: aiosmtpd (from PyPI, in the test venv)
//! capturing into a Maildir, and a reader of what it captured.

use super::{venv_python, wait_until, Running};
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// The test venv's Python, with aiosmtpd.
pub fn python() -> PathBuf {
    venv_python("aiosmtpd")
}

/// aiosmtpd on `port`, delivering into the Maildir `dir`.
pub fn smtp_server(port: u16, dir: &Path) -> Running {
    let child = std::process::Command::new(python())
        .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until("the SMTP server to listen", 30, || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    Running(child)
}

/// A captured e-mail: (To, Subject, Message-ID, body).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub message_id: String,
    pub body: String,
}

/// Every message in the Maildir `dir`.
pub fn mailbox(dir: &Path) -> Vec<Mail> {
    let mut mails = Vec::new();
    for sub in ["new", "cur"] {
        let Ok(entries) = std::fs::read_dir(dir.join(sub)) else { continue };
        for entry in entries {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
            let header = |name: &str| {
                head.lines()
                    .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(": ")))
                    .unwrap_or_default()
                    .trim()
                    .to_string()
            };
            mails.push(Mail {
                to: header("To"),
                subject: header("Subject"),
                message_id: header("Message-ID"),
                body: body.replace("=\n", "").trim().to_string(),
            });
        }
    }
    mails.sort();
    mails
}
