//! Property tests of the bucketing and rollout arithmetic against their formulas: the bucket
//! is the IEEE CRC-32 (checked against a bit-by-bit reference) of salt and entity ID modulo
//! 1000, a bucket picks the first variant whose accumulated range exceeds it, and rollout keeps
//! the leading `floor((width - 1) × percent / 100) + 1` buckets of each variant's range.

use proptest::prelude::*;

use vexilla_proxy::eval::{bucket, pick_variant};
use vexilla_proxy::flag::Distribution;

/// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320), one bit at a time.
fn reference_crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Percents (each 0..=100) summing to exactly 100, in 1 to 6 shares.
fn shares() -> impl Strategy<Value = Vec<u64>> {
    prop::collection::vec(0u64..=100, 1..6).prop_map(|mut raw| {
        let total: u64 = raw.iter().sum();
        if total == 0 {
            raw[0] = 100;
            return raw;
        }
        let mut scaled: Vec<u64> = raw.iter().map(|p| p * 100 / total).collect();
        let missing = 100 - scaled.iter().sum::<u64>();
        scaled[0] += missing;
        scaled
    })
}

fn distribution(percents: &[u64]) -> Distribution {
    let mut result = Distribution::default();
    let mut total = 0;
    for (index, percent) in percents.iter().enumerate() {
        total += percent * 10;
        result.variant_ids.push(index as u64 + 1);
        result.percents_accumulated.push(total);
    }
    result
}

proptest! {
    #[test]
    fn bucket_is_crc32_of_salt_and_entity_modulo_1000(flag_id in 0u64..1_000_000, entity in ".{0,40}") {
        let salt = flag_id.to_string();
        let expected = u64::from(reference_crc32(format!("{salt}{entity}").as_bytes())) % 1000;
        prop_assert_eq!(bucket(&salt, &entity), expected);
    }

    #[test]
    fn a_bucket_picks_the_first_range_past_it(percents in shares(), bucket in 0u64..1000, rollout in 1u64..=100) {
        let shares = distribution(&percents);
        let (variant, _) = pick_variant(&shares, bucket, rollout).expect("percents sum to 100");
        let index = (variant - 1) as usize;
        prop_assert!(shares.percents_accumulated[index] > bucket);
        prop_assert!(index == 0 || shares.percents_accumulated[index - 1] <= bucket);
    }

    #[test]
    fn rollout_keeps_the_leading_part_of_each_range(percents in shares(), rollout in 1u64..=100) {
        let shares = distribution(&percents);
        let mut start = 0;
        for (index, end) in shares.percents_accumulated.iter().copied().enumerate() {
            let width = end - start;
            let assigned: Vec<u64> = (start..end)
                .filter(|b| pick_variant(&shares, *b, rollout) == Some((index as u64 + 1, true)))
                .collect();
            if width > 0 {
                let expected = if rollout == 100 { width } else { (width - 1) * rollout / 100 + 1 };
                prop_assert_eq!(assigned.len() as u64, expected);
                // The kept buckets are the leading ones.
                prop_assert!(assigned.iter().enumerate().all(|(i, b)| *b == start + i as u64));
            }
            start = end;
        }
    }

    #[test]
    fn more_rollout_never_unassigns(percents in shares(), bucket in 0u64..1000, rollout in 1u64..100) {
        let shares = distribution(&percents);
        let (_, now) = pick_variant(&shares, bucket, rollout).expect("in range");
        let (_, more) = pick_variant(&shares, bucket, rollout + 1).expect("in range");
        prop_assert!(!now || more);
        prop_assert_eq!(pick_variant(&shares, bucket, 100).map(|(_, a)| a), Some(true));
    }

    #[test]
    fn short_distributions_end_where_their_percents_do(percents in prop::collection::vec(0u64..=30, 1..4), bucket in 0u64..1000) {
        let shares = distribution(&percents);
        let end = percents.iter().sum::<u64>() * 10;
        prop_assert_eq!(pick_variant(&shares, bucket, 100).is_some(), bucket < end);
    }
}
