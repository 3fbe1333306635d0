//! A webhook request: header parsing helpers, event parsing and request verification.
//!
//! Input: header lines `name: value` separated by `\n`, then an empty line, then the body.
//! Without an empty line the whole input is the body and there are no headers.
#![no_main]

use std::sync::OnceLock;

use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use vexilla_proxy::secret::Secret;
use vexilla_proxy::webhook::event;
use vexilla_proxy::webhook::verify::{self, Sender, Verifier, SIGNATURE_HEADER};

/// The signing key both configured secrets decode to, and the static token.
const KEY: &[u8] = b"fuzz-signing-key";
const TOKEN: &str = "fuzz-token";
/// A fixed "now" (2026-12-04T15:04:05Z), so runs are reproducible.
const NOW: i64 = 1_796_396_645;

struct Verifiers {
    bearer: Verifier,
    custom: Verifier,
}

fn verifiers() -> &'static Verifiers {
    static VERIFIERS: OnceLock<Verifiers> = OnceLock::new();
    VERIFIERS.get_or_init(|| {
        let secrets = [
            Secret::new(format!("whsec_{}", verify::encode_base64(KEY))),
            Secret::new(b"other-key".to_vec()),
        ];
        let token = Secret::new(TOKEN);
        Verifiers {
            bearer: Verifier::new(&secrets, Some(&token), "Authorization").expect("valid keys"),
            custom: Verifier::new(&secrets, Some(&token), " X-Flagr-Token ").expect("valid keys"),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let (head, body) = match data.windows(2).position(|w| w == b"\n\n") {
        Some(at) => (&data[..at], &data[at + 2..]),
        None => (&data[..0], data),
    };

    let mut headers = HeaderMap::new();
    for line in head.split(|&b| b == b'\n') {
        let text = String::from_utf8_lossy(line);
        let _ = event::parse_rfc3339(&text);
        let _ = verify::parse_hex_signature(&text);
        let _ = verify::parse_standard_signatures(&text);
        let _ = verify::decode_base64(line);

        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii_start());
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
        {
            headers.append(name, value);
        }
    }

    // The helpers on the body as a whole, too.
    let text = String::from_utf8_lossy(body);
    let _ = event::parse_rfc3339(&text);
    let _ = verify::parse_hex_signature(&text);
    let _ = verify::parse_standard_signatures(&text);
    if let Some(decoded) = verify::decode_base64(body) {
        // Decoding is canonical: encoding gives back the input, up to padding.
        let encoded = verify::encode_base64(&decoded);
        assert_eq!(
            encoded.trim_end_matches('='),
            String::from_utf8_lossy(body).trim_end_matches('='),
            "base64 decoding is not canonical"
        );
    }
    assert_eq!(
        verify::decode_base64(verify::encode_base64(body).as_bytes()).as_deref(),
        Some(body),
        "base64 does not round trip"
    );
    let _ = event::parse_event(body);

    let verifiers = verifiers();
    for verifier in [&verifiers.bearer, &verifiers.custom] {
        let _ = verifier.verify(&headers, body, NOW);
    }

    // Correct credentials are accepted whatever the body.
    let mut signed = HeaderMap::new();
    let hex = verify::sign_hex(KEY, body);
    signed.insert(
        SIGNATURE_HEADER,
        HeaderValue::from_str(&hex).expect("hex is a header value"),
    );
    assert_eq!(
        verifiers.bearer.verify(&signed, body, NOW),
        Some(Sender::HexSignature)
    );

    // A Standard Webhooks signature, with the webhook-id taken from the input when it can be one.
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .filter(|id| !id.is_empty() && id.len() <= 256 && id.trim() == *id)
        .unwrap_or("msg_fuzz")
        .to_owned();
    let mut standard = HeaderMap::new();
    standard.insert(
        "webhook-id",
        HeaderValue::from_str(&id).expect("id is a header value"),
    );
    standard.insert("webhook-timestamp", HeaderValue::from(NOW - 10));
    let signature = verify::sign_standard(KEY, &id, NOW - 10, body);
    standard.insert(
        "webhook-signature",
        HeaderValue::from_str(&format!("v0,xyz {signature}")).expect("signature is a header value"),
    );
    assert_eq!(
        verifiers.bearer.verify(&standard, body, NOW),
        Some(Sender::StandardWebhooks { id })
    );

    let mut token = HeaderMap::new();
    token.insert(
        "authorization",
        HeaderValue::from_static("bearer  fuzz-token "),
    );
    assert_eq!(
        verifiers.bearer.verify(&token, body, NOW),
        Some(Sender::Token)
    );
    assert_eq!(verifiers.custom.verify(&token, body, NOW), None);
    let mut token = HeaderMap::new();
    token.insert("x-flagr-token", HeaderValue::from_static(TOKEN));
    assert_eq!(
        verifiers.custom.verify(&token, body, NOW),
        Some(Sender::Token)
    );
});
