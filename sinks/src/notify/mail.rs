//! E-mail over SMTP (lettre), to a relay: plain SMTP on a trusted network
//! (a local MTA or the provider's relay endpoint inside the deployment,
//! which carries it on with TLS). One connection per message, bounded by the
//! delivery timeout as a whole. A timeout after the message was handed over
//! but before the server's "250" is SMTP's own ambiguity: the retry may
//! deliver a second copy with the same Message-ID, which receivers can drop.

use super::ledger::Finished;
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;

/// Sends e-mail through one SMTP server.
#[derive(Clone, Debug)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    server: String,
    timeout: Duration,
}

/// An e-mail to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mail<'a> {
    /// Becomes the Message-ID (`<notificationId@shopflow>`), so a receiver can drop a copy.
    pub notification_id: &'a str,
    /// The recipient's name.
    pub to_name: &'a str,
    /// The recipient's address.
    pub to_address: &'a str,
    /// Subject.
    pub subject: &'a str,
    /// Plain-text body.
    pub body: &'a str,
}

impl Mailer {
    /// A mailer for `url` (`smtp://host[:port]`, port 25 by default) sending
    /// as `from` (`Name <address>`); an error says which is wrong.
    pub fn new(url: &str, from: &str, timeout: Duration) -> Result<Mailer, String> {
        let rest = url
            .strip_prefix("smtp://")
            .ok_or_else(|| format!("SMTP URL `{url}`: expected smtp://host[:port] (plain SMTP to a relay)"))?;
        let rest = rest.trim_end_matches('/');
        if rest.contains('@') || rest.contains('/') || rest.is_empty() {
            return Err(format!(
                "SMTP URL `{url}`: expected smtp://host[:port] (no credentials: they would cross in the clear)"
            ));
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) => {
                (host, port.parse::<u16>().map_err(|_| format!("SMTP URL `{url}`: `{port}` is not a port"))?)
            }
            None => (rest, 25),
        };
        let from: Mailbox = from.parse().map_err(|e| format!("sender `{from}`: {e}"))?;
        let transport =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host).port(port).timeout(Some(timeout)).build();
        Ok(Mailer { transport, from, server: format!("{host}:{port}"), timeout })
    }

    /// The server it sends through.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Sends `mail`: [`Finished::Sent`] once the server accepted it,
    /// [`Finished::Failed`] when it refused it for good (a 5xx, a bad
    /// address), [`Finished::Retrying`] when it may work later (the server is
    /// down or answered 4xx).
    pub async fn send(&self, mail: &Mail<'_>) -> Finished {
        let to = match mail.to_address.parse() {
            Ok(address) => Mailbox::new(Some(mail.to_name.to_string()).filter(|n| !n.is_empty()), address),
            Err(e) => return Finished::Failed(format!("recipient address `{}`: {e}", mail.to_address)),
        };
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject)
            .message_id(Some(format!("<{}@shopflow>", mail.notification_id)))
            .header(ContentType::TEXT_PLAIN)
            .body(mail.body.to_string());
        let message = match message {
            Ok(message) => message,
            Err(e) => return Finished::Failed(format!("building the message: {e}")),
        };
        // lettre's timeout bounds the TCP connect only: a server that accepts and then
        // says nothing would hold the e-mail queue for ever.
        match tokio::time::timeout(self.timeout, self.transport.send(message)).await {
            Err(_) => Finished::Retrying(format!("{}: no answer within {:?}", self.server, self.timeout)),
            Ok(Ok(_)) => Finished::Sent,
            Ok(Err(e)) if e.is_permanent() => Finished::Failed(format!("{} refused it: {e}", self.server)),
            Ok(Err(e)) => Finished::Retrying(format!("{}: {e}", self.server)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_server_that_accepts_and_says_nothing_is_tried_again_after_the_timeout() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let _silent = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                held.push(stream);
            }
        });
        let mailer = Mailer::new(&format!("smtp://127.0.0.1:{port}"), "a <a@b.c>", Duration::from_millis(300)).unwrap();
        let mail =
            Mail { notification_id: "ntf-1", to_name: "Ann", to_address: "ann@example.com", subject: "s", body: "b" };
        let outcome = tokio::time::timeout(Duration::from_secs(10), mailer.send(&mail)).await.expect("bounded");
        assert!(matches!(&outcome, Finished::Retrying(reason) if reason.contains("no answer")), "{outcome:?}");
    }

    #[test]
    fn the_smtp_url_is_a_relay_without_credentials() {
        let timeout = Duration::from_secs(1);
        assert_eq!(Mailer::new("smtp://127.0.0.1:2525", "a <a@b.c>", timeout).unwrap().server(), "127.0.0.1:2525");
        assert_eq!(Mailer::new("smtp://mail.internal", "a@b.c", timeout).unwrap().server(), "mail.internal:25");
        assert!(Mailer::new("smtps://h:465", "a@b.c", timeout).unwrap_err().contains("smtp://host"));
        assert!(Mailer::new("smtp://u:p@h:25", "a@b.c", timeout).unwrap_err().contains("credentials"));
        assert!(Mailer::new("smtp://h:x", "a@b.c", timeout).unwrap_err().contains("not a port"));
        assert!(Mailer::new("smtp://h:25", "nobody", timeout).unwrap_err().contains("sender"));
    }
}
