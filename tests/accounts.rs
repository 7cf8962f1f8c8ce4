//! Accounts end to end, against the real broker, Redis, ClickHouse and an
//! SMTP server (aiosmtpd): `shopflow run` with notifications on serves the
//! API over a socket; a shopper registers, signs in, reads their profile,
//! signs out (their refresh token then refused), resets a forgotten password
//! through the mailed link, signs in with the new one (the old one fails),
//! turns on a TOTP second factor, changes their e-mail, is suspended (their
//! token refused at once, their sign-in refused). An unknown account and a
//! wrong password answer the same 401 after the same work. No password or
//! hash reaches ClickHouse's audit log, the dead letters or the logs.

mod support;

use serde_json::{json, Value};
use shopflow_api::auth::{Auth, Role};
use std::io::{Read, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};
use support::api::{Api, SECRET};
use support::mail::{mailbox, smtp_server};
use support::{exchange, free_port, read_topic, status_and_body, temp_path, wait_until, Running, Space};

/// One request over a fresh connection: (status, JSON body or null).
fn call(port: u16, method: &str, path: &str, token: Option<&str>, body: Option<&Value>) -> (u16, Value) {
    let answer = exchange(port, method, path, token, &body.map(Value::to_string).unwrap_or_default());
    let (status, body) = status_and_body(&answer);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// A token of the test's own (the API and the test share the secret).
fn token_of(user_id: &str, role: Role) -> String {
    Auth::hs256(SECRET, "shopflow", "shopflow-api").mint(user_id, role, None, 300)
}

/// Waits until the served state includes the write answered with `written`.
fn served(port: u16, written: &Value, user_id: &str) {
    let token = written["consistencyToken"].as_str().expect("a consistency token");
    let path = format!("/api/v1/status?after={token}");
    let (status, body) = call(port, "GET", &path, Some(&token_of(user_id, Role::Shopper)), None);
    assert_eq!(status, 200, "waiting for {written}: {body}");
}

fn login(port: u16, email: &str, password: &str, totp: Option<&str>) -> (u16, Value) {
    let mut body = json!({"email": email, "password": password});
    if let Some(code) = totp {
        body["totp"] = json!(code);
    }
    call(port, "POST", "/api/v1/auth/login", None, Some(&body))
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

#[test]
fn a_shoppers_account_from_registration_to_suspension() {
    let space = Space::new("accounts");
    space.run_ok(&["topics", "create", "--partitions", "3"]);
    let (port, smtp_port) = (free_port(), free_port());
    let maildir = temp_path("accounts-maildir");
    let _smtp = smtp_server(smtp_port, &maildir);
    let log = temp_path("accounts-run.log");
    let _run = Running(
        space
            .shopflow()
            .args(["run", "--workers", "1", "--notifications", "--idle-timeout", "300ms"])
            .args(["--http-addr", &format!("127.0.0.1:{port}"), "--public-url", "https://shop.test"])
            .args(["--smtp-url", &format!("smtp://127.0.0.1:{smtp_port}"), "--login-burst", "1000"])
            .env("SHOPFLOW_LOG", "debug")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    wait_until("the API to answer", 120, || support::answers_ok(port, "/ready"));

    // Register.
    let (email, password) = ("Ann.Smith@Example.org", "correct horse battery");
    let (status, bad) =
        call(port, "POST", "/api/v1/auth/register", None, Some(&json!({"email": "ann", "password": "short"})));
    assert_eq!(status, 400, "{bad}");
    let fields: Vec<&str> =
        bad["error"]["fields"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["email", "password", "name"], "{bad}");
    let body = json!({"email": email, "password": password, "name": "Ann Smith"});
    let (status, registered) = call(port, "POST", "/api/v1/auth/register", None, Some(&body));
    assert_eq!(status, 202, "{registered}");
    let user_id = registered["userId"].as_str().unwrap().to_string();
    served(port, &registered, &user_id);
    let again = json!({"email": " ann.smith@example.ORG", "password": "another password", "name": "Impostor"});
    let (status, taken) = call(port, "POST", "/api/v1/auth/register", None, Some(&again));
    assert_eq!((status, taken["error"]["code"].as_str()), (409, Some("email_taken")), "{taken}");

    // The stored credentials are an argon2id PHC string, not the password.
    let mut redis = redis::Client::open(support::redis_url()).unwrap().get_connection().unwrap();
    let generation: String = redis::cmd("GET").arg(format!("{}:current", space.name)).query(&mut redis).unwrap();
    let stored: String =
        redis::cmd("GET").arg(format!("{}:{generation}:credential:{user_id}", space.name)).query(&mut redis).unwrap();
    let stored: Value = serde_json::from_str(&stored).unwrap();
    let first_hash = stored["passwordHash"].as_str().unwrap().to_string();
    assert!(first_hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{stored}");
    assert!(!stored.to_string().contains(password));

    // Sign in (the login name in any case), read the profile.
    let (status, tokens) = login(port, "ann.smith@example.org", password, None);
    assert_eq!(status, 200, "{tokens}");
    assert_eq!((tokens["userId"].as_str(), tokens["role"].as_str()), (Some(user_id.as_str()), Some("shopper")));
    let access = tokens["accessToken"].as_str().unwrap().to_string();
    let (status, profile) = call(port, "GET", "/api/v1/users/profile", Some(&access), None);
    assert_eq!((status, profile["name"].as_str(), profile["email"].as_str()), (200, Some("Ann Smith"), Some(email)));
    let (status, _) = call(port, "GET", &format!("/api/v1/users/{user_id}"), Some(&access), None);
    assert_eq!(status, 403, "a shopper reads no one else's profile by id");
    let (status, by_admin) =
        call(port, "GET", &format!("/api/v1/users/{user_id}"), Some(&token_of("usr-admin", Role::Admin)), None);
    assert_eq!((status, by_admin["userId"].as_str()), (200, Some(user_id.as_str())));

    // An unknown account and a wrong password: the same answer, after the same work.
    let (mut unknown_times, mut wrong_times) = (Vec::new(), Vec::new());
    let mut answers = Vec::new();
    for round in 0..7 {
        let started = Instant::now();
        answers.push(login(port, &format!("nobody{round}@example.org"), password, None));
        unknown_times.push(started.elapsed());
        let started = Instant::now();
        answers.push(login(port, email, &format!("wrong password {round}"), None));
        wrong_times.push(started.elapsed());
    }
    for (status, body) in &answers {
        assert_eq!(status, &401);
        assert_eq!(body["error"]["code"], answers[0].1["error"]["code"]);
        assert_eq!(body["error"]["message"], answers[0].1["error"]["message"]);
    }
    assert_eq!(answers[0].1["error"]["code"], "invalid_credentials");
    let (unknown, wrong) = (median(unknown_times), median(wrong_times));
    // Without the absent account's hash an unknown account answers in well under a millisecond,
    // a wrong password after tens of milliseconds of argon2id: within a factor of two is "the same".
    assert!(unknown * 2 >= wrong && wrong * 2 >= unknown, "unknown {unknown:?}, wrong password {wrong:?}");

    // Refresh rotates; signing out revokes the refresh token.
    let refresh = |token: &str| call(port, "POST", "/api/v1/auth/refresh", None, Some(&json!({"refreshToken": token})));
    let (status, rotated) = refresh(tokens["refreshToken"].as_str().unwrap());
    assert_eq!(status, 200, "{rotated}");
    let (status, _) = call(port, "POST", "/api/v1/auth/logout", Some(&access), None);
    assert_eq!(status, 200);
    let (status, revoked) = refresh(rotated["refreshToken"].as_str().unwrap());
    assert_eq!(status, 401, "a refresh token after sign-out: {revoked}");

    // A forgotten password: always 202; the mail's link resets it once.
    let (status, _) = call(port, "POST", "/api/v1/auth/forgot-password", None, Some(&json!({"email": "nobody@x.org"})));
    assert_eq!(status, 202);
    let (status, _) = call(port, "POST", "/api/v1/auth/forgot-password", None, Some(&json!({"email": email})));
    assert_eq!(status, 202);
    wait_until("the reset mail", 60, || mailbox(&maildir).iter().any(|m| m.subject == "Reset your password"));
    let mails = mailbox(&maildir);
    let mail = mails.iter().find(|m| m.subject == "Reset your password").unwrap();
    assert!(mail.to.contains(email), "{mail:?}");
    assert_eq!(mails.iter().filter(|m| m.subject == "Reset your password").count(), 1, "nobody@x.org has no account");
    let body = mail.body.replace("=3D", "=");
    let link = body.split_whitespace().find(|w| w.starts_with("https://shop.test/reset-password?token=")).unwrap();
    let reset_token = link.rsplit_once('=').unwrap().1.to_string();
    let new_password = "a much better passphrase";
    let reset = json!({"token": reset_token, "password": new_password});
    let (status, written) = call(port, "POST", "/api/v1/auth/reset-password", None, Some(&reset));
    assert_eq!(status, 202, "{written}");
    let (status, spent) = call(port, "POST", "/api/v1/auth/reset-password", None, Some(&reset));
    assert_eq!((status, spent["error"]["fields"][0]["field"].as_str()), (400, Some("token")), "one use: {spent}");
    served(port, &written, &user_id);
    assert_eq!(login(port, email, password, None).0, 401, "the old password fails");
    let (status, tokens) = login(port, email, new_password, None);
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["accessToken"].as_str().unwrap().to_string();

    // A second factor: enrolled, confirmed with a code, then asked for at sign-in.
    let (status, enrolled) = call(port, "POST", "/api/v1/auth/mfa/enroll", Some(&access), None);
    assert_eq!(status, 200, "{enrolled}");
    assert!(enrolled["otpauthUri"].as_str().unwrap().starts_with("otpauth://totp/shopflow:"));
    let secret = totp_secret(enrolled["secret"].as_str().unwrap());
    let code = || shopflow_api::identity::totp_code(&secret, chrono::Utc::now().timestamp() as u64).unwrap();
    let (status, _) = call(port, "POST", "/api/v1/auth/mfa/confirm", Some(&access), Some(&json!({"totp": "000000x"})));
    assert_eq!(status, 400);
    let (status, written) =
        call(port, "POST", "/api/v1/auth/mfa/confirm", Some(&access), Some(&json!({"totp": code()})));
    assert_eq!(status, 202, "{written}");
    served(port, &written, &user_id);
    let (status, asked) = login(port, email, new_password, None);
    assert_eq!((status, asked["error"]["code"].as_str()), (401, Some("mfa_required")), "{asked}");
    assert_eq!(login(port, email, new_password, Some(&code())).0, 200);

    // A new e-mail is the new login name.
    let new_email = "ann@shop.test";
    let (status, written) =
        call(port, "PUT", "/api/v1/users/profile", Some(&access), Some(&json!({"email": new_email})));
    assert_eq!(status, 202, "{written}");
    served(port, &written, &user_id);
    assert_eq!(login(port, email, new_password, Some(&code())).0, 401);
    let (status, tokens) = login(port, new_email, new_password, Some(&code()));
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["accessToken"].as_str().unwrap().to_string();

    // Sign-in attempts are limited per account (a separate API with a small limit, same stores).
    let limited = Api::limited(
        &space,
        Duration::from_secs(5),
        shopflow_api::limits::Limits {
            logins: shopflow_api::limits::Rate { burst: 3, per_second: 0.001 },
            ..Default::default()
        },
    );
    let attempt = json!({"email": "limited@example.org", "password": "whatever it is"});
    let statuses: Vec<u16> =
        (0..4).map(|_| limited.send("POST", "/api/v1/auth/login", None, &[], Some(&attempt)).status.as_u16()).collect();
    assert_eq!(statuses, [401, 401, 401, 429]);

    // Suspended: the access token refused at once, then sign-in refused.
    let admin = token_of("usr-admin", Role::Admin);
    let path = format!("/api/v1/admin/users/{user_id}/suspend");
    assert_eq!(call(port, "POST", &path, Some(&access), Some(&json!({"reason": "fraud"}))).0, 403);
    let (status, written) = call(port, "POST", &path, Some(&admin), Some(&json!({"reason": "chargebacks"})));
    assert_eq!(status, 202, "{written}");
    let (status, refused) = call(port, "GET", "/api/v1/users/profile", Some(&access), None);
    assert_eq!(status, 401, "{refused}");
    served(port, &written, "usr-admin");
    assert_eq!(login(port, new_email, new_password, Some(&code())).0, 401);

    // No password, hash or reset token in the audit log, the dead letters or the logs.
    let secrets = [password, new_password, first_hash.as_str(), "$argon2id$", reset_token.as_str()];
    let audit = support::clickhouse(&format!("SELECT * FROM {}.events FORMAT JSONEachRow", space.name));
    assert!(audit.contains(&user_id), "the audit log has the user's other events");
    assert!(!audit.contains("User.CredentialsSet") && !audit.contains("User.MfaSet"));
    let letters = read_topic(&space.topic("shop.dead-letter"), |_| true);
    let letters: String = letters.iter().map(|l| String::from_utf8_lossy(&l.to_json()).into_owned()).collect();
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(logs.contains("pipeline"), "the log was written");
    for secret in secrets {
        for (place, text) in [("ClickHouse events", &audit), ("dead letters", &letters), ("logs", &logs)] {
            assert!(!text.contains(secret), "{place} hold {secret}");
        }
    }
}

/// The raw secret of a base32 TOTP secret (RFC 4648, no padding).
fn totp_secret(encoded: &str) -> Vec<u8> {
    let mut bits = 0u64;
    let mut count = 0;
    let mut out = Vec::new();
    for c in encoded.chars() {
        let value = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".find(c).expect("base32") as u64;
        bits = (bits << 5) | value;
        count += 5;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    out
}

/// A JWKS endpoint played by the test: serves whatever `document` holds now.
fn jwks_server(document: std::sync::Arc<std::sync::Mutex<String>>) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let body = document.lock().unwrap().clone();
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

/// An RS256 token of the test's identity provider, signed with `key` and naming `kid`.
fn idp_token(key: &str, kid: &str, iss: &str, aud: &str, exp_from_now: i64) -> String {
    let pem = std::fs::read(format!("{}/api/tests/keys/{key}.key", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(kid.to_string());
    let now = chrono::Utc::now().timestamp();
    let claims = json!({"sub": "idp-user-7", "iss": iss, "aud": aud, "iat": now, "exp": now + exp_from_now});
    jsonwebtoken::encode(&header, &claims, &jsonwebtoken::EncodingKey::from_rsa_pem(&pem).unwrap()).unwrap()
}

fn jwk(name: &str) -> Value {
    let path = format!("{}/api/tests/keys/{name}.jwk.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn tokens_of_an_external_provider_are_accepted_by_its_published_keys() {
    let (space, _pipeline) = support::live_space("jwks");
    let document = std::sync::Arc::new(std::sync::Mutex::new(json!({"keys": [jwk("idp-a")]}).to_string()));
    let port = jwks_server(document.clone());
    let issuer = "https://idp.test";
    let jwks = shopflow_api::jwks::Jwks::new(
        &format!("http://127.0.0.1:{port}/.well-known/jwks.json"),
        issuer,
        "shopflow-api",
        Duration::from_secs(1),
    )
    .unwrap();
    let auth = Auth::hs256(SECRET, "shopflow", "shopflow-api").with_jwks(jwks);
    let api = Api::build(&space, Duration::from_secs(5), Default::default(), auth);
    wait_until("the pipeline's first publication", 60, || api.get("/api/v1/status", None).0.as_u16() == 200);
    let cart = |token: &str| api.get("/api/v1/cart", Some(token));

    let (status, body) = cart(&idp_token("idp-a", "idp-a", issuer, "shopflow-api", 300));
    assert_eq!((status.as_u16(), body["userId"].as_str()), (200, Some("idp-user-7")), "{body}");
    // Our own tokens still work beside them.
    assert_eq!(cart(&token_of("usr-own", Role::Shopper)).0.as_u16(), 200);
    for (what, token) in [
        ("an unknown kid", idp_token("idp-a", "idp-zzz", issuer, "shopflow-api", 300)),
        ("a key the JWKS does not publish", idp_token("idp-b", "idp-a", issuer, "shopflow-api", 300)),
        ("a wrong issuer", idp_token("idp-a", "idp-a", "https://evil.test", "shopflow-api", 300)),
        ("a wrong audience", idp_token("idp-a", "idp-a", issuer, "another-api", 300)),
        ("an expired token", idp_token("idp-a", "idp-a", issuer, "shopflow-api", -60)),
    ] {
        let (status, body) = cart(&token);
        assert_eq!(status.as_u16(), 401, "{what}: {body}");
    }

    // The provider rotates: key b in, key a out. A token of b is accepted once the keys
    // are fetched again; a token of a is refused from then on.
    *document.lock().unwrap() = json!({"keys": [jwk("idp-b")]}).to_string();
    let b = idp_token("idp-b", "idp-b", issuer, "shopflow-api", 300);
    wait_until("the new key to be fetched", 30, || cart(&b).0.as_u16() == 200);
    let (status, body) = cart(&idp_token("idp-a", "idp-a", issuer, "shopflow-api", 300));
    assert_eq!(status.as_u16(), 401, "a rotated-out key: {body}");
}
