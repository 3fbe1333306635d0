//! Secrets (webhook signing keys, bearer tokens) in a type that never prints its content:
//! `Debug` and `Display` show a placeholder, so a secret cannot reach a log line or a panic
//! message by accident.

use std::fmt;
use std::str::FromStr;

/// A secret value. Its bytes are reachable only through [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

/// What a secret prints as.
const REDACTED: &str = "[redacted]";

impl Secret {
    /// Wraps secret bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Secret {
        Secret(bytes.into())
    }

    /// The secret bytes, for the code that signs or compares with them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl FromStr for Secret {
    type Err = &'static str;

    fn from_str(text: &str) -> Result<Secret, &'static str> {
        let text = text.trim();
        if text.is_empty() {
            return Err("the secret is empty");
        }
        Ok(Secret::new(text.as_bytes()))
    }
}

/// A command-line value holding one or more comma-separated secrets.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretList(pub Vec<Secret>);

impl fmt::Debug for SecretList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} secret(s) {REDACTED}", self.0.len())
    }
}

impl FromStr for SecretList {
    type Err = &'static str;

    fn from_str(text: &str) -> Result<SecretList, &'static str> {
        let secrets = split_secrets(text);
        if secrets.is_empty() {
            return Err("no secret given");
        }
        Ok(SecretList(secrets))
    }
}

/// Splits comma- or newline-separated secrets, dropping blanks and surrounding whitespace.
pub fn split_secrets(text: &str) -> Vec<Secret> {
    text.split([',', '\n'])
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| Secret::new(part.as_bytes()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_its_content() {
        let secret = Secret::new("hunter2-very-secret");
        assert_eq!(format!("{secret}"), "[redacted]");
        assert_eq!(format!("{secret:?}"), "[redacted]");
        assert_eq!(format!("{:?}", Some(&secret)), "Some([redacted])");
        let list: SecretList = "a-key, b-key".parse().expect("two secrets");
        let printed = format!("{list:?}");
        assert!(
            !printed.contains("a-key") && !printed.contains("b-key"),
            "{printed}"
        );
        assert_eq!(secret.expose(), b"hunter2-very-secret");
    }

    #[test]
    fn splits_rotation_lists() {
        let secrets = split_secrets(" old ,new\n\nnewest,");
        let exposed: Vec<&[u8]> = secrets.iter().map(Secret::expose).collect();
        assert_eq!(exposed, vec![&b"old"[..], b"new", b"newest"]);
        assert!(" , ".parse::<SecretList>().is_err());
    }
}
