//! Text from files, plugins and key services made safe to print on a terminal: control
//! characters (escape sequences can move the cursor, rewrite earlier lines or set the
//! window title) and the invisible bidirectional-control characters ("Trojan Source",
//! CVE-2021-42574) are shown as `\u{…}` escapes; everything else is kept.

use std::borrow::Cow;

/// Is `c` a character a terminal would act on or hide rather than show?
fn hidden(c: char, keep_newlines: bool) -> bool {
    match c {
        '\n' | '\t' => !keep_newlines,
        // Bidirectional overrides, embeddings, isolates and marks.
        '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}' => true,
        // Line/paragraph separators and the BOM/zero-width no-break space.
        '\u{2028}' | '\u{2029}' | '\u{feff}' => true,
        c => c.is_control(),
    }
}

/// `s` with every hidden character escaped; newlines and tabs kept when `keep_newlines`.
pub fn printable(s: &str, keep_newlines: bool) -> Cow<'_, str> {
    if !s.chars().any(|c| hidden(c, keep_newlines)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if hidden(c, keep_newlines) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn escapes_terminal_controls_and_bidi_but_keeps_text() {
        assert_eq!(printable("age-plugin-yubikey", false), "age-plugin-yubikey");
        assert_eq!(printable("a\u{202e}b\u{2066}", false), "a\\u{202e}b\\u{2066}");
        assert_eq!(printable("\x1b[2J\x07", false), "\\u{1b}[2J\\u{7}");
        assert_eq!(printable("one\ntwo", true), "one\ntwo");
        assert_eq!(printable("one\ntwo", false), "one\\u{a}two");
        assert_eq!(printable("ünïcødé ✓", false), "ünïcødé ✓");
    }
}
