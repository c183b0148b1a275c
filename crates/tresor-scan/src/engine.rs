//! Keyword-gated regex detection over one fragment (a file or a blob).

use std::ops::Range;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};

use crate::finding::{redact, secret_hash, shannon, Confidence, Finding};
use crate::rules::{Allowlist, RuleSet};

/// The tag of a finding whose token fails its provider's checksum.
pub const CHECKSUM_MISMATCH: &str = "checksum-mismatch";

/// The detection engine: the rules, and the keyword automaton that selects them per fragment.
pub struct Engine {
    /// The rules it runs.
    pub rules: RuleSet,
    keywords: Option<AhoCorasick>,
    /// keyword index → rules that list it
    keyword_rules: Vec<Vec<usize>>,
    /// rules without keywords run on every fragment
    always: Vec<usize>,
    /// rule id → index in `rules.rules` (a history scan looks rules up per relocation)
    by_id: std::collections::HashMap<String, usize>,
}

/// Markers that suppress a finding on their line (gitleaks' and ours).
pub const ALLOW_MARKERS: [&str; 3] = ["tresor:allow", "gitleaks:allow", "betterleaks:allow"];

/// Start of the line holding byte `at`.
fn line_start(content: &[u8], at: usize) -> usize {
    memchr::memrchr(b'\n', &content[..at.min(content.len())]).map_or(0, |i| i + 1)
}

/// End of the line holding byte `at` (its newline, or the end of the content).
fn line_end(content: &[u8], at: usize) -> usize {
    let at = at.min(content.len());
    memchr::memchr(b'\n', &content[at..]).map_or(content.len(), |i| at + i)
}

/// The line holding byte `at`, without its newline.
fn line_at(content: &[u8], at: usize) -> &[u8] {
    &content[line_start(content, at)..line_end(content, at)]
}

/// Does the line carry `tresor:allow`, `gitleaks:allow` or `betterleaks:allow`?
pub(crate) fn has_allow_marker(line: &[u8]) -> bool {
    // Built once: a history scan asks this for every secret a version still holds.
    static FINDERS: std::sync::OnceLock<Vec<memchr::memmem::Finder<'static>>> = std::sync::OnceLock::new();
    FINDERS
        .get_or_init(|| ALLOW_MARKERS.iter().map(|m| memchr::memmem::Finder::new(m.as_bytes())).collect())
        .iter()
        .any(|f| f.find(line).is_some())
}

fn is_binary(content: &[u8]) -> bool {
    memchr::memchr(0, &content[..content.len().min(8192)]).is_some()
}

/// Byte offset → (line, column), both 1-based. The line table is built on first use, so
/// every finding in one content is located by a binary search, not a new scan of the text.
/// Its buffer goes back to a per-thread pool when dropped: a history scan builds one per
/// version of every file that holds a secret, and allocating each afresh was a tenth of it.
#[derive(Default)]
pub struct LineIndex {
    starts: Vec<usize>,
    built: bool,
}

thread_local! {
    static LINE_BUFFERS: std::cell::RefCell<Vec<Vec<usize>>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl LineIndex {
    /// 1-based (line, column) of byte `at`.
    pub fn locate(&mut self, content: &[u8], at: usize) -> (usize, usize) {
        if !self.built {
            if self.starts.capacity() == 0 {
                self.starts = LINE_BUFFERS.with(|b| b.borrow_mut().pop()).unwrap_or_default();
            }
            self.starts.clear();
            self.starts.push(0);
            self.starts.extend(memchr::memchr_iter(b'\n', content).map(|i| i + 1));
            self.built = true;
        }
        let lno = self.starts.partition_point(|&st| st <= at);
        (lno, at - self.starts[lno - 1] + 1)
    }
}

impl Drop for LineIndex {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.starts);
        // Keep a few modest buffers; a huge file's table is freed.
        if buf.capacity() > 0 && buf.capacity() <= 1 << 20 {
            let _ = LINE_BUFFERS.try_with(|b| {
                let mut b = b.borrow_mut();
                if b.len() < 4 {
                    b.push(buf);
                }
            });
        }
    }
}

/// What the allowlists say about a match: dropped, or reported at a lower confidence.
enum Verdict {
    Report,
    Drop,
    Demote(Confidence),
}

fn judge(lists: &[&[Allowlist]], path: &str, secret: &[u8], whole: &[u8], line: &[u8]) -> Verdict {
    let mut verdict = Verdict::Report;
    for a in lists.iter().flat_map(|l| l.iter()) {
        if a.covers(path) {
            return Verdict::Drop;
        }
        if a.matches(secret, whole, line) {
            match a.demote_to {
                None => return Verdict::Drop,
                Some(c) => verdict = Verdict::Demote(c),
            }
        }
    }
    verdict
}

/// A value no provider issues, whatever its shape: a repeating run (one character, or a
/// pattern of up to four: `aaaa…`, `123123…`) over half of it and 12 characters, a run of six
/// ascending characters (`abcdef`, `123456`; eight in hex), at most three distinct characters
/// over sixteen or more, letters and digits that each count up through the alphabet
/// (`a1b2c3d4…`, `AbCdEfGh…`, `ABC123DEF456…`), or a word that says it is not real
/// (`…TokenHere`, `your_…`, `-fake-`, `placeholder`). Placeholders and documentation fakes look
/// like this; random tokens do not (`random_tokens_are_never_placeholder_like`).
pub fn looks_degenerate(secret: &[u8]) -> bool {
    // Judged on the longest alphanumeric run: a prefix (`AIK_SECRET_…`, `sk_test_…`) is the
    // provider's, the body is what someone made up.
    let body = secret.split(|b| !b.is_ascii_alphanumeric()).max_by_key(|s| s.len()).unwrap_or(secret);
    if counts_up(body) || says_placeholder(secret) {
        return true;
    }
    // Six ascending characters; eight in a value of hex digits only, where a random token
    // of 40 holds a run of six (`345678`, `abcdef`) about once in 30,000.
    let run = if secret.iter().all(u8::is_ascii_hexdigit) { 8 } else { 6 };
    let mut ascending = 1usize;
    for w in secret.windows(2) {
        ascending = if w[1].is_ascii_alphanumeric() && w[0].wrapping_add(1) == w[1] { ascending + 1 } else { 1 };
        if ascending >= run {
            return true;
        }
    }
    for period in 1..=4usize {
        let mut run = 0usize;
        for i in period..secret.len() {
            run = if secret[i] == secret[i - period] { run + 1 } else { 0 };
            // Over half of the value and at least 12 characters: a 16-character random
            // token repeats 4 characters once (`69fc69fc`) about once in 10,000.
            if run >= period && (run + period) * 2 >= secret.len() && run + period >= 12 {
                return true;
            }
        }
    }
    let mut seen = [false; 256];
    secret.iter().for_each(|&b| seen[b as usize] = true);
    secret.len() >= 16 && seen.iter().filter(|&&s| s).count() <= 3
}

/// Do the value's letters (case folded) and, separately, its digits mostly repeat or count
/// up by one (`a1b2c3…`: letters a→b→c, digits 1→2→3)? Over at least 16 letters and digits,
/// three quarters of the steps: a random token of any alphabet makes such a step about one
/// time in five at most (hex digits), so it never gets near.
fn counts_up(secret: &[u8]) -> bool {
    let (mut steps, mut sequential) = (0usize, 0usize);
    let (mut last_letter, mut last_digit): (Option<u8>, Option<u8>) = (None, None);
    for &b in secret {
        let (last, next, wrap) = if b.is_ascii_alphabetic() {
            (&mut last_letter, b.to_ascii_lowercase(), (b'z', b'a'))
        } else if b.is_ascii_digit() {
            (&mut last_digit, b, (b'9', b'0'))
        } else {
            continue;
        };
        if let Some(prev) = *last {
            steps += 1;
            if next == prev || next == prev + 1 || (prev == wrap.0 && next == wrap.1) {
                sequential += 1;
            }
        }
        *last = Some(next);
    }
    steps + 2 >= 16 && sequential * 4 >= steps * 3
}

/// Words people put in a value to say it is not a real one.
fn says_placeholder(secret: &[u8]) -> bool {
    // Five characters or more, or a separator: four random letters spell `fake` somewhere
    // in one of every 20,000 random 64-character tokens.
    const WORDS: [&str; 13] = [
        "tokenhere",
        "keyhere",
        "secrethere",
        "yourtoken",
        "your_",
        "your-",
        "placeholder",
        "changeme",
        "notreal",
        "fake_",
        "_fake",
        "fake-",
        "-fake",
    ];
    let lower = secret.to_ascii_lowercase();
    WORDS.iter().any(|w| memchr::memmem::find(&lower, w.as_bytes()).is_some())
}

/// The tag of a finding whose value looks like a placeholder ([`looks_degenerate`]).
pub const PLACEHOLDER_LIKE: &str = "placeholder-like";

impl Engine {
    /// An engine for `rules` (builds the keyword automaton).
    pub fn new(rules: RuleSet) -> Engine {
        let mut words: Vec<String> = Vec::new();
        let mut keyword_rules: Vec<Vec<usize>> = Vec::new();
        let mut always = Vec::new();
        for (i, r) in rules.rules.iter().enumerate() {
            if r.keywords.is_empty() {
                always.push(i);
            }
            for k in &r.keywords {
                match words.iter().position(|w| w == k) {
                    Some(j) => keyword_rules[j].push(i),
                    None => {
                        words.push(k.clone());
                        keyword_rules.push(vec![i]);
                    }
                }
            }
        }
        let keywords = (!words.is_empty()).then(|| {
            AhoCorasickBuilder::new()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::Standard)
                // A full DFA: a few hundred keywords make a small one, and overlapping
                // search (every keyword, to pick every rule) is the scan's hot loop.
                .kind(Some(AhoCorasickKind::DFA))
                .build(&words)
                .expect("keywords")
        });
        let by_id = rules.rules.iter().enumerate().map(|(i, r)| (r.id.clone(), i)).collect();
        Engine { rules, keywords, keyword_rules, always, by_id }
    }

    /// Is this path excluded by a global allowlist?
    pub fn path_allowed(&self, path: &str) -> bool {
        self.rules.allowlists.iter().any(|a| a.covers(path))
    }

    /// Scan one fragment. Binary content (a NUL in the first 8 KiB) is only matched by
    /// path-only rules (a `.p12` keystore is a finding by its name).
    pub fn scan(&self, path: &str, content: &[u8]) -> Vec<Finding> {
        let mut out = Vec::new();
        if self.path_allowed(path) {
            return out;
        }
        if is_binary(content) {
            return self.path_only(path);
        }
        let mut lines = LineIndex::default();
        self.scan_window(path, content, 0..content.len(), &mut lines, &mut out);
        out.dedup_by(|a, b| a.rule_id == b.rule_id && a.line == b.line && a.secret_hash == b.secret_hash);
        out
    }

    /// Scan a new version of a file of which only `inserted` byte ranges are new: the rest
    /// was scanned in the version it came from. Each range is widened to whole lines plus
    /// one line either side; if a rule that can span more lines than that is triggered
    /// there, or most of the file is new anyway, the whole file is scanned. Line numbers
    /// refer to the whole content.
    pub fn scan_changed(&self, path: &str, content: &[u8], inserted: &[Range<usize>]) -> Vec<Finding> {
        if self.path_allowed(path) {
            return Vec::new();
        }
        if is_binary(content) {
            return self.path_only(path);
        }
        let mut windows: Vec<Range<usize>> = Vec::with_capacity(inserted.len());
        for r in inserted {
            let start = line_start(content, line_start(content, r.start).saturating_sub(1));
            let end = line_end(content, line_end(content, r.end.saturating_sub(1).max(r.start)) + 1);
            match windows.last_mut() {
                Some(last) if start <= last.end + 1 => last.end = last.end.max(end),
                _ => windows.push(start..end),
            }
        }
        let total: usize = windows.iter().map(|w| w.len()).sum();
        if total * 2 >= content.len() || self.always.iter().any(|&i| self.rules.rules[i].multiline) {
            return self.scan(path, content);
        }
        let mut selected = Vec::with_capacity(windows.len());
        for w in windows {
            let active = self.active_rules(&content[w.clone()]);
            if active.iter().zip(&self.rules.rules).any(|(&on, r)| on && r.multiline) {
                return self.scan(path, content);
            }
            selected.push((w, active));
        }
        let mut out = Vec::new();
        let mut lines = LineIndex::default();
        for (w, active) in selected {
            self.run_rules(path, content, w, &active, &mut lines, &mut out);
        }
        out.sort_by_cached_key(|f| f.line); // moves each (large) finding once
        out.dedup_by(|a, b| a.rule_id == b.rule_id && a.line == b.line && a.secret_hash == b.secret_hash);
        out
    }

    /// Findings of the path-only rules (no regex) whose path matches.
    fn path_only(&self, path: &str) -> Vec<Finding> {
        self.rules
            .rules
            .iter()
            .filter(|r| r.is_path_only() && r.path.as_ref().is_some_and(|p| p.is_match(path)))
            .filter(|r| !r.allowlists.iter().any(|a| a.covers(path)))
            .map(|r| self.file_finding(r, path))
            .collect()
    }

    /// A path-only rule's finding: the file itself (line 1, no secret, no span).
    fn file_finding(&self, rule: &crate::rules::Rule, path: &str) -> Finding {
        let mut f = self.finding(rule.id.clone(), &rule.description, path, 1, 1, b"", 0.0, 0..0);
        f.confidence = rule.confidence_in(path);
        f
    }

    /// What decides how a path is scanned: the global allowlist, and which path-filtered
    /// rules and path-allowlists apply. Two paths with the same profile are scanned alike,
    /// so a version deltified against another path's version only needs its changes scanned.
    pub fn path_profile(&self, path: &str) -> Vec<u32> {
        let mut p = vec![u32::from(self.path_allowed(path))];
        for (i, r) in self.rules.rules.iter().enumerate() {
            let filtered = r.path.as_ref().is_some_and(|re| re.is_match(path));
            let allowed = r.allowlists.iter().any(|a| a.covers(path));
            if filtered || allowed {
                p.push(i as u32 * 2 + u32::from(allowed));
            }
        }
        p
    }

    /// Run the rules the window's keywords select over `content[window]`.
    fn scan_window(
        &self,
        path: &str,
        content: &[u8],
        window: Range<usize>,
        lines: &mut LineIndex,
        out: &mut Vec<Finding>,
    ) {
        let active = self.active_rules(&content[window.clone()]);
        self.run_rules(path, content, window, &active, lines, out);
    }

    /// Which rules `text` selects: those without keywords, and those whose keyword occurs.
    fn active_rules(&self, text: &[u8]) -> Vec<bool> {
        let mut active = vec![false; self.rules.rules.len()];
        for &i in &self.always {
            active[i] = true;
        }
        if let Some(ac) = &self.keywords {
            for m in ac.find_overlapping_iter(text) {
                for &i in &self.keyword_rules[m.pattern().as_usize()] {
                    active[i] = true;
                }
            }
        }
        active
    }

    fn run_rules(
        &self,
        path: &str,
        content: &[u8],
        window: Range<usize>,
        active: &[bool],
        lines: &mut LineIndex,
        out: &mut Vec<Finding>,
    ) {
        let base = window.start;
        let text = &content[window];
        for (i, rule) in self.rules.rules.iter().enumerate() {
            if !active[i] {
                continue;
            }
            if let Some(p) = &rule.path {
                if !p.is_match(path) {
                    continue;
                }
            }
            let Some(re) = rule.regex() else {
                // A path-only rule: the file itself is the finding.
                if rule.is_path_only() && rule.path.is_some() && base == 0 {
                    out.push(self.file_finding(rule, path));
                }
                continue;
            };
            for caps in re.captures_iter(text) {
                let whole = caps.get(0).expect("match");
                let group = if rule.secret_group > 0 {
                    caps.get(rule.secret_group)
                } else if caps.len() > 1 {
                    caps.iter().skip(1).flatten().next()
                } else {
                    None
                };
                let secret = group.unwrap_or(whole);
                let s = secret.as_bytes();
                if s.is_empty() {
                    continue;
                }
                let entropy = shannon(s);
                if rule.entropy.is_some_and(|min| entropy < min) {
                    continue;
                }
                // A token of a provider's shape whose checksum fails is truncated, hand-edited
                // or made up: still worth a look, never a blocked commit.
                let checksum_fails = rule.checksum.is_some_and(|c| !c.verify(s));
                let line = line_at(content, base + whole.start());
                if has_allow_marker(line) {
                    continue;
                }
                let verdict = judge(&[&rule.allowlists, &self.rules.allowlists], path, s, whole.as_bytes(), line);
                if matches!(verdict, Verdict::Drop) {
                    continue;
                }
                let at = base + secret.start();
                let (lno, col) = lines.locate(content, at);
                let mut f =
                    self.finding(rule.id.clone(), &rule.description, path, lno, col, s, entropy, at..at + s.len());
                f.confidence = rule.confidence_in(path);
                // What a scanner can tell without a provider's help lowers, never hides: a
                // token whose checksum fails is truncated, hand-edited or made up; a value
                // of one repeated or ascending run is a placeholder.
                if checksum_fails {
                    f.confidence = Confidence::Low;
                    f.tags.push(CHECKSUM_MISMATCH.into());
                } else if !rule.multiline && looks_degenerate(s) {
                    f.confidence = Confidence::Low;
                    f.tags.push(PLACEHOLDER_LIKE.into());
                }
                if let Verdict::Demote(c) = verdict {
                    f.confidence = f.confidence.min(c);
                }
                out.push(f);
            }
        }
    }

    /// Would `found`'s rule report it in a file at `path` (no allowlist covers the path, the
    /// rule's path filter admits it)? The same for every occurrence in one file.
    pub fn reports_at(&self, found: &Finding, path: &str) -> bool {
        let rule = self.by_id.get(&found.rule_id).map(|&i| &self.rules.rules[i]);
        !(self.path_allowed(path)
            || rule.is_some_and(|r| {
                r.path.as_ref().is_some_and(|p| !p.is_match(path)) || r.allowlists.iter().any(|a| a.covers(path))
            }))
    }

    /// The same secret, found again where a later version of a file still holds it.
    /// `None` when the line carries an allow marker or an allowlist covers `path`. `lines`
    /// is the index of `content`, shared by every relocation into it (one index per blob
    /// version, not one per finding).
    pub fn relocate(
        &self,
        found: &Finding,
        path: &str,
        content: &[u8],
        at: usize,
        lines: &mut LineIndex,
    ) -> Option<Finding> {
        if has_allow_marker(line_at(content, at)) || !self.reports_at(found, path) {
            return None;
        }
        let (line, column) = lines.locate(content, at);
        let mut f = Finding { file: path.to_string(), line, column, span: at..at + found.span.len(), ..found.clone() };
        f.refresh_fingerprint();
        Some(f)
    }

    #[allow(clippy::too_many_arguments)]
    fn finding(
        &self,
        rule_id: String,
        description: &str,
        path: &str,
        line: usize,
        column: usize,
        secret: &[u8],
        entropy: f64,
        span: Range<usize>,
    ) -> Finding {
        let text = String::from_utf8_lossy(secret);
        let mut f = Finding {
            rule_id,
            description: description.to_string(),
            file: path.to_string(),
            line,
            column,
            redacted: redact(&text),
            entropy: (entropy * 1000.0).round() / 1000.0,
            commit: String::new(),
            author: String::new(),
            date: String::new(),
            repository: String::new(),
            fix: String::new(),
            fingerprint: String::new(),
            secret_hash: secret_hash(secret),
            tags: Vec::new(),
            confidence: Confidence::Medium,
            span,
        };
        f.refresh_fingerprint();
        f
    }
}
