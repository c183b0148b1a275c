//! The parser's view of a source string: granit's own `StrInput`, with a block-at-a-time
//! scan for plain scalars.
//!
//! Profiles of a 10,000-value file put granit's byte-at-a-time plain-scalar scan at 12 % of
//! all instructions. Every other question the scanner asks goes to `StrInput` unchanged; only
//! the length of a plain-scalar run is found here, 16 bytes per step. [`SrcInput`] must stay
//! indistinguishable from `StrInput` to the scanner: `yaml::disagreement_with_granit`, run by
//! the tests and the `yaml_input` fuzz target, compares the two parsers' events, spans and errors.

use granit_parser::input::{SkipTabs, WhitespaceResult};
use granit_parser::{BorrowedInput, ErrorKind, Input, StrInput};

/// A parser input over a whole source string (see the module docs).
pub(crate) struct SrcInput<'a> {
    /// The whole source: offsets and borrowed slices refer to it.
    src: &'a str,
    /// Where `inner` starts in `src`; `inner` is re-made over the rest after a plain scalar.
    base: usize,
    inner: StrInput<'a>,
    /// `StrInput` asks this of its whole source; asked of a suffix it would scan it again.
    has_hash: bool,
}

impl<'a> SrcInput<'a> {
    /// An input over `src`.
    pub(crate) fn new(src: &'a str) -> SrcInput<'a> {
        SrcInput { src, base: 0, inner: StrInput::new(src), has_hash: memchr::memchr(b'#', src.as_bytes()).is_some() }
    }

    /// Byte offset of the next unread character.
    #[inline]
    fn pos(&self) -> usize {
        self.base + self.inner.byte_offset().unwrap_or(0)
    }

    /// Consume the plain-scalar run at the current position: its byte range in `src` and its
    /// character count. Keeps the lookahead the scanner asked for, as `StrInput` does.
    #[inline]
    fn take_run(&mut self, flow: bool) -> (std::ops::Range<usize>, usize) {
        let start = self.pos();
        let (bytes, chars) = plain_run(&self.src[start..], flow);
        let lookahead = self.inner.buflen();
        self.base = start + bytes;
        self.inner = StrInput::new(&self.src[self.base..]);
        self.inner.lookahead(lookahead);
        (start..self.base, chars)
    }
}

/// ASCII bytes a plain-scalar run may stop at: blanks, breaks, NUL, `:` (when a blank, break,
/// end of input or, in flow context, a flow indicator follows) and, in flow context, the flow
/// indicators. No other byte, and no non-ASCII character, ever ends a run.
#[inline]
fn may_stop(x: u8, flow: bool) -> bool {
    (x == b' ')
        | (x == b'\t')
        | (x == b'\n')
        | (x == b'\r')
        | (x == 0)
        | (x == b':')
        | (flow & ((x == b',') | (x == b'[') | (x == b']') | (x == b'{') | (x == b'}')))
}

/// A superset of [`may_stop`] that is cheaper to test over a block: any control character
/// or space, `:`, and in flow context `,` `[` `{` `]` `}` (`x | 0x20` folds `[`/`{` and `]`/`}`).
#[inline(always)]
fn worth_a_look<const FLOW: bool>(x: u8) -> bool {
    (x <= b' ') | (x == b':') | (FLOW & ((x == b',') | ((x | 0x20) == b'{') | ((x | 0x20) == b'}')))
}

/// Bytes and characters of the plain-scalar run at the start of `s`: exactly what granit's
/// `StrInput::plain_scalar_chunk_len` returns, found 16 bytes per step.
pub(crate) fn plain_run(s: &str, flow: bool) -> (usize, usize) {
    if flow {
        run::<true>(s.as_bytes())
    } else {
        run::<false>(s.as_bytes())
    }
}

fn run<const FLOW: bool>(b: &[u8]) -> (usize, usize) {
    const BLOCK: usize = 16;
    let mut i = 0;
    // The OR of every byte passed: below 0x80, the run is ASCII and bytes are characters.
    let mut high = 0u8;
    let end = loop {
        // Branch-free over a block so that it compiles to vector compares: most blocks of a
        // value hold no byte worth a look.
        while let Some(block) = b.get(i..i + BLOCK) {
            let (look, or) = block.iter().fold((false, 0u8), |(l, o), &x| (l | worth_a_look::<FLOW>(x), o | x));
            if look {
                break;
            }
            high |= or;
            i += BLOCK;
        }
        while i < b.len() && !may_stop(b[i], FLOW) {
            high |= b[i];
            i += 1;
        }
        if i >= b.len() || b[i] != b':' {
            break i;
        }
        // `:` ends the run only before a blank, break, end of input or (in flow) indicator.
        let next = b.get(i + 1).copied().unwrap_or(0);
        if next != b':' && may_stop(next, FLOW) {
            break i;
        }
        i += 1;
    };
    if high < 0x80 {
        return (end, end);
    }
    // Every character starts with a byte that is not a UTF-8 continuation byte (0x80..=0xBF).
    (end, b[..end].iter().filter(|&&x| (x as i8) >= -0x40).count())
}

impl<'a> BorrowedInput<'a> for SrcInput<'a> {
    #[inline]
    fn slice_borrowed(&self, start: usize, end: usize) -> Option<&'a str> {
        self.src.get(start..end)
    }
}

impl Input for SrcInput<'_> {
    #[inline]
    fn lookahead(&mut self, count: usize) {
        self.inner.lookahead(count)
    }
    #[inline]
    fn buflen(&self) -> usize {
        self.inner.buflen()
    }
    #[inline]
    fn bufmaxlen(&self) -> usize {
        self.inner.bufmaxlen()
    }
    #[inline]
    fn raw_read_ch(&mut self) -> char {
        self.inner.raw_read_ch()
    }
    #[inline]
    fn raw_read_non_breakz_ch(&mut self) -> Option<char> {
        self.inner.raw_read_non_breakz_ch()
    }
    #[inline]
    fn skip(&mut self) {
        self.inner.skip()
    }
    #[inline]
    fn skip_n(&mut self, count: usize) {
        self.inner.skip_n(count)
    }
    #[inline]
    fn peek(&self) -> char {
        self.inner.peek()
    }
    #[inline]
    fn peek_nth(&self, n: usize) -> char {
        self.inner.peek_nth(n)
    }
    #[inline]
    fn byte_offset(&self) -> Option<usize> {
        Some(self.pos())
    }
    #[inline]
    fn slice_bytes(&self, start: usize, end: usize) -> Option<&str> {
        self.src.get(start..end)
    }
    #[inline]
    fn may_contain_comments(&self) -> bool {
        self.has_hash
    }
    #[inline]
    fn take_source_error(&mut self) -> Option<ErrorKind> {
        self.inner.take_source_error()
    }
    #[inline]
    fn next_2_are(&self, c1: char, c2: char) -> bool {
        self.inner.next_2_are(c1, c2)
    }
    #[inline]
    fn next_3_are(&self, c1: char, c2: char, c3: char) -> bool {
        self.inner.next_3_are(c1, c2, c3)
    }
    #[inline]
    fn next_is_document_indicator(&self) -> bool {
        self.inner.next_is_document_indicator()
    }
    #[inline]
    fn next_is_document_start(&self) -> bool {
        self.inner.next_is_document_start()
    }
    #[inline]
    fn next_is_document_end(&self) -> bool {
        self.inner.next_is_document_end()
    }
    #[inline]
    fn skip_ws_to_eol(&mut self, skip_tabs: SkipTabs) -> (usize, Result<WhitespaceResult, ErrorKind>) {
        self.inner.skip_ws_to_eol(skip_tabs)
    }
    #[inline]
    fn skip_ws_to_eol_blanks(&mut self, skip_tabs: SkipTabs) -> (usize, WhitespaceResult) {
        self.inner.skip_ws_to_eol_blanks(skip_tabs)
    }
    #[inline]
    fn next_can_be_plain_scalar(&self, in_flow: bool) -> bool {
        self.inner.next_can_be_plain_scalar(in_flow)
    }
    #[inline]
    fn next_is_blank_or_break(&self) -> bool {
        self.inner.next_is_blank_or_break()
    }
    #[inline]
    fn next_is_blank_or_breakz(&self) -> bool {
        self.inner.next_is_blank_or_breakz()
    }
    #[inline]
    fn next_is_blank(&self) -> bool {
        self.inner.next_is_blank()
    }
    #[inline]
    fn next_is_break(&self) -> bool {
        self.inner.next_is_break()
    }
    #[inline]
    fn next_is_breakz(&self) -> bool {
        self.inner.next_is_breakz()
    }
    #[inline]
    fn next_is_z(&self) -> bool {
        self.inner.next_is_z()
    }
    #[inline]
    fn next_is_flow(&self) -> bool {
        self.inner.next_is_flow()
    }
    #[inline]
    fn next_is_digit(&self) -> bool {
        self.inner.next_is_digit()
    }
    #[inline]
    fn next_is_alpha(&self) -> bool {
        self.inner.next_is_alpha()
    }
    #[inline]
    fn skip_while_non_breakz(&mut self) -> usize {
        self.inner.skip_while_non_breakz()
    }
    #[inline]
    fn skip_while_blank(&mut self) -> usize {
        self.inner.skip_while_blank()
    }
    #[inline]
    fn fetch_while_is_alpha(&mut self, out: &mut String) -> usize {
        self.inner.fetch_while_is_alpha(out)
    }
    #[inline]
    fn fetch_while_is_yaml_non_space(&mut self, out: &mut String) -> usize {
        self.inner.fetch_while_is_yaml_non_space(out)
    }
    #[inline]
    fn fetch_block_scalar_line(&mut self, out: &mut String) -> usize {
        self.inner.fetch_block_scalar_line(out)
    }
    #[inline]
    fn take_quoted_scalar_ascii_chunk(&mut self, single: bool) -> &str {
        self.inner.take_quoted_scalar_ascii_chunk(single)
    }
    #[inline]
    fn take_quoted_scalar_chunk(&mut self, single: bool) -> (&str, usize) {
        self.inner.take_quoted_scalar_chunk(single)
    }
    #[inline]
    fn fetch_plain_scalar_chunk(&mut self, out: &mut String, _count: usize, flow: bool) -> (bool, usize) {
        let (run, chars) = self.take_run(flow);
        out.push_str(&self.src[run]);
        (true, chars)
    }
    #[inline]
    fn skip_plain_scalar_chunk(&mut self, _count: usize, flow: bool) -> (bool, usize) {
        (true, self.take_run(flow).1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// granit's own scan, one byte at a time, as the reference for [`plain_run`].
    fn reference_run(s: &str, flow: bool) -> (usize, usize) {
        let mut input = StrInput::new(s);
        let (_, chars) = input.skip_plain_scalar_chunk(0, flow);
        (input.byte_offset().unwrap(), chars)
    }

    #[test]
    fn plain_run_matches_granit() {
        let cases = [
            "",
            "a",
            "abc def",
            "a:b c",
            "a: b",
            "a:",
            "a::",
            "a:\u{e9} x",
            "\u{e9}\u{20ac}z\tq",
            "0123456789abcdefXYZ:",
            "0123456789abcdef0123456789abcdef:x y",
            "x,y[z]{w}",
            "x:,y",
            "x:[",
            "long\u{2028}run still",
            "ab\0cd",
            "ab\rcd",
            "a\u{85}b",
            "::::",
            ":",
            "a:#b",
            "a #b",
        ];
        for s in cases {
            for flow in [false, true] {
                assert_eq!(plain_run(s, flow), reference_run(s, flow), "{s:?} flow={flow}");
            }
        }
        // Every prefix of a long mixed line, so that stops fall at each place in a block.
        let line = "k0123456789abcdef\u{e9}0123456789:x0123456789abcdef{0}1,2 3\t4\u{10348}5:\n6";
        for (i, _) in line.char_indices() {
            for flow in [false, true] {
                assert_eq!(plain_run(&line[i..], flow), reference_run(&line[i..], flow), "{:?}", &line[i..]);
            }
        }
    }

    #[test]
    fn same_events_as_str_input() {
        let docs = [
            "a: b\nc: [d, e:f, {g: h}]\n# note\nlong: plain text that: folds\n  over lines\n",
            "k: v:w\nk2: 'q' # c\nk3: \"d\"\n? x\n: y\n- z\n",
            "a:\n  - b: &x c\n  - *x\n  - !!str 3\n  - |\n    block\n",
            "x: a\tb\nbad: [a, b\n",
            "\u{feff}a: \u{e9}t\u{e9} caf\u{e9}:latte\n---\nb: c\n...\n",
            "k: a:\u{85}b\n",
            "k: x\0y\n",
        ];
        for src in docs {
            assert_eq!(crate::yaml::disagreement_with_granit(src), None, "{src:?}");
        }
    }
}
