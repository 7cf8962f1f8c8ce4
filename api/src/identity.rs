//! What accounts are made of: password hashes, sealed secrets, TOTP codes,
//! reset tokens.
//!
//! - Passwords are hashed with **argon2id** (RustCrypto's `argon2`), 19 MiB
//!   of memory, 2 passes, 1 lane (m=19456, t=2, p=1: OWASP's recommended
//!   minimum), a random 16-byte salt, stored as a PHC string
//!   (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`). A hash takes tens of
//!   milliseconds of one core, so handlers run it on the blocking pool.
//! - An unknown account is checked against [`absent_hash`], a hash of the
//!   same parameters, so it costs the same time as a wrong password.
//! - TOTP second factors (RFC 6238: SHA-1, 6 digits, 30 s, one step of
//!   skew) are checked with `totp-rs`; their secrets travel on
//!   `shop.credentials` sealed ([`Sealer`]: ChaCha20-Poly1305 with a key
//!   derived from the deployment's sealing key).
//! - Reset tokens are 32 random bytes in hex; only their SHA-256 is stored.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

/// Memory of one hash, KiB.
pub const ARGON2_MEMORY_KIB: u32 = 19_456;
/// Passes.
pub const ARGON2_PASSES: u32 = 2;
/// Lanes.
pub const ARGON2_LANES: u32 = 1;
/// The shortest password taken.
pub const MIN_PASSWORD: usize = 8;
/// The longest password taken, in bytes (hashing cost stays bounded).
pub const MAX_PASSWORD: usize = 256;

fn argon2() -> Argon2<'static> {
    let params = Params::new(ARGON2_MEMORY_KIB, ARGON2_PASSES, ARGON2_LANES, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Random bytes from the OS.
pub fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the OS has randomness");
    bytes
}

/// The argon2id PHC string of `password`, with a fresh salt.
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::encode_b64(&random::<16>()).expect("16 bytes make a salt");
    argon2().hash_password(password.as_bytes(), &salt).expect("argon2id hashes any password").to_string()
}

/// Whether `password` matches the PHC string `hash` (false for a hash that does not parse).
pub fn verify_password(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => argon2().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// A hash of nothing anyone knows, with the parameters of every other: what
/// an unknown account's password is checked against.
pub fn absent_hash() -> &'static str {
    static HASH: LazyLock<String> = LazyLock::new(|| hash_password(&hex(&random::<32>())));
    &HASH
}

/// `bytes` in lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new reset token and the SHA-256 (hex) under which it is stored.
pub fn new_reset_token() -> (String, String) {
    let token = hex(&random::<32>());
    let stored = token_digest(&token);
    (token, stored)
}

/// What a reset token is stored under.
pub fn token_digest(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// Seals and opens small secrets with the deployment's key.
#[derive(Clone)]
pub struct Sealer {
    cipher: ChaCha20Poly1305,
}

impl Sealer {
    /// A sealer whose 256-bit key is derived from `key` (any length).
    pub fn new(key: &[u8]) -> Sealer {
        let mut hasher = Sha256::new();
        hasher.update(b"shopflow sealing key v1\0");
        hasher.update(key);
        let derived = hasher.finalize();
        Sealer { cipher: ChaCha20Poly1305::new_from_slice(&derived).expect("a 256-bit key") }
    }

    /// `plain` sealed: `v1.` and base64url of a random nonce and the ciphertext.
    pub fn seal(&self, plain: &[u8]) -> String {
        let nonce = random::<12>();
        let sealed = self.cipher.encrypt(&Nonce::from(nonce), plain).expect("sealing small secrets works");
        let mut bytes = nonce.to_vec();
        bytes.extend(sealed);
        format!("v1.{}", URL_SAFE_NO_PAD.encode(bytes))
    }

    /// What [`Sealer::seal`] sealed; `None` when it was sealed with another key or altered.
    pub fn open(&self, sealed: &str) -> Option<Vec<u8>> {
        let bytes = URL_SAFE_NO_PAD.decode(sealed.strip_prefix("v1.")?).ok()?;
        if bytes.len() < 12 {
            return None;
        }
        let (nonce, ciphertext) = bytes.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().ok()?;
        self.cipher.decrypt(&Nonce::from(nonce), ciphertext).ok()
    }
}

/// A new TOTP secret (160 bits, RFC 4226's recommendation).
pub fn new_totp_secret() -> Vec<u8> {
    random::<20>().to_vec()
}

/// `secret` in base32 (RFC 4648, no padding), as authenticator apps take it.
pub fn base32(secret: &[u8]) -> String {
    totp_rs::Secret::Raw(secret.to_vec()).to_encoded().to_string()
}

fn totp(secret: &[u8]) -> Option<totp_rs::TOTP> {
    totp_rs::TOTP::new(totp_rs::Algorithm::SHA1, 6, 1, 30, secret.to_vec()).ok()
}

/// Whether `code` is the TOTP of `secret` at `unix_seconds` (or one step either side).
pub fn totp_matches(secret: &[u8], code: &str, unix_seconds: u64) -> bool {
    totp(secret).is_some_and(|t| t.check(code.trim(), unix_seconds))
}

/// The TOTP code of `secret` at `unix_seconds` (tests, and `shopflow` tooling).
pub fn totp_code(secret: &[u8], unix_seconds: u64) -> Option<String> {
    totp(secret).map(|t| t.generate(unix_seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_phc_strings_that_verify_only_their_password() {
        let hash = hash_password("correct horse");
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("correct horsE", &hash));
        assert!(!verify_password("correct horse", "not a hash"));
        assert_ne!(hash, hash_password("correct horse"), "salted");
        assert!(absent_hash().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    }

    #[test]
    fn sealed_secrets_open_only_with_their_key_and_unaltered() {
        let sealer = Sealer::new(b"deployment key");
        let sealed = sealer.seal(b"totp secret");
        assert_eq!(sealer.open(&sealed).as_deref(), Some(&b"totp secret"[..]));
        assert!(Sealer::new(b"another key").open(&sealed).is_none());
        let mut altered = sealed.clone().into_bytes();
        let last = altered.len() - 1;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        assert!(sealer.open(&String::from_utf8(altered).unwrap()).is_none());
        assert!(sealer.open("v1.").is_none() && sealer.open("nonsense").is_none());
    }

    #[test]
    fn totp_follows_rfc_6238() {
        // RFC 6238 appendix B, SHA-1: the secret "12345678901234567890" at 59 s is 94287082 (8 digits);
        // its last 6 digits are the 6-digit code.
        let secret = b"12345678901234567890";
        assert_eq!(totp_code(secret, 59).as_deref(), Some("287082"));
        assert!(totp_matches(secret, "287082", 59));
        assert!(totp_matches(secret, "287082", 59 + 30), "one step of skew");
        assert!(!totp_matches(secret, "287082", 59 + 90));
        assert!(!totp_matches(secret, "287083", 59));
        assert_eq!(base32(b"12345678901234567890"), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    }

    #[test]
    fn reset_tokens_are_stored_by_digest() {
        let (token, stored) = new_reset_token();
        assert_eq!(token.len(), 64);
        assert_eq!(token_digest(&token), stored);
        assert_ne!(token, stored);
    }
}
