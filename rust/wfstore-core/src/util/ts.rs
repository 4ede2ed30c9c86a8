//! Timestamps as the engine stores them.

/// `YYYY-MM-DD HH:MM:SS.ffffff` (the engine's default timestamp format, in the one
/// shape `strptime` gives for it) as its numbers, or None for any other text.
pub fn parse_iso_space(s: &str) -> Option<[u32; 7]> {
    let b = s.as_bytes();
    if b.len() != 26
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b' '
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'.'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    Some([
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
        num(20..26)?,
    ])
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// The date of a day number of [`days_from_civil`].
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Whether the fields of [`parse_iso_space`] name a real date and time.
pub fn valid(f: &[u32; 7]) -> bool {
    let [y, mo, d, h, mi, s, us] = *f;
    if !(1..=12).contains(&mo) || d == 0 || h > 23 || mi > 59 || s > 59 || us > 999_999 || y == 0 {
        return false;
    }
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let dim = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    d <= dim[(mo - 1) as usize]
}

/// The wall-clock fields of UTC time `f` shifted by `offset` seconds (microseconds kept).
pub fn shift(f: &[u32; 7], offset: i64) -> (i64, u32, u32, u32, u32, u32) {
    let [y, mo, d, h, mi, s, _] = *f;
    let secs = days_from_civil(i64::from(y), mo, d) * 86400
        + i64::from(h) * 3600
        + i64::from(mi) * 60
        + i64::from(s)
        + offset;
    let (ly, lm, ld) = civil_from_days(secs.div_euclid(86400));
    let rem = secs.rem_euclid(86400);
    (
        ly,
        lm,
        ld,
        (rem / 3600) as u32,
        (rem % 3600 / 60) as u32,
        (rem % 60) as u32,
    )
}

#[cfg(test)]
mod tests {

    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn civil_days_round_trip(z in -1_000_000i64..1_000_000) {
            let (y, m, d) = civil_from_days(z);
            prop_assert_eq!(days_from_civil(y, m, d), z);
        }

        #[test]
        fn shifting_there_and_back(y in 1900u32..2200, mo in 1u32..13, d in 1u32..29, h in 0u32..24, mi in 0u32..60, s in 0u32..60, off in -50_400i64..50_400) {
            let f = [y, mo, d, h, mi, s, 0];
            let (ly, lm, ld, lh, lmi, ls) = shift(&f, off);
            let g = [ly as u32, lm, ld, lh, lmi, ls, 0];
            prop_assert!(valid(&g));
            let (by, bm, bd, bh, bmi, bs) = shift(&g, -off);
            prop_assert_eq!((by as u32, bm, bd, bh, bmi, bs), (y, mo, d, h, mi, s));
        }
    }

    #[test]
    fn known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
        assert_eq!(
            shift(&[2026, 12, 31, 23, 30, 0, 5], 3600),
            (2027, 1, 1, 0, 30, 0)
        );
        assert_eq!(
            shift(&[2024, 3, 1, 0, 10, 0, 0], -1200),
            (2024, 2, 29, 23, 50, 0)
        );
        assert!(valid(&[2024, 2, 29, 0, 0, 0, 0]) && !valid(&[2023, 2, 29, 0, 0, 0, 0]));
        assert!(!valid(&[2023, 13, 1, 0, 0, 0, 0]) && !valid(&[2023, 4, 31, 0, 0, 0, 0]));
    }

    #[test]
    fn iso_space_timestamps_only() {
        assert_eq!(
            parse_iso_space("2026-11-25 17:26:01.275906"),
            Some([2026, 11, 25, 17, 26, 1, 275906])
        );
        for bad in [
            "2026-11-25T17:26:01.275906",
            "2026-11-25 17:26:01.27590",
            "2026-11-25 17:26:01",
            "2026-1a-25 17:26:01.275906",
            "",
        ] {
            assert_eq!(parse_iso_space(bad), None, "{bad}");
        }
    }
}
