//! Who may send webhook events: HMAC-SHA256 over the raw body in `X-Webhook-Signature` (hex,
//! optionally `sha256=`-prefixed), Standard Webhooks (`webhook-id`, `webhook-timestamp`,
//! `webhook-signature`), and a static token for senders that cannot sign (Flagr 1.2's own
//! notifier). Every comparison is constant-time through `ring::hmac::verify`.
//!
//! This module only decides whether a request is authentic; what the body says is `event`'s.

use hyper::header::{HeaderMap, HeaderName, AUTHORIZATION};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use thiserror::Error;

use crate::secret::Secret;

/// How far a Standard Webhooks timestamp may be from now, either way, in seconds.
pub const TIMESTAMP_TOLERANCE_SECS: i64 = 5 * 60;

/// The header of the hex HMAC scheme.
pub const SIGNATURE_HEADER: &str = "x-webhook-signature";

/// How a request proved who sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sender {
    /// HMAC-SHA256 of the body, hex, in `X-Webhook-Signature`.
    HexSignature,
    /// Standard Webhooks; the message ID lets repeats be recognised.
    StandardWebhooks { id: String },
    /// The static token.
    Token,
}

/// Why a configuration of webhook keys was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("a whsec_ webhook secret is not valid base64")]
    Base64,
    #[error("a webhook secret is empty")]
    Empty,
    #[error("the webhook token header name is not a valid header name")]
    HeaderName,
    #[error("the system random source failed")]
    Random,
}

/// Checks requests against the configured keys and token.
pub struct Verifier {
    keys: Vec<hmac::Key>,
    token: Option<TokenCheck>,
}

struct TokenCheck {
    header: HeaderName,
    /// A per-process random key: the token is compared as HMAC tags under it, which keeps the
    /// comparison constant-time without keeping the token's own bytes around.
    key: hmac::Key,
    expected: hmac::Tag,
    bearer: bool,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("keys", &self.keys.len())
            .field("token", &self.token.is_some())
            .finish()
    }
}

impl Verifier {
    /// Builds a verifier. `whsec_<base64>` secrets are decoded; others are used as bytes.
    /// The token is expected as `Authorization: Bearer <token>` when `token_header` is
    /// `authorization`, else as the whole value of `token_header`.
    pub fn new(
        secrets: &[Secret],
        token: Option<&Secret>,
        token_header: &str,
    ) -> Result<Verifier, KeyError> {
        let keys = secrets
            .iter()
            .map(|secret| {
                let bytes = key_bytes(secret)?;
                Ok(hmac::Key::new(hmac::HMAC_SHA256, &bytes))
            })
            .collect::<Result<Vec<_>, KeyError>>()?;

        let token = match token {
            None => None,
            Some(token) if token.expose().is_empty() => return Err(KeyError::Empty),
            Some(token) => {
                let header = HeaderName::from_bytes(token_header.trim().as_bytes())
                    .map_err(|_| KeyError::HeaderName)?;
                let mut seed = [0u8; 32];
                SystemRandom::new()
                    .fill(&mut seed)
                    .map_err(|_| KeyError::Random)?;
                let key = hmac::Key::new(hmac::HMAC_SHA256, &seed);
                let expected = hmac::sign(&key, token.expose());
                let bearer = header == AUTHORIZATION;
                Some(TokenCheck {
                    header,
                    key,
                    expected,
                    bearer,
                })
            }
        };
        Ok(Verifier { keys, token })
    }

    /// Whether any way to authenticate senders is configured.
    pub fn is_configured(&self) -> bool {
        !self.keys.is_empty() || self.token.is_some()
    }

    /// Checks a request's credentials against its raw body. `now` is Unix seconds.
    pub fn verify(&self, headers: &HeaderMap, body: &[u8], now: i64) -> Option<Sender> {
        if let Some(sender) = self.verify_standard(headers, body, now) {
            return Some(sender);
        }
        if self.verify_hex(headers, body) {
            return Some(Sender::HexSignature);
        }
        if self.verify_token(headers) {
            return Some(Sender::Token);
        }
        None
    }

    fn verify_hex(&self, headers: &HeaderMap, body: &[u8]) -> bool {
        let Some(value) = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok()) else {
            return false;
        };
        let Some(signature) = parse_hex_signature(value) else {
            return false;
        };
        self.keys
            .iter()
            .any(|key| hmac::verify(key, body, &signature).is_ok())
    }

    fn verify_standard(&self, headers: &HeaderMap, body: &[u8], now: i64) -> Option<Sender> {
        let text = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        };
        let id = text("webhook-id").filter(|id| !id.is_empty() && id.len() <= 256)?;
        let timestamp_text = text("webhook-timestamp")?;
        let signatures = text("webhook-signature")?;
        let timestamp: i64 = timestamp_text.parse().ok()?;
        if !within_tolerance(now, timestamp) {
            return None;
        }

        let mut signed = Vec::with_capacity(id.len() + timestamp_text.len() + body.len() + 2);
        signed.extend_from_slice(id.as_bytes());
        signed.push(b'.');
        signed.extend_from_slice(timestamp_text.as_bytes());
        signed.push(b'.');
        signed.extend_from_slice(body);
        let matched = parse_standard_signatures(signatures)
            .iter()
            .any(|signature| {
                self.keys
                    .iter()
                    .any(|key| hmac::verify(key, &signed, signature).is_ok())
            });
        matched.then(|| Sender::StandardWebhooks { id: id.to_string() })
    }

    fn verify_token(&self, headers: &HeaderMap) -> bool {
        let Some(check) = &self.token else {
            return false;
        };
        let Some(value) = headers.get(&check.header) else {
            return false;
        };
        let value = value.as_bytes();
        let presented = if check.bearer {
            match value.get(..7) {
                Some(scheme) if scheme.eq_ignore_ascii_case(b"bearer ") => value[7..].trim_ascii(),
                _ => return false,
            }
        } else {
            value.trim_ascii()
        };
        hmac::verify(&check.key, presented, check.expected.as_ref()).is_ok()
    }
}

/// Whether `timestamp` is within `TIMESTAMP_TOLERANCE_SECS` of `now`, either way; a
/// difference too large to compute is not.
pub fn within_tolerance(now: i64, timestamp: i64) -> bool {
    now.checked_sub(timestamp).is_some_and(|difference| {
        difference.unsigned_abs() <= TIMESTAMP_TOLERANCE_SECS.unsigned_abs()
    })
}

fn key_bytes(secret: &Secret) -> Result<Vec<u8>, KeyError> {
    let bytes = secret.expose();
    if bytes.is_empty() {
        return Err(KeyError::Empty);
    }
    match bytes.strip_prefix(b"whsec_") {
        Some(encoded) => decode_base64(encoded)
            .filter(|k| !k.is_empty())
            .ok_or(KeyError::Base64),
        None => Ok(bytes.to_vec()),
    }
}

/// The 32 bytes of a hex signature, with or without a `sha256=` prefix, in either case.
pub fn parse_hex_signature(value: &str) -> Option<Vec<u8>> {
    let value = value.trim();
    let hex = match value.get(..7) {
        Some(prefix) if prefix.eq_ignore_ascii_case("sha256=") => &value[7..],
        _ => value,
    };
    if hex.len() != 64 {
        return None;
    }
    (0..32)
        .map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

/// The `v1` signatures of a Standard Webhooks header: space-separated `v1,<base64>` entries;
/// entries of other versions are skipped.
pub fn parse_standard_signatures(value: &str) -> Vec<Vec<u8>> {
    value
        .split_ascii_whitespace()
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|encoded| decode_base64(encoded.as_bytes()))
        .collect()
}

/// Decodes standard base64 (padding optional); `None` for anything else.
pub fn decode_base64(text: &[u8]) -> Option<Vec<u8>> {
    let trimmed = match text {
        [rest @ .., b'=', b'='] | [rest @ .., b'='] => rest,
        _ => text,
    };
    let mut out = Vec::with_capacity(trimmed.len() * 3 / 4);
    let mut buffer = 0u32;
    let mut bits = 0;
    for &byte in trimmed {
        let value = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        buffer = (buffer << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    // Leftover bits must be padding zeros, and a single leftover character is never valid.
    (bits < 6 && buffer == 0).then_some(out)
}

/// Encodes standard base64 with padding (for signing test events and tools).
pub fn encode_base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Lowercase hex of HMAC-SHA256(`key`, `message`).
pub fn sign_hex(key: &[u8], message: &[u8]) -> String {
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), message);
    tag.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// A Standard Webhooks `v1,<base64>` signature of `id.timestamp.body` under `key`.
pub fn sign_standard(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut signed = format!("{id}.{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), &signed);
    format!("v1,{}", encode_base64(tag.as_ref()))
}

#[cfg(test)]
mod tests {
    use hyper::header::HeaderValue;

    use super::*;

    const NOW: i64 = 1_780_000_000;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(n, v)| {
                (
                    HeaderName::from_bytes(n.as_bytes()).expect("name"),
                    HeaderValue::from_str(v).expect("value"),
                )
            })
            .collect()
    }

    fn verifier(secrets: &[&str], token: Option<&str>, header: &str) -> Verifier {
        let secrets: Vec<Secret> = secrets.iter().map(|s| Secret::new(s.as_bytes())).collect();
        let token = token.map(|t| Secret::new(t.as_bytes()));
        Verifier::new(&secrets, token.as_ref(), header).expect("valid keys")
    }

    #[test]
    fn hmac_known_answers() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign_hex(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // RFC 4231 test case 1 (key of twenty 0x0b bytes).
        assert_eq!(
            sign_hex(&[0x0b; 20], b"Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        // Our own, as `openssl dgst -sha256 -hmac s3cret` gives them.
        assert_eq!(
            sign_hex(b"s3cret", b""),
            "91dfac70c5348b04e1babb8b421ac92cec08b565b49ca16130dccb72503647b7"
        );
        assert_eq!(
            sign_hex(
                b"s3cret",
                br#"{"event":"flag.updated","flag_keys":["dark-mode"],"timestamp":"2026-12-04T12:00:00Z"}"#
            ),
            "8b6f573ebf823a0d5c8a90cd1cc64358037a7b33da8cfc953418e46e792bb271"
        );
    }

    #[test]
    fn hex_signatures_parse_in_either_case_with_or_without_prefix() {
        let hex = sign_hex(b"k", b"body");
        let check =
            |value: &str, ok: bool| assert_eq!(parse_hex_signature(value).is_some(), ok, "{value}");
        check(&hex, true);
        check(&hex.to_uppercase(), true);
        check(&format!("sha256={hex}"), true);
        check(&format!("SHA256={hex}"), true);
        check(&format!(" {hex} "), true);
        check(&hex[..62], false);
        check(&format!("{hex}00"), false);
        check(&format!("sha1={hex}"), false);
        check(&"zz".repeat(32), false);
        check("", false);
    }

    #[test]
    fn hex_scheme_accepts_any_rotated_key() {
        let body = br#"{"event":"flag.updated"}"#;
        let verifier = verifier(&["old-key", "new-key"], None, "authorization");
        for key in ["old-key", "new-key"] {
            let signature = sign_hex(key.as_bytes(), body);
            let request = headers(&[("x-webhook-signature", &format!("sha256={signature}"))]);
            assert_eq!(
                verifier.verify(&request, body, NOW),
                Some(Sender::HexSignature),
                "{key}"
            );
        }
        let forged = headers(&[("x-webhook-signature", &sign_hex(b"other", body))]);
        assert_eq!(verifier.verify(&forged, body, NOW), None);
        let good = headers(&[("x-webhook-signature", &sign_hex(b"new-key", body))]);
        assert_eq!(verifier.verify(&good, b"tampered", NOW), None);
        assert_eq!(verifier.verify(&HeaderMap::new(), body, NOW), None);
    }

    #[test]
    fn standard_webhooks_signatures() {
        let key = b"standard key bytes";
        let secret = format!("whsec_{}", encode_base64(key));
        let verifier = verifier(&[&secret], None, "authorization");
        let body = b"{}";
        let good = sign_standard(key, "msg_1", NOW, body);
        let bad = sign_standard(b"wrong", "msg_1", NOW, body);
        let check = |id: &str, timestamp: i64, signature: &str, expected: Option<Sender>| {
            let request = headers(&[
                ("webhook-id", id),
                ("webhook-timestamp", &timestamp.to_string()),
                ("webhook-signature", signature),
            ]);
            assert_eq!(
                verifier.verify(&request, body, NOW),
                expected,
                "{id} {timestamp} {signature}"
            );
        };
        let ok = Some(Sender::StandardWebhooks { id: "msg_1".into() });
        check("msg_1", NOW, &good, ok.clone());
        check("msg_1", NOW, &format!("{bad} v1a,xyz {good}"), ok.clone());
        check("msg_1", NOW, &bad, None);
        check("msg_2", NOW, &good, None);
        check(
            "msg_1",
            NOW - 301,
            &sign_standard(key, "msg_1", NOW - 301, body),
            None,
        );
        check(
            "msg_1",
            NOW + 301,
            &sign_standard(key, "msg_1", NOW + 301, body),
            None,
        );
        check(
            "msg_1",
            NOW - 299,
            &sign_standard(key, "msg_1", NOW - 299, body),
            ok,
        );
    }

    #[test]
    fn extreme_timestamps_are_refused_without_overflow() {
        // Found by fuzzing: `now - i64::MIN` overflowed.
        let check = |timestamp: i64, ok: bool| {
            assert_eq!(within_tolerance(NOW, timestamp), ok, "{timestamp}")
        };
        check(i64::MIN, false);
        check(i64::MAX, false);
        check(NOW - (1 << 62), false);
        check(NOW + 300, true);
        check(NOW - 300, true);
        check(NOW - 301, false);
        let verifier = verifier(&["k"], None, "authorization");
        let request = headers(&[
            ("webhook-id", "a"),
            ("webhook-timestamp", "-9223372036854775808"),
            ("webhook-signature", "x"),
        ]);
        assert_eq!(verifier.verify(&request, b"", NOW), None);
    }

    #[test]
    fn tokens_compare_exactly() {
        let bearer = verifier(&[], Some("t0ken"), "Authorization");
        let check = |verifier: &Verifier, pairs: &[(&str, &str)], ok: bool| {
            assert_eq!(
                verifier.verify(&headers(pairs), b"", NOW).is_some(),
                ok,
                "{pairs:?}"
            );
        };
        check(&bearer, &[("authorization", "Bearer t0ken")], true);
        check(&bearer, &[("authorization", "bearer t0ken")], true);
        check(&bearer, &[("authorization", "Bearer t0ke")], false);
        check(&bearer, &[("authorization", "Bearer t0ken2")], false);
        check(&bearer, &[("authorization", "t0ken")], false);
        check(&bearer, &[], false);
        let custom = verifier(&[], Some("t0ken"), "X-Flagr-Token");
        check(&custom, &[("x-flagr-token", "t0ken")], true);
        check(&custom, &[("authorization", "Bearer t0ken")], false);
    }

    #[test]
    fn base64_round_trips_and_refuses_junk() {
        for input in [&b""[..], b"f", b"fo", b"foo", b"foob", b"fooba", b"foobar"] {
            let encoded = encode_base64(input);
            assert_eq!(
                decode_base64(encoded.as_bytes()).as_deref(),
                Some(input),
                "{encoded}"
            );
            assert_eq!(
                decode_base64(encoded.trim_end_matches('=').as_bytes()).as_deref(),
                Some(input)
            );
        }
        assert_eq!(encode_base64(b"foobar"), "Zm9vYmFy");
        assert!(decode_base64(b"Zm9v!").is_none());
        assert!(decode_base64(b"Z").is_none());
        assert!(decode_base64(b"Zh==").is_none());
    }

    #[test]
    fn refuses_bad_key_configuration() {
        let check = |secrets: &[&str], token: Option<&str>, header: &str, error: KeyError| {
            let secrets: Vec<Secret> = secrets.iter().map(|s| Secret::new(s.as_bytes())).collect();
            let token = token.map(|t| Secret::new(t.as_bytes()));
            assert_eq!(
                Verifier::new(&secrets, token.as_ref(), header).err(),
                Some(error)
            );
        };
        check(&["whsec_!!"], None, "authorization", KeyError::Base64);
        check(&[""], None, "authorization", KeyError::Empty);
        check(&[], Some(""), "authorization", KeyError::Empty);
        check(&[], Some("t"), "bad header", KeyError::HeaderName);
        let debug = format!(
            "{:?}",
            verifier(&["signing-key"], Some("t0ken"), "authorization")
        );
        assert!(
            !debug.contains("t0ken") && !debug.contains("signing-key"),
            "{debug}"
        );
    }
}
