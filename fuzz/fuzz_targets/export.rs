//! A flags document (Flagr's eval-cache export, or a flags file): parsing, then compiling for
//! both Flagr lines and both sources.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vexilla_proxy::flag::{compile_flags, FlagSource, FlagrVersion};
use vexilla_proxy::flagr::parse_export;

fuzz_target!(|data: &[u8]| {
    let Ok(export) = parse_export(data) else {
        return;
    };
    for version in [FlagrVersion::V1_1, FlagrVersion::V1_2] {
        for source in [FlagSource::Upstream, FlagSource::File] {
            if let Ok(flags) = compile_flags(export.clone(), version, source) {
                for flag in &flags {
                    // Every segment has one running sum per variant, and the sums only grow.
                    for segment in &flag.segments {
                        let accumulated = &segment.distribution.percents_accumulated;
                        assert_eq!(accumulated.len(), segment.distribution.variant_ids.len());
                        assert!(accumulated.windows(2).all(|w| w[0] <= w[1]));
                    }
                }
            }
        }
    }
});
