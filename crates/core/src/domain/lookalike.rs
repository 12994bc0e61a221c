//! Look-alike names: characters that cannot be seen or that reorder the text around them, and the
//! confusable skeleton of Unicode Technical Standard #39 under which `pаypal` (with a Cyrillic
//! `а`) and `paypal` are one name.

/// Whether `c` is invisible or steers the direction of text: format characters (general category
/// Cf: zero-width spaces and joiners, bidi marks, embeddings, overrides and isolates, the BOM, tag
/// characters, …), the other default-ignorable code points (variation selectors, Hangul fillers,
/// the combining grapheme joiner, …) and the blank braille pattern.
pub(crate) fn is_invisible(c: char) -> bool {
    matches!(
        u32::from(c),
        0x00AD
            | 0x034F
            | 0x0600..=0x0605
            | 0x061C
            | 0x06DD
            | 0x070F
            | 0x0890..=0x0891
            | 0x08E2
            | 0x115F..=0x1160
            | 0x17B4..=0x17B5
            | 0x180B..=0x180F
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x206F
            | 0x2800
            | 0x3164
            | 0xFE00..=0xFE0F
            | 0xFEFF
            | 0xFFA0
            | 0xFFF0..=0xFFFB
            | 0x110BD
            | 0x110CD
            | 0x13430..=0x1343F
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0000..=0xE0FFF
    )
}

/// The UTS #39 skeleton of `s`: two strings that look alike have the same skeleton.
pub(crate) fn skeleton(s: &str) -> String {
    unicode_security::skeleton(s).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invisible_and_bidi_characters() {
        for c in [
            '\u{200B}',
            '\u{200C}',
            '\u{200D}',
            '\u{200E}',
            '\u{200F}',
            '\u{202E}',
            '\u{2066}',
            '\u{2069}',
            '\u{FEFF}',
            '\u{00AD}',
            '\u{061C}',
            '\u{FE0F}',
            '\u{E0041}',
            '\u{3164}',
        ] {
            assert!(is_invisible(c), "{:X}", u32::from(c));
        }
        for c in ['a', 'é', 'а', '名', '@', '.', '-', '_'] {
            assert!(!is_invisible(c), "{c}");
        }
    }

    #[test]
    fn look_alikes_share_a_skeleton() {
        assert_eq!(skeleton("p\u{0430}ypal"), skeleton("paypal"));
        assert_eq!(skeleton("\u{0430}dmin"), skeleton("admin"));
        assert_ne!(skeleton("alice"), skeleton("bob"));
    }
}
