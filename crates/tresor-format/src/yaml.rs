//! YAML → [`Document`]s, from granit-parser's span-carrying event stream.
//!
//! We never re-emit YAML from a tree: the tree only records where each value and comment
//! sits, so callers splice replacements into the original bytes.

use std::ops::Range;

use crate::input::SrcInput;
use granit_parser::{Event, Parser, Placement, ScalarStyle as GStyle, Span, StructureStyle};

use crate::error::{FormatError, Position};
use crate::scalar;
use crate::tree::*;
use crate::{Value, MAX_DEPTH};

enum Frame {
    Map {
        map: Map,
        pending_key: Option<PendingKey>,
        anchor: usize,
        deferred: Vec<Comment>,
        /// Comments between a key and its (not yet started) nested value, indented deeper
        /// than the key: they belong to that value's collection.
        for_value: Vec<Comment>,
        /// Hashes of the keys seen, to refuse duplicates as sops (go-yaml v3) does; kept
        /// apart from `items` because a stream hands finished items out.
        keys: crate::hash::FastSet<u64>,
    },
    Seq {
        seq: Seq,
        anchor: usize,
        deferred: Vec<Comment>,
        /// The column of a block sequence's `-` indicators (`seq.indent` is the column of
        /// the first item's content).
        dash_col: usize,
    },
}

struct PendingKey {
    key: String,
    is_string: bool,
    span: Range<usize>,
    pos: Position,
}

impl Frame {
    fn flow(&self) -> bool {
        match self {
            Frame::Map { map, .. } => map.flow,
            Frame::Seq { seq, .. } => seq.flow,
        }
    }
    fn indent(&self) -> usize {
        match self {
            Frame::Map { map, .. } => map.indent,
            Frame::Seq { seq, .. } => seq.indent,
        }
    }
    /// The column of this collection's own tokens: a mapping's keys, a block sequence's
    /// `-` indicators (the column comments are compared with).
    fn token_col(&self) -> usize {
        match self {
            Frame::Map { map, .. } => map.indent,
            Frame::Seq { dash_col, .. } => *dash_col,
        }
    }
    fn deferred(&mut self) -> &mut Vec<Comment> {
        match self {
            Frame::Map { deferred, .. } | Frame::Seq { deferred, .. } => deferred,
        }
    }
    /// Add a comment as the next item of this collection.
    fn push_comment(&mut self, c: Comment) {
        match self {
            Frame::Map { map, .. } => map.items.push(MapItem::Comment(c)),
            Frame::Seq { seq, .. } => seq.items.push(SeqItem::Comment(c)),
        }
    }
    /// Add a same-line comment before the item it trails: sops (≤3.12) stores inline
    /// comments ahead of their key, and its comment regexes rely on that order.
    fn push_inline_comment(&mut self, c: Comment) {
        match self {
            Frame::Map { map, pending_key, .. } => {
                let last_entry = map.items.iter().rposition(|i| matches!(i, MapItem::Entry(_)));
                match (pending_key.is_some(), last_entry) {
                    (false, Some(idx)) => map.items.insert(idx, MapItem::Comment(c)),
                    _ => map.items.push(MapItem::Comment(c)),
                }
            }
            Frame::Seq { seq, .. } => match seq.items.iter().rposition(|i| matches!(i, SeqItem::Value(_))) {
                Some(idx) => seq.items.insert(idx, SeqItem::Comment(c)),
                None => seq.items.push(SeqItem::Comment(c)),
            },
        }
    }
}

/// The comments between some content and a later comment (see [`Builder::run_before`]).
#[derive(Clone, Copy, Default)]
struct CommentRun {
    /// The column of the run's first comment line.
    first_col: Option<usize>,
    /// The leftmost and rightmost columns of its comment lines.
    min_col: Option<usize>,
    max_col: Option<usize>,
    /// A blank line before the first comment line.
    blank_before_first: bool,
    /// A blank line after it.
    blank_since_first: bool,
}

struct Builder<'a> {
    src: &'a str,
    stack: Vec<Frame>,
    docs: Vec<Document>,
    anchors: Vec<Option<Node>>,
    root: Option<Node>,
    /// Comments seen before the current document's root collection opened.
    pre_root: Vec<Comment>,
    /// Comments seen after a root completed and before the next document started.
    post_root: Vec<Comment>,
    /// Byte offset just past the last structural token, to find block scalar headers.
    last_end: usize,
    root_end: usize,
    /// End of the root-map items already handed out by a [`Stream`].
    drained_end: usize,
    /// A document started after the last finished one (which is then final).
    next_started: bool,
    /// How many anchored nodes were recorded (tells a [`pipeline`] consumer to refresh).
    anchor_count: usize,
    /// The last [`next_token`] answer: (scan start, where the token's line starts, answer).
    /// Every comment line of a block shares it, so a long block is scanned once.
    next_token_cache: Option<(usize, usize, Option<NextToken>)>,
    /// [`Builder::run_before`]'s last answer: (content end, line start read up to, run).
    run_cache: Option<(usize, usize, CommentRun)>,
}

/// The first token after a comment line: its column, and whether it is a block sequence
/// entry (`- `).
#[derive(Clone, Copy, Debug)]
struct NextToken {
    col: usize,
    dash: bool,
    /// Where the last blank line between the comment block and the token starts.
    last_blank: Option<usize>,
}

/// The token that follows offset `from` (the end of a comment): the first character of the
/// next line that is neither blank nor a comment. `None` at the end of the input or at a
/// document marker (comments there end their document). Also returns where that line
/// starts.
fn next_token(src: &str, from: usize) -> (usize, Option<NextToken>) {
    let b = src.as_bytes();
    let mut line = match memchr::memchr(b'\n', &b[from.min(b.len())..]) {
        Some(i) => from + i + 1,
        None => return (b.len(), None),
    };
    let mut last_blank = None;
    while line < b.len() {
        let end = memchr::memchr(b'\n', &b[line..]).map_or(b.len(), |i| line + i);
        let text = &b[line..end];
        let indent = text.iter().take_while(|&&c| c == b' ').count();
        let rest = &text[indent..];
        let blank = rest.iter().all(|&c| matches!(c, b' ' | b'\t' | b'\r'));
        if blank {
            last_blank = Some(line);
        } else if rest[0] != b'#' {
            let marker = indent == 0
                && (rest.starts_with(b"---") || rest.starts_with(b"..."))
                && matches!(rest.get(3), None | Some(b' ' | b'\t' | b'\r'));
            if marker {
                return (line, None);
            }
            let dash = rest[0] == b'-' && matches!(rest.get(1), None | Some(b' ' | b'\t' | b'\r'));
            return (line, Some(NextToken { col: indent, dash, last_blank }));
        }
        line = end + 1;
    }
    (b.len(), None)
}

impl<'a> Builder<'a> {
    fn new(src: &'a str) -> Builder<'a> {
        Builder {
            src,
            stack: Vec::new(),
            docs: Vec::new(),
            anchors: Vec::new(),
            root: None,
            pre_root: Vec::new(),
            post_root: Vec::new(),
            last_end: 0,
            root_end: 0,
            drained_end: 0,
            next_started: false,
            anchor_count: 0,
            next_token_cache: None,
            run_cache: None,
        }
    }
}

/// Refuse the characters YAML readers disagree on as line breaks: a CR not followed by LF
/// (a line break to YAML and go-yaml, but not to line-based tools), and NEL, LS and PS
/// (line breaks to YAML 1.1 readers such as go-yaml and libyaml, text to YAML 1.2 ones).
/// A comment or value holding one could hide a line that downstream readers see as data
/// while tresor authenticates it as text, so such files are refused, not passed through.
pub fn check_line_breaks(src: &str) -> Result<(), FormatError> {
    let b = src.as_bytes();
    for i in memchr::memchr3_iter(b'\r', 0xC2, 0xE2, b) {
        let what = match (b[i], b.get(i + 1), b.get(i + 2)) {
            (b'\r', Some(b'\n'), _) => continue,
            (b'\r', ..) => "a carriage return (CR) that is not part of a CRLF line break",
            (0xC2, Some(0x85), _) => "U+0085 NEXT LINE (NEL)",
            (0xE2, Some(0x80), Some(0xA8)) => "U+2028 LINE SEPARATOR",
            (0xE2, Some(0x80), Some(0xA9)) => "U+2029 PARAGRAPH SEPARATOR",
            _ => continue,
        };
        let line = 1 + memchr::memchr_iter(b'\n', &b[..i]).count();
        let col = 1 + src[..i].rfind('\n').map_or(i, |n| i - n - 1);
        return Err(FormatError::Unsupported {
            pos: Position { line, col },
            msg: format!(
                "the file contains {what}; YAML readers disagree on whether it ends a line, so tresor refuses it \
                 (use LF or CRLF line breaks, and write the character as an escape in a double-quoted string: \\N, \\L, \\P, \\r)"
            ),
        });
    }
    Ok(())
}

fn parse_error(e: granit_parser::ScanError) -> FormatError {
    let m = e.marker();
    let pos = Position { line: m.line(), col: m.col() + 1 };
    if e.info().contains("recursion limit") {
        return FormatError::TooDeep { pos, max: MAX_DEPTH };
    }
    FormatError::Yaml { pos, msg: e.info().to_string() }
}

/// The parser's options: anchor names reported (to check them as go-yaml would).
fn parser_options() -> granit_parser::Options {
    granit_parser::options! { emit_anchor_events: true }
}

/// The parser tresor reads YAML with.
fn new_parser(src: &str) -> Parser<'_, SrcInput<'_>> {
    Parser::with_options(SrcInput::new(src), parser_options())
}

/// Where tresor's parser (with its own plain-scalar scan, `crate::input`) and granit's own
/// `StrInput` parser first disagree on `src`: the two events, spans or errors, or `None`
/// when they agree throughout. The `yaml_input` fuzz target and the tests assert `None`.
pub fn disagreement_with_granit(src: &str) -> Option<(String, String)> {
    let mut ours = new_parser(src);
    let mut theirs = Parser::new_from_str_with_options(src, parser_options());
    // Bounded: the parser stops at the first error, and each event consumes input.
    loop {
        let (a, b) = (ours.next(), theirs.next());
        let (da, db) = (format!("{a:?}"), format!("{b:?}"));
        if da != db {
            return Some((da, db));
        }
        if !matches!(a, Some(Ok(_))) {
            return None;
        }
    }
}

/// Parse every document of a YAML stream losslessly.
pub fn parse(src: &str) -> Result<Vec<Document>, FormatError> {
    check_line_breaks(src)?;
    let mut b = Builder::new(src);
    for ev in new_parser(src) {
        let (ev, span) = ev.map_err(parse_error)?;
        b.event(ev, span)?;
    }
    b.finish();
    Ok(b.docs)
}

/// What a [`Stream`] hands out, in document order.
pub enum Pulled {
    /// Complete items of the current document's root block mapping.
    Items(Vec<MapItem>),
    /// A finished document; its root mapping holds only the items not handed out before.
    Document(Document),
}

/// A YAML parse that hands out the root mapping's items as soon as they are complete, so
/// a caller can process a large file while holding only one top-level entry's tree.
pub struct Stream<'a> {
    parser: Parser<'a, SrcInput<'a>>,
    b: Builder<'a>,
    exhausted: bool,
}

impl<'a> Stream<'a> {
    /// A stream over `src`.
    pub fn new(src: &'a str) -> Stream<'a> {
        Stream { parser: new_parser(src), b: Builder::new(src), exhausted: false }
    }

    /// Anchored nodes seen so far in the current document (for alias expansion).
    pub fn anchors(&self) -> &[Option<Node>] {
        &self.b.anchors
    }

    /// Every byte offset a later item or edit can start at is at least this: the start of
    /// the last root entry still held (an inline comment can be stored ahead of it).
    pub fn held_from(&self) -> usize {
        match self.b.stack.first() {
            Some(Frame::Map { map, pending_key, .. }) => {
                let held = map.items.iter().map(item_start).min();
                let key = pending_key.as_ref().map(|k| k.span.start);
                held.into_iter().chain(key).min().unwrap_or(self.b.last_end)
            }
            Some(Frame::Seq { seq, .. }) => seq.span.start,
            None => self.b.last_end,
        }
    }

    /// The next root items or finished document, or `None` at the end.
    pub fn pull(&mut self) -> Result<Option<Pulled>, FormatError> {
        loop {
            // A document is final once the next one starts or the input ends (comments
            // after its root still join it until then).
            if self.b.docs.len() > 1 || (self.b.next_started || self.exhausted) && !self.b.docs.is_empty() {
                self.b.next_started = false;
                return Ok(Some(Pulled::Document(self.b.docs.remove(0))));
            }
            if self.exhausted {
                return Ok(None);
            }
            match self.parser.next() {
                None => {
                    self.exhausted = true;
                    self.b.finish();
                }
                Some(ev) => {
                    let (ev, span) = ev.map_err(parse_error)?;
                    self.b.event(ev, span)?;
                    if let Some(items) = self.b.drain_root() {
                        return Ok(Some(Pulled::Items(items)));
                    }
                }
            }
        }
    }
}

/// One piece of a [`pipeline`]: what the stream pulled, the anchors when they changed
/// since the previous piece, and [`Stream::held_from`] at that point.
pub struct Chunk {
    /// What was pulled.
    pub pulled: Pulled,
    /// The anchors, when they changed since the previous chunk.
    pub anchors: Option<Vec<Option<Node>>>,
    /// [`Stream::held_from`] when it was pulled.
    pub held_from: usize,
}

/// Input bytes of root items a threaded [`pipeline`] hands over at once.
const BATCH: usize = 64 << 10;

/// The first hand-over is smaller, doubling up to [`BATCH`]: the consumer has nothing to
/// do until it arrives (a full batch kept it idle for ~2 ms of a 25 ms run).
const FIRST_BATCH: usize = 4 << 10;

fn next_chunk(stream: &mut Stream, sent_anchors: &mut usize) -> Result<Option<Chunk>, FormatError> {
    let Some(pulled) = stream.pull()? else { return Ok(None) };
    let anchors = (stream.b.anchor_count != *sent_anchors).then(|| {
        *sent_anchors = stream.b.anchor_count;
        stream.anchors().to_vec()
    });
    Ok(Some(Chunk { pulled, anchors, held_from: stream.held_from() }))
}

/// Stream `src` into `consume`, chunk by chunk in document order. With `threaded`, the
/// parsing runs on a second thread while `consume` works on the previous chunks; the first
/// error (the parser's, in order, or the consumer's) ends both. `consume` may take what it
/// wants out of a chunk; what is left is dropped by the parsing thread, which allocated it
/// and has time to spare (the consumer is the longer of the two), not by the consumer.
pub fn pipeline<E: From<FormatError>>(
    src: &str,
    threaded: bool,
    mut consume: impl FnMut(&mut Chunk) -> Result<(), E>,
) -> Result<(), E> {
    check_line_breaks(src)?;
    if !threaded {
        let (mut stream, mut sent) = (Stream::new(src), 0);
        while let Some(mut chunk) = next_chunk(&mut stream, &mut sent)? {
            consume(&mut chunk)?;
        }
        return Ok(());
    }
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Chunk, FormatError>>(8);
        let (spent_tx, spent_rx) = std::sync::mpsc::channel::<Chunk>();
        scope.spawn(move || {
            produce(src, &tx, &spent_rx);
            // Hang up first: the consumer then ends, and with it what it hands back.
            drop(tx);
            spent_rx.iter().for_each(drop);
        });
        for chunk in rx {
            let mut chunk = chunk?;
            consume(&mut chunk)?;
            // Only fails once the parsing thread is gone: then it is dropped here.
            let _ = spent_tx.send(chunk);
        }
        Ok(())
    })
}

/// The parsing thread of [`pipeline`]: send chunks until the input, an error or the
/// consumer ends, dropping the spent chunks the consumer hands back in between.
fn produce(
    src: &str,
    tx: &std::sync::mpsc::SyncSender<Result<Chunk, FormatError>>,
    spent_rx: &std::sync::mpsc::Receiver<Chunk>,
) {
    let (mut stream, mut sent) = (Stream::new(src), 0);
    // Root items are batched up to `limit` bytes of input: a hand-over wakes the
    // consumer, and a file of many small root entries would otherwise pay that
    // for each one.
    let mut batch: Option<Chunk> = None;
    let mut batch_from = 0;
    let mut limit = FIRST_BATCH;
    loop {
        spent_rx.try_iter().for_each(drop);
        let r = match next_chunk(&mut stream, &mut sent).transpose() {
            Some(Ok(Chunk { pulled: Pulled::Items(items), anchors, held_from })) => {
                match &mut batch {
                    Some(Chunk { pulled: Pulled::Items(mine), anchors: held, held_from: upto }) => {
                        // Anchor ids are unique per definition (the parser numbers a
                        // redefined name anew) and only accumulate within a document,
                        // so the later table serves the earlier items too.
                        mine.extend(items);
                        if anchors.is_some() {
                            *held = anchors;
                        }
                        *upto = held_from;
                    }
                    _ => {
                        batch_from = held_from;
                        batch = Some(Chunk { pulled: Pulled::Items(items), anchors, held_from });
                    }
                }
                if batch.as_ref().is_some_and(|b| b.held_from.saturating_sub(batch_from) < limit) {
                    continue;
                }
                limit = (limit * 2).min(BATCH);
                batch.take().map(Ok)
            }
            other => {
                // A document or the end: what is batched goes first.
                if let Some(b) = batch.take() {
                    if tx.send(Ok(b)).is_err() {
                        return;
                    }
                }
                other
            }
        };
        let last = !matches!(r, Some(Ok(_)));
        // A closed channel means the consumer stopped on an error.
        if r.is_some_and(|r| tx.send(r).is_err()) || last {
            return;
        }
    }
}

fn item_start(i: &MapItem) -> usize {
    match i {
        MapItem::Entry(e) => e.key_span.start,
        MapItem::Comment(c) => c.span.start,
    }
}

fn append_comments(node: &mut Node, comments: Vec<Comment>) {
    match node {
        Node::Map(m) => m.items.extend(comments.into_iter().map(MapItem::Comment)),
        Node::Seq(s) => s.items.extend(comments.into_iter().map(SeqItem::Comment)),
        _ => {}
    }
}

fn byte_range(span: &Span) -> Range<usize> {
    // String input always carries byte offsets.
    span.byte_range().unwrap_or(0..0)
}

impl<'a> Builder<'a> {
    /// Trailing comments after the last document's root belong to it.
    fn finish(&mut self) {
        if !self.post_root.is_empty() {
            let rest = std::mem::take(&mut self.post_root);
            if let Some(doc) = self.docs.last_mut() {
                append_comments(&mut doc.root, rest);
            }
        }
    }

    /// Items of the root block mapping that nothing can change any more: all before its
    /// last entry (a same-line comment is stored ahead of the entry it trails).
    fn drain_root(&mut self) -> Option<Vec<MapItem>> {
        let [Frame::Map { map, .. }] = self.stack.as_mut_slice() else { return None };
        if map.flow || map.items.len() < 4 || !self.docs.is_empty() {
            return None;
        }
        let last = map.items.iter().rposition(|i| matches!(i, MapItem::Entry(_)))?;
        if last == 0 {
            return None;
        }
        let rest = map.items.split_off(last);
        let done = std::mem::replace(&mut map.items, rest);
        self.drained_end = done.iter().map(item_end).fold(self.drained_end, usize::max);
        Some(done)
    }

    fn pos(&self, span: &Span) -> Position {
        Position { line: span.start.line(), col: span.start.col() + 1 }
    }

    fn in_flow(&self) -> bool {
        self.stack.last().is_some_and(Frame::flow)
    }

    fn event(&mut self, ev: Event<'a>, span: Span) -> Result<(), FormatError> {
        let range = byte_range(&span);
        match ev {
            Event::StreamStart | Event::StreamEnd => {}
            Event::DocumentStart(..) => {
                self.next_started = !self.docs.is_empty();
                if !self.post_root.is_empty() {
                    // Comments between documents belong to the document they precede.
                    let mut c = std::mem::take(&mut self.post_root);
                    c.append(&mut self.pre_root);
                    self.pre_root = c;
                }
                self.last_end = range.end;
            }
            Event::DocumentEnd => {
                let root = self.root.take().unwrap_or_else(|| {
                    Node::Scalar(Scalar {
                        text: String::new(),
                        style: ScalarStyle::Plain,
                        tag: None,
                        span: range.start..range.start,
                        header: None,
                        indent: 0,
                        in_flow: false,
                        pos: self.pos(&span),
                    })
                });
                let mut root = root;
                if !self.pre_root.is_empty() {
                    let c = std::mem::take(&mut self.pre_root);
                    append_comments(&mut root, c);
                }
                let append_at = match &root {
                    Node::Map(m) if !m.flow => self.root_end,
                    other => node_end(other),
                };
                self.docs.push(Document { root, anchors: std::mem::take(&mut self.anchors), append_at });
                self.last_end = range.end;
            }
            Event::Comment(text, placement) => self.comment(text.into_owned(), placement, range, &span),
            // go-yaml (sops) reads anchor names of letters, digits, `-` and `_` only; a file
            // with any other name would be unreadable to it.
            Event::Anchor(_, name)
                if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') =>
            {
                return Err(FormatError::Unsupported {
                    pos: self.pos(&span),
                    msg: format!(
                        "the anchor name '&{name}' has characters sops (go-yaml) does not accept in anchor names \
                         (letters, digits, '-' and '_' only)"
                    ),
                });
            }
            Event::Alias(id) => {
                let name = self.src[range.clone()].trim_start_matches('*').to_string();
                // The anchor's node is recorded when it ends: an alias before that sits
                // inside its own anchor (`a: &a [*a]`), a cycle no SOPS tool can walk.
                if !self.anchors.get(id).is_some_and(Option::is_some) {
                    return Err(FormatError::Unsupported {
                        pos: self.pos(&span),
                        msg: format!("the alias '*{name}' is inside the node its anchor names (a recursive alias); sops refuses it too"),
                    });
                }
                let node = Node::Alias(Alias { anchor: id, name, span: range.clone(), pos: self.pos(&span) });
                self.last_end = range.end;
                self.attach(node, 0)?;
            }
            Event::UnresolvedAlias(name) => {
                return Err(FormatError::Yaml { pos: self.pos(&span), msg: format!("unknown anchor '{name}'") })
            }
            Event::Scalar(text, style, anchor, tag) => {
                let tag = tag.map(|t| {
                    let s = t.to_string();
                    s.replace("tag:yaml.org,2002:", "!!")
                });
                self.scalar(text.into_owned(), style, anchor, tag, range, &span)?;
            }
            Event::MappingStart(style, anchor, _tag) => {
                self.check_depth(&span)?;
                let flow = style == StructureStyle::Flow;
                let mut items = self.pre_root_if_root();
                items.extend(self.take_for_value().into_iter().map(MapItem::Comment));
                let map =
                    Map { items, flow, indent: span.start.col(), pos: self.pos(&span), span: range.start..range.end };
                self.last_end = range.end;
                self.stack.push(Frame::Map {
                    map,
                    pending_key: None,
                    anchor,
                    deferred: Vec::new(),
                    for_value: Vec::new(),
                    keys: Default::default(),
                });
            }
            Event::SequenceStart(style, anchor, _tag) => {
                self.check_depth(&span)?;
                let flow = style == StructureStyle::Flow;
                let items = self
                    .pre_root_if_root()
                    .into_iter()
                    .map(|c| match c {
                        MapItem::Comment(c) => SeqItem::Comment(c),
                        MapItem::Entry(_) => unreachable!(),
                    })
                    .collect();
                let mut items: Vec<SeqItem> = items;
                items.extend(self.take_for_value().into_iter().map(SeqItem::Comment));
                let seq = Seq { items, flow, indent: span.start.col(), pos: self.pos(&span), span: range.clone() };
                self.last_end = range.end;
                let dash_col = self.dash_col(range.start, span.start.col());
                self.stack.push(Frame::Seq { seq, anchor, deferred: Vec::new(), dash_col });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                let frame = self.stack.pop().expect("balanced events");
                let (mut node, anchor, deferred) = match frame {
                    Frame::Map { mut map, pending_key, anchor, deferred, .. } => {
                        if pending_key.is_some() {
                            return Err(FormatError::Yaml {
                                pos: self.pos(&span),
                                msg: "mapping key without value".into(),
                            });
                        }
                        map.span.end = if map.flow { range.end } else { map.items_end().max(map.span.end) };
                        if self.stack.is_empty() {
                            map.span.end = map.span.end.max(std::mem::take(&mut self.drained_end));
                        }
                        (Node::Map(map), anchor, deferred)
                    }
                    Frame::Seq { mut seq, anchor, deferred, .. } => {
                        seq.span.end = if seq.flow { range.end } else { seq.items_end().max(seq.span.end) };
                        (Node::Seq(seq), anchor, deferred)
                    }
                };
                append_comments(&mut node, deferred);
                if self.stack.is_empty() {
                    self.root_end = range.start;
                }
                self.last_end = range.end;
                self.attach(node, anchor)?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Comments waiting for the nested collection that is starting now.
    fn take_for_value(&mut self) -> Vec<Comment> {
        match self.stack.last_mut() {
            Some(Frame::Map { for_value, .. }) => std::mem::take(for_value),
            _ => Vec::new(),
        }
    }

    /// Comments that precede the root collection become its first items.
    fn pre_root_if_root(&mut self) -> Vec<MapItem> {
        if self.stack.is_empty() && self.root.is_none() {
            std::mem::take(&mut self.pre_root).into_iter().map(MapItem::Comment).collect()
        } else {
            Vec::new()
        }
    }

    fn check_depth(&self, span: &Span) -> Result<(), FormatError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(FormatError::TooDeep { pos: self.pos(span), max: MAX_DEPTH });
        }
        Ok(())
    }

    fn comment(&mut self, text: String, placement: Placement, range: Range<usize>, span: &Span) {
        let c = Comment { text, span: range, pos: self.pos(span) };
        if self.stack.is_empty() {
            if self.root.is_some() {
                self.post_root.push(c);
            } else {
                self.pre_root.push(c);
            }
            return;
        }
        if placement == Placement::Right {
            // `key: &anchor # c` (or a tag) before a nested collection: go-yaml makes the
            // comment the collection's own line comment, and sops files it inside it.
            if let Some(Frame::Map { map, pending_key: Some(k), for_value, .. }) = self.stack.last_mut() {
                let between = self.src.get(k.span.end..c.span.start).unwrap_or("");
                let props = between.trim_matches(|ch: char| ch == ' ' || ch == '\t' || ch == ':');
                if !map.flow && !props.is_empty() && !between.contains('\n') {
                    for_value.push(c);
                    return;
                }
            }
            // `key: [..] # c` or `key: {..} # c`: go-yaml makes the comment the flow
            // collection's own line comment, and sops files it as that collection's first
            // item (under the collection's path, which its AAD names).
            if let Some(Frame::Map { map, pending_key: None, .. }) = self.stack.last_mut() {
                if !map.flow {
                    if let Some(MapItem::Entry(e)) = map.items.iter_mut().rev().find(|i| matches!(i, MapItem::Entry(_)))
                    {
                        let same_line = |end: usize| !self.src.get(end..c.span.start).unwrap_or("\n").contains('\n');
                        match &mut e.value {
                            Node::Seq(s) if s.flow && same_line(s.span.end) => {
                                s.items.insert(0, SeqItem::Comment(c));
                                return;
                            }
                            Node::Map(m) if m.flow && same_line(m.span.end) => {
                                m.items.insert(0, MapItem::Comment(c));
                                return;
                            }
                            _ => {}
                        }
                    }
                }
            }
            self.stack.last_mut().unwrap().push_inline_comment(c);
            return;
        }
        let col = span.start.col();
        let top = self.stack.len() - 1;
        // Where go-yaml v3 (sops) files an own-line comment depends on the token after it
        // (the end of the document counts as a token at column 0):
        // * that token continues the innermost open collection (or goes deeper): the
        //   comment is its head comment, wherever the comment itself is indented;
        // * it closes collections (a dedent): the comment is its head comment at exactly its
        //   column, or left of it with a blank line between them, and otherwise a foot
        //   comment of the deepest collection still open, however far left it is.
        if !self.stack[top].flow() {
            let next = self.next_token_after(c.span.end).unwrap_or(NextToken { col: 0, dash: false, last_blank: None });
            let blank_after = next.last_blank.is_some_and(|b| b > c.span.end);
            // Left of the dedented token and apart from it by a blank line: its head too.
            let apart = col < next.col && blank_after;
            if next.col >= self.stack[top].token_col() || col == next.col || apart {
                self.head_comment(c, next);
                return;
            }
            // go-yaml gives the inner collection one foot comment: the first comment block
            // after its content, when that block stands at the collection's own column (a
            // deeper one is the last value's). A later block, apart from it by a blank line,
            // then goes with the dedented token, whatever its column.
            // And once a comment line of the run stands at or left of the dedented token's
            // column (its head comment), every comment after it joins that head.
            let inner_col = self.stack[top].token_col();
            let run = self.run_before(c.span.start);
            let foot_taken = run.first_col.is_some_and(|first| first <= inner_col)
                && !run.blank_before_first
                && run.blank_since_first;
            if foot_taken || run.min_col.is_some_and(|m| m <= next.col) {
                self.head_comment(c, next);
                return;
            }
            // Right after content and apart from the dedented token by a blank line — or
            // where go-yaml splits a run, left of the comment lines before it (and the lines
            // that follow at that column) —
            // a foot comment of the innermost collection not indented deeper than it.
            let apart_after = blank_after && !run.blank_before_first && !run.blank_since_first;
            let run_dedents =
                col > next.col && run.max_col.is_some_and(|m| m > col) && run.min_col.is_some_and(|m| m >= col);
            if (apart_after || run_dedents) && self.stack[top].token_col() > col {
                if let Some(inner) = (0..top).rev().find(|&i| self.stack[i].token_col() <= col) {
                    // An indentless list shares its mapping's column: the mapping holds it.
                    let at = self.stack[inner].token_col();
                    let target = (0..=inner).find(|&i| self.stack[i].token_col() == at).unwrap_or(inner);
                    self.stack[target].deferred().push(c);
                    return;
                }
            }
            if let Frame::Map { map, pending_key: Some(_), for_value, .. } = &mut self.stack[top] {
                if col > map.indent {
                    for_value.push(c);
                    return;
                }
            }
            self.stack[top].push_comment(c);
            return;
        }
        // Inside a flow collection: the innermost collection not indented deeper.
        let mut target = 0;
        for i in (0..=top).rev() {
            let f = &self.stack[i];
            if f.flow() || f.indent() <= col {
                target = i;
                break;
            }
        }
        if target == top {
            self.stack[top].push_comment(c);
        } else {
            self.stack[target].deferred().push(c);
        }
    }

    /// The comment lines and blank lines between the last content and the line of `at`,
    /// summed up. Comments arrive in order, so each call reads only the lines since the
    /// previous one (a long run of comments stays linear).
    fn run_before(&mut self, at: usize) -> CommentRun {
        let line_start = self.src[..at].rfind('\n').map_or(0, |i| i + 1);
        let content_end = self.last_end.min(self.src.len());
        let (from, mut run) = match self.run_cache {
            Some((end, upto, run)) if end == content_end && upto <= line_start => (upto, run),
            _ => {
                // The line after the content's last line (a block scalar's range may end at
                // a line start already).
                let at_line_start = content_end == 0 || self.src.as_bytes()[content_end - 1] == b'\n';
                let next_line = if at_line_start {
                    content_end
                } else {
                    self.src[content_end..].find('\n').map_or(self.src.len(), |i| content_end + i + 1)
                };
                (next_line, CommentRun::default())
            }
        };
        if from < line_start {
            for line in self.src[from..line_start].lines() {
                let t = line.trim_start();
                if t.trim_end().is_empty() {
                    match run.first_col {
                        None => run.blank_before_first = true,
                        Some(_) => run.blank_since_first = true,
                    }
                } else if t.starts_with('#') {
                    let col = line.len() - t.len();
                    run.first_col.get_or_insert(col);
                    run.min_col = Some(run.min_col.map_or(col, |m| m.min(col)));
                    run.max_col = Some(run.max_col.map_or(col, |m| m.max(col)));
                }
            }
        }
        self.run_cache = Some((content_end, line_start.max(from), run));
        run
    }

    /// The column of the `-` before a block sequence's first item that starts at byte
    /// `at`, column `col` (`col` itself when there is none to find).
    fn dash_col(&self, at: usize, col: usize) -> usize {
        let b = self.src.as_bytes();
        let mut i = at.min(b.len());
        while i > 0 && b[i - 1] == b' ' {
            i -= 1;
        }
        if i > 0 && b[i - 1] == b'-' {
            col.saturating_sub(at - i + 1)
        } else {
            col
        }
    }

    /// [`next_token`], cached across the lines of one comment block.
    fn next_token_after(&mut self, from: usize) -> Option<NextToken> {
        if let Some((start, line, answer)) = self.next_token_cache {
            if from >= start && from < line {
                return answer;
            }
        }
        let (line, answer) = next_token(self.src, from);
        self.next_token_cache = Some((from, line, answer));
        answer
    }

    /// File a comment with the collection that will hold `next`: a nested value about to
    /// open under the pending key, or the open collection at that column (a sequence only
    /// for a `- ` entry, so a comment between an indentless list and the next key goes to
    /// the mapping).
    fn head_comment(&mut self, c: Comment, next: NextToken) {
        let top = self.stack.len() - 1;
        if let Frame::Map { map, pending_key: Some(_), for_value, .. } = &mut self.stack[top] {
            // Deeper than the key, or an indentless list at the key's column: the value.
            if next.col > map.indent || (next.dash && next.col == map.indent) {
                for_value.push(c);
                return;
            }
        }
        let holds = |f: &Frame| !f.flow() && f.token_col() == next.col && next.dash == matches!(f, Frame::Seq { .. });
        let target = (0..=top)
            .rev()
            .find(|&i| holds(&self.stack[i]))
            .or_else(|| (0..=top).rev().find(|&i| self.stack[i].flow() || self.stack[i].indent() <= next.col))
            .unwrap_or(0);
        let pending = matches!(&self.stack[target], Frame::Map { pending_key: Some(_), .. });
        if target == top && !pending {
            self.stack[top].push_comment(c);
        } else {
            // After the item being built (a pending key's value comes first).
            self.stack[target].deferred().push(c);
        }
    }

    fn scalar(
        &mut self,
        mut text: String,
        style: GStyle,
        anchor: usize,
        tag: Option<String>,
        range: Range<usize>,
        span: &Span,
    ) -> Result<(), FormatError> {
        let pos = self.pos(span);
        // A scalar where a key is expected is a key.
        if let Some(Frame::Map { pending_key, .. }) = self.stack.last() {
            if pending_key.is_none() {
                let is_string = style != GStyle::Plain
                    || tag.as_deref() == Some("!!str")
                    || matches!(scalar::resolve_plain(&text), Ok(Value::Str(_)));
                self.last_end = range.end;
                // An anchored key (`&k a: 1`, which go-yaml also reads as the key's anchor):
                // an alias to it stands for the key's text.
                if anchor > 0 {
                    let st = match style {
                        GStyle::SingleQuoted => ScalarStyle::SingleQuoted,
                        GStyle::DoubleQuoted => ScalarStyle::DoubleQuoted,
                        _ => ScalarStyle::Plain,
                    };
                    let (in_flow, indent) = (self.in_flow(), self.stack.last().map(Frame::indent).unwrap_or(0));
                    let key = Scalar {
                        text: text.clone(),
                        style: st,
                        tag: tag.clone(),
                        span: range.clone(),
                        header: None,
                        indent,
                        in_flow,
                        pos,
                    };
                    self.record_anchor(anchor, Node::Scalar(key));
                }
                if let Some(Frame::Map { pending_key, .. }) = self.stack.last_mut() {
                    *pending_key = Some(PendingKey { key: text, is_string, span: range, pos });
                }
                return Ok(());
            }
        }
        let in_flow = self.in_flow();
        let owner_indent = self.stack.last().map(Frame::indent).unwrap_or(0);
        let (style, span_r, header, indent) = match style {
            GStyle::Plain => (ScalarStyle::Plain, range.clone(), None, owner_indent),
            GStyle::SingleQuoted => (ScalarStyle::SingleQuoted, range.clone(), None, owner_indent),
            GStyle::DoubleQuoted => (ScalarStyle::DoubleQuoted, range.clone(), None, owner_indent),
            GStyle::Literal | GStyle::Folded => {
                let (header, body) = self.block_ranges(&range, pos)?;
                // A block that ends the input without a line break has none to keep or clip:
                // go-yaml and libyaml read `a: |\n  x` as "x".
                let last = self.src[body.end..].trim_matches([' ', '\t']);
                if last.is_empty() && text.ends_with('\n') && !self.src.ends_with('\n') {
                    text.pop();
                }
                let st = if style == GStyle::Literal { ScalarStyle::Literal } else { ScalarStyle::Folded };
                (st, body, Some(header), span.indent.unwrap_or(owner_indent + 2))
            }
        };
        self.last_end = range.end;
        let node = Node::Scalar(Scalar { text, style, tag, span: span_r, header, indent, in_flow, pos });
        self.attach(node, anchor)
    }

    /// Locate a block scalar's header indicator and its body lines.
    fn block_ranges(&self, range: &Range<usize>, pos: Position) -> Result<(Range<usize>, Range<usize>), FormatError> {
        let b = self.src.as_bytes();
        let mut i = self.last_end;
        // Skip separators and node properties (tag, anchor) up to the indicator.
        while i < range.start {
            match b[i] {
                b'|' | b'>' => break,
                b'!' | b'&' => {
                    while i < b.len() && !b[i].is_ascii_whitespace() {
                        i += 1;
                    }
                }
                _ => i += 1,
            }
        }
        if i >= b.len() || !(b[i] == b'|' || b[i] == b'>') {
            return Err(FormatError::Unsupported { pos, msg: "cannot locate block scalar header".into() });
        }
        let h_start = i;
        i += 1;
        while i < b.len() && (b[i] == b'+' || b[i] == b'-' || b[i].is_ascii_digit()) {
            i += 1;
        }
        let header = h_start..i;
        let body_start = match self.src[i..].find('\n') {
            Some(off) => i + off + 1,
            None => b.len(),
        };
        let end = range.end.max(body_start).min(b.len());
        if !self.src[header.clone()].bytes().any(|c| c.is_ascii_digit()) {
            self.check_block_indentation(body_start..end)?;
        }
        let mut last = end;
        while last > body_start && b[last - 1].is_ascii_whitespace() {
            last -= 1;
        }
        let body_end = if last == body_start {
            body_start
        } else {
            let mut e = last;
            while e < b.len() && b[e] != b'\n' && b[e] != b'\r' {
                e += 1;
            }
            e
        };
        Ok((header, body_start..body_end))
    }

    /// go-yaml (sops) refuses a tab where a block scalar's indentation is still to be
    /// found (on its leading blank lines) or left of it; other readers take it as content,
    /// so they would disagree on the value.
    fn check_block_indentation(&self, body: Range<usize>) -> Result<(), FormatError> {
        let mut indent = None;
        let mut at = body.start;
        for line in self.src[body].split_inclusive('\n') {
            let spaces = line.bytes().take_while(|&c| c == b' ').count();
            let rest = line[spaces..].trim_end_matches(['\n', '\r']);
            let tab = rest.starts_with('\t');
            if tab && indent.is_none_or(|n| spaces < n) {
                let line_no = 1 + memchr::memchr_iter(b'\n', &self.src.as_bytes()[..at]).count();
                return Err(FormatError::Unsupported {
                    pos: Position { line: line_no, col: spaces + 1 },
                    msg: "a tab where a block scalar's indentation is expected (sops refuses it; \
                          indent with spaces, or put the tab after the indentation)"
                        .into(),
                });
            }
            if indent.is_none() && !rest.is_empty() {
                indent = Some(spaces);
            }
            at += line.len();
        }
        Ok(())
    }

    /// Remember the node an anchor names, for the aliases to it.
    fn record_anchor(&mut self, anchor: usize, node: Node) {
        if self.anchors.len() <= anchor {
            self.anchors.resize(anchor + 1, None);
        }
        self.anchors[anchor] = Some(node);
        self.anchor_count += 1;
    }

    fn attach(&mut self, node: Node, anchor: usize) -> Result<(), FormatError> {
        if anchor > 0 {
            self.record_anchor(anchor, node.clone());
        }
        let Some(top) = self.stack.last_mut() else {
            self.root = Some(node);
            return Ok(());
        };
        match top {
            Frame::Map { map, pending_key, deferred, for_value, keys, .. } => {
                // Comments between a key and a scalar value stay in this map, before the entry.
                map.items.extend(for_value.drain(..).map(MapItem::Comment));
                let Some(k) = pending_key.take() else {
                    let pos = node.pos();
                    let msg = if matches!(node, Node::Alias(_)) {
                        "an alias used as a mapping key is not supported (sops cannot keep it either)"
                    } else {
                        "complex mapping keys (a collection used as a key) are not supported"
                    };
                    return Err(FormatError::Unsupported { pos, msg: msg.into() });
                };
                // Merge keys (`<<`) may repeat; any other key twice is an error for go-yaml v3
                // (sops 3.10+), and readers would disagree on which value counts.
                if k.key != "<<" && !keys.insert(crate::hash::hash_bytes(k.key.as_bytes())) {
                    return Err(FormatError::Yaml {
                        pos: k.pos,
                        msg: format!(
                            "mapping key \"{}\" already defined (duplicate keys are refused, as sops does)",
                            k.key
                        ),
                    });
                }
                map.items.push(MapItem::Entry(Entry {
                    key: k.key,
                    key_is_string: k.is_string,
                    key_span: k.span,
                    key_pos: k.pos,
                    value: node,
                }));
                map.items.extend(deferred.drain(..).map(MapItem::Comment));
            }
            Frame::Seq { seq, deferred, .. } => {
                seq.items.push(SeqItem::Value(node));
                seq.items.extend(deferred.drain(..).map(SeqItem::Comment));
            }
        }
        Ok(())
    }
}

/// End offset of a node's text.
pub fn node_end(node: &Node) -> usize {
    match node {
        Node::Map(m) => m.span.end,
        Node::Seq(s) => s.span.end,
        Node::Scalar(s) => s.span.end.max(s.header.as_ref().map(|h| h.end).unwrap_or(0)),
        Node::Alias(a) => a.span.end,
    }
}

fn item_end(i: &MapItem) -> usize {
    match i {
        MapItem::Entry(e) => node_end(&e.value).max(e.key_span.end),
        MapItem::Comment(c) => c.span.end,
    }
}

impl Map {
    fn items_end(&self) -> usize {
        self.items.iter().map(item_end).max().unwrap_or(0)
    }
}

impl Seq {
    fn items_end(&self) -> usize {
        self.items
            .iter()
            .map(|i| match i {
                SeqItem::Value(v) => node_end(v),
                SeqItem::Comment(c) => c.span.end,
            })
            .max()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Root keys `k0..kN` as the threaded pipeline hands them over.
    fn piped_keys(src: &str, stop_at: Option<usize>) -> Result<Vec<String>, FormatError> {
        let mut keys = Vec::new();
        pipeline(src, true, |chunk: &mut Chunk| {
            // A finished document keeps the root items not handed out before.
            let items = match &chunk.pulled {
                Pulled::Items(items) => items,
                Pulled::Document(d) => &d.root.as_map().expect("a root mapping").items,
            };
            for i in items {
                if let MapItem::Entry(e) = i {
                    keys.push(e.key.clone());
                    if stop_at == Some(keys.len()) {
                        return Err(FormatError::TooDeep { pos: Position { line: 0, col: 0 }, max: 0 });
                    }
                }
            }
            Ok(())
        })?;
        Ok(keys)
    }

    #[test]
    fn threaded_pipeline_hands_over_every_item_and_stops_on_a_consumer_error() {
        let src: String = (0..20_000).map(|i| format!("k{i}: {}\n", "v".repeat(40))).collect();
        let keys = piped_keys(&src, None).unwrap();
        assert_eq!(keys.len(), 20_000);
        assert!(keys.iter().enumerate().all(|(i, k)| *k == format!("k{i}")));
        // A consumer that fails part-way ends both threads (spent chunks and all) with its error.
        assert!(matches!(piped_keys(&src, Some(5_000)), Err(FormatError::TooDeep { .. })));
        // A parse error part-way is returned after the items before it.
        let bad = format!("{}x: [unclosed\n{}", &src[..src.len() / 2], &src[src.len() / 2..]);
        assert!(matches!(piped_keys(&bad, None), Err(FormatError::Yaml { .. })));
    }

    #[test]
    fn block_scalar_ranges_cover_header_and_body() {
        let src = "a: |  # note\n  one\n  two\n\nb: >-\n  x\n";
        let docs = parse(src).unwrap();
        let m = docs[0].root.as_map().unwrap();
        let a = m.get("a").unwrap().as_scalar().unwrap();
        assert_eq!(&src[a.header.clone().unwrap()], "|");
        assert_eq!(&src[a.span.clone()], "  one\n  two");
        let b = m.get("b").unwrap().as_scalar().unwrap();
        assert_eq!(&src[b.header.clone().unwrap()], ">-");
        assert_eq!(&src[b.span.clone()], "  x");
        // The header comment is an item of the root map.
        assert!(m.items.iter().any(|i| matches!(i, MapItem::Comment(c) if c.text == " note")));
    }

    #[test]
    fn comments_go_to_the_collection_at_their_indentation() {
        let src = "app:\n  a: 1\n  # inner\n# outer\nb: 2\n";
        let docs = parse(src).unwrap();
        let root = docs[0].root.as_map().unwrap();
        let app = root.get("app").unwrap().as_map().unwrap();
        assert!(app.items.iter().any(|i| matches!(i, MapItem::Comment(c) if c.text == " inner")));
        assert!(root.items.iter().any(|i| matches!(i, MapItem::Comment(c) if c.text == " outer")));
    }

    #[test]
    fn append_point_is_before_document_end_marker() {
        let src = "a: 1\n...\n---\nb: 2";
        let docs = parse(src).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(&src[docs[0].append_at..docs[0].append_at + 3], "...");
        assert_eq!(docs[1].append_at, src.len());
    }
}
