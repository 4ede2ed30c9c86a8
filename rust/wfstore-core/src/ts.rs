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

#[cfg(test)]
mod tests {
    use super::parse_iso_space;

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
