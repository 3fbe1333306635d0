//! Which Flagr version the proxy answers as: fixed by configuration, or detected from the
//! upstream and then fixed for the life of the process.

use std::sync::atomic::{AtomicU8, Ordering};

use crate::flag::FlagrVersion;

/// The version setting as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompatSetting {
    Fixed(FlagrVersion),
    /// Detected from the upstream (1.2.0+ answers `GET /api/v1/flags/snapshots/max_id`).
    Auto,
}

/// The version in force, readable from any thread.
#[derive(Debug)]
pub struct Compat {
    version: AtomicU8,
}

const V1_1: u8 = 11;
const V1_2: u8 = 12;
/// Not known yet (to be detected from the upstream); answers follow 1.2 meanwhile.
const UNDECIDED: u8 = 0;

impl Compat {
    /// Starts answering as `version`.
    pub fn new(version: FlagrVersion) -> Compat {
        let compat = Compat::undecided();
        compat.set(version);
        compat
    }

    /// Starts with the version still to be detected, answering as 1.2 until it is.
    pub fn undecided() -> Compat {
        Compat {
            version: AtomicU8::new(UNDECIDED),
        }
    }

    /// The version answers follow.
    pub fn version(&self) -> FlagrVersion {
        self.known().unwrap_or(FlagrVersion::V1_2)
    }

    /// The version, once configured, detected or taken from a snapshot.
    pub fn known(&self) -> Option<FlagrVersion> {
        match self.version.load(Ordering::Acquire) {
            V1_1 => Some(FlagrVersion::V1_1),
            V1_2 => Some(FlagrVersion::V1_2),
            _ => None,
        }
    }

    /// Switches the version answers follow.
    pub fn set(&self, version: FlagrVersion) {
        let code = match version {
            FlagrVersion::V1_1 => V1_1,
            FlagrVersion::V1_2 => V1_2,
        };
        self.version.store(code, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_undecided_version_answers_as_1_2_until_set() {
        let compat = Compat::undecided();
        assert_eq!(
            (compat.known(), compat.version()),
            (None, FlagrVersion::V1_2)
        );
        compat.set(FlagrVersion::V1_1);
        assert_eq!(compat.known(), Some(FlagrVersion::V1_1));
        assert_eq!(
            Compat::new(FlagrVersion::V1_2).known(),
            Some(FlagrVersion::V1_2)
        );
    }
}
