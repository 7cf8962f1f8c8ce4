//! The JWT path: any text as a bearer token is refused or accepted (never a
//! panic), and so are any claims signed with the right key — the checks
//! after the signature (expiry, lifetime, use, role) meet whatever numbers
//! and strings a token can carry.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shopflow_api::auth::Auth;

const SECRET: &[u8] = b"fuzz-secret-0123456789";

fuzz_target!(|data: &[u8]| {
    let auth = Auth::hs256(SECRET, "shopflow", "shopflow-api");
    let Some((first, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    if first % 2 == 0 {
        // As sent: a token of anyone's making.
        let _ = auth.verify(text);
        let _ = auth.verify_refresh(text);
    } else {
        // The claims are the fuzzer's, the signature is good.
        let header = base64url(br#"{"alg":"HS256","typ":"JWT"}"#);
        let signing = format!("{header}.{}", base64url(text.as_bytes()));
        let token = format!("{signing}.{}", base64url(&hmac_sha256(SECRET, signing.as_bytes())));
        let _ = auth.verify(&token);
        let _ = auth.verify_refresh(&token);
    }
});

fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("any key length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}
