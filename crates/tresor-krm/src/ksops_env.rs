//! ksops' reading of `envs:` files: the decrypted text goes through godotenv, which,
//! unlike kustomize's own env files, strips quotes, an `export ` prefix and inline
//! comments. The same file must give the same Secret under tresor, so ksops configs read it
//! the same way. godotenv also expands `$VAR` references; tresor refuses such values
//! rather than guess (a password holding `$` would silently change).

/// `(key, value)` pairs as godotenv returns them, or an error naming the line (never its
/// text, which holds secrets).
pub fn parse(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (i, raw) in text.split('\n').enumerate() {
        let n = i + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw).trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").map(str::trim_start).unwrap_or(line);
        let sep = line.find(['=', ':']).ok_or_else(|| format!("line {n}: expected KEY=VALUE"))?;
        let key = line[..sep].trim();
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(format!("line {n}: the key is empty or holds a space"));
        }
        let rest = line[sep + 1..].trim_start();
        let value = if let Some(body) = rest.strip_prefix('\'') {
            let end = body.find('\'').ok_or_else(|| {
                format!(
                    "line {n}: a single-quoted value does not end on its line (multi-line values are not supported)"
                )
            })?;
            body[..end].to_string()
        } else if let Some(body) = rest.strip_prefix('"') {
            let mut v = String::new();
            let mut chars = body.chars();
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '"' => {
                        closed = true;
                        break;
                    }
                    '\\' => match chars.next() {
                        Some('n') => v.push('\n'),
                        Some('r') => v.push('\r'),
                        Some(o) => v.push(o),
                        None => break,
                    },
                    '$' => return Err(dollar(n)),
                    c => v.push(c),
                }
            }
            if !closed {
                return Err(format!(
                    "line {n}: a double-quoted value does not end on its line (multi-line values are not supported)"
                ));
            }
            v
        } else {
            // An unquoted value ends at ` #` (an inline comment).
            let v = match rest.find(" #") {
                Some(i) => &rest[..i],
                None => rest,
            };
            if v.contains('$') {
                return Err(dollar(n));
            }
            v.trim_end().to_string()
        };
        match out.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value,
            None => out.push((key.to_string(), value)),
        }
    }
    Ok(out)
}

fn dollar(n: usize) -> String {
    format!(
        "line {n}: the value holds `$`, which ksops (godotenv) expands as a variable reference; \
         single-quote the value to keep it as written"
    )
}

#[cfg(test)]
mod tests {
    use super::parse;

    fn kv(text: &str) -> Vec<(String, String)> {
        parse(text).unwrap()
    }

    #[test]
    fn reads_as_godotenv_does() {
        let got = kv("# c\nA=1\nexport B = two words \nC=\"quoted \\\"x\\\"\\nnext\"\nD='single $kept'\nE=plain # comment\nF=\r\nA=again\n");
        let want = [
            ("A", "again"),
            ("B", "two words"),
            ("C", "quoted \"x\"\nnext"),
            ("D", "single $kept"),
            ("E", "plain"),
            ("F", ""),
        ];
        assert_eq!(got, want.map(|(k, v)| (k.to_string(), v.to_string())));
    }

    #[test]
    fn refuses_what_it_would_read_differently_naming_the_line_only() {
        for (text, line) in [("A=1\nB=pa$$word\n", 2), ("X=\"open\n", 1), ("Y=\"$HOME\"\n", 1), ("just text\n", 1)] {
            let e = parse(text).unwrap_err();
            assert!(e.starts_with(&format!("line {line}:")), "{e}");
            assert!(!e.contains("word") && !e.contains("HOME") && !e.contains("open"), "{e}");
        }
    }
}
