//! RFC 6381 `codecs` strings from configuration records (ISO/IEC 14496-15 Annex E for HEVC).

/// `avc1.PPCCLL`: profile, constraint flags and level from the avcC record.
pub fn avc(fourcc: &str, avcc: &mp4_atom::Avcc) -> String {
    format!(
        "{fourcc}.{:02x}{:02x}{:02x}",
        avcc.avc_profile_indication, avcc.profile_compatibility, avcc.avc_level_indication
    )
}

/// `hvc1.[A-C]?P.C.TL.B…`: profile space and idc, compatibility flags (bit-reversed, hex),
/// tier and level, then the constraint bytes without trailing zero bytes.
pub fn hevc(fourcc: &str, h: &mp4_atom::Hvcc) -> String {
    let space = match h.general_profile_space {
        1 => "A",
        2 => "B",
        3 => "C",
        _ => "",
    };
    let compat = u32::from_be_bytes(h.general_profile_compatibility_flags).reverse_bits();
    let tier = if h.general_tier_flag { 'H' } else { 'L' };
    let mut s = format!(
        "{fourcc}.{space}{}.{compat:X}.{tier}{}",
        h.general_profile_idc, h.general_level_idc
    );
    let flags = &h.general_constraint_indicator_flags;
    let used = flags.iter().rposition(|b| *b != 0).map_or(0, |p| p + 1);
    for b in &flags[..used] {
        s.push_str(&format!(".{b:X}"));
    }
    s
}

/// `mp4a.40.N` with N the audio object type of the AudioSpecificConfig (escape 31 handled).
pub fn aac(asc: &[u8]) -> String {
    let aot = match asc {
        [a, ..] if a >> 3 != 31 => u32::from(a >> 3),
        [a, b, ..] => 32 + ((u32::from(*a & 0x07) << 3) | u32::from(b >> 5)),
        _ => 2,
    };
    format!("mp4a.40.{aot}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aac_object_types() {
        assert_eq!(aac(&[0x11, 0x90]), "mp4a.40.2"); // LC, 48 kHz, stereo
        assert_eq!(aac(&[0x2b, 0x92, 0x08, 0x00]), "mp4a.40.5"); // HE-AAC
        assert_eq!(aac(&[0xf8, 0x20]), "mp4a.40.33"); // escaped: 32 + 1
    }

    #[test]
    fn hevc_main_profile() {
        let h = mp4_atom::Hvcc {
            configuration_version: 1,
            general_profile_space: 0,
            general_tier_flag: false,
            general_profile_idc: 1,
            general_profile_compatibility_flags: [0x60, 0, 0, 0],
            general_constraint_indicator_flags: [0x90, 0, 0, 0, 0, 0],
            general_level_idc: 93,
            ..Default::default()
        };
        // The example of ISO/IEC 14496-15 Annex E: hev1.1.6.L93.90 (Main, level 3.1).
        assert_eq!(hevc("hev1", &h), "hev1.1.6.L93.90");
    }
}
