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

impl Compat {
    /// Starts answering as `version`.
    pub fn new(version: FlagrVersion) -> Compat {
        let compat = Compat {
            version: AtomicU8::new(V1_2),
        };
        compat.set(version);
        compat
    }

    /// The version answers follow.
    pub fn version(&self) -> FlagrVersion {
        match self.version.load(Ordering::Acquire) {
            V1_1 => FlagrVersion::V1_1,
            _ => FlagrVersion::V1_2,
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
