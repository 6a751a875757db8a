//! WebVTT writer (W3C WebVTT; RFC 8216 §3.5 for HLS): subtitle segments made of cues, with the
//! `X-TIMESTAMP-MAP` header that ties cue times to the media segments' 90 kHz clock.

/// One cue: start and end in milliseconds of presentation time, and its text as stored.
pub struct Cue<'a> {
    pub start_ms: i64,
    pub end_ms: i64,
    pub text: &'a str,
}

/// How stored cue text is turned into a WebVTT payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextForm {
    /// SubRip: `&`, `<` and `>` are escaped, except in the simple formatting tags SRT and
    /// WebVTT share.
    Srt,
    /// Already WebVTT (HLS sources).
    WebVtt,
}

/// Cue text as a WebVTT payload: `&`, `<` and `>` escaped (SubRip) except in `<i>`, `<b>`,
/// `<u>` and their closings, `-->` broken up, no blank lines (a blank line would end the cue).
pub fn cue_text(text: &str, form: TextForm) -> String {
    if form == TextForm::WebVtt {
        // Only blank lines would break the cue.
        return text
            .split('\n')
            .map(|l| l.trim_end_matches('\r'))
            .filter(|l| !l.trim().is_empty())
            .collect::<Vec<_>>()
            .join("\n");
    }
    const TAGS: [&str; 6] = ["<i>", "</i>", "<b>", "</b>", "<u>", "</u>"];
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if let Some(tag) = TAGS.iter().find(|t| rest.starts_with(*t)) {
            out.push_str(tag);
            rest = &rest[tag.len()..];
            continue;
        }
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => {}
            c => out.push(c),
        }
        rest = &rest[c.len_utf8()..];
    }
    out.split('\n')
        .filter(|l| !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// WebVTT cue timestamp.
pub fn timestamp(ms: i64) -> String {
    let ms = ms.max(0);
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// A WebVTT segment of `cues`. `mpegts` is the 90 kHz time of presentation time zero in the
/// media segments (for `X-TIMESTAMP-MAP`).
pub fn segment<'a>(mpegts: i64, cues: impl IntoIterator<Item = Cue<'a>>, form: TextForm) -> String {
    let mut out = format!("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:{mpegts},LOCAL:00:00:00.000\n");
    for cue in cues {
        out.push_str(&format!(
            "\n{} --> {}\n{}\n",
            timestamp(cue.start_ms),
            timestamp(cue.end_ms),
            cue_text(cue.text, form)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cue_text_is_escaped_for_webvtt() {
        assert_eq!(
            cue_text("<i>a</i> & b\r\n\n<x> --> c", TextForm::Srt),
            "<i>a</i> &amp; b\n&lt;x&gt; --&gt; c"
        );
        assert_eq!(
            cue_text("a &amp; b\r\n\n<c.x>d</c>", TextForm::WebVtt),
            "a &amp; b\n<c.x>d</c>"
        );
    }

    #[test]
    fn timestamps_carry_hours() {
        assert_eq!(timestamp(3_723_004), "01:02:03.004");
        assert_eq!(timestamp(-5), "00:00:00.000");
    }
}
