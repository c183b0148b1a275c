//! The default path policy for vendored and generated trees: findings there are still
//! reported (a real key in `vendor/` is as leaked as anywhere), but tagged `vendored` and
//! listed apart, so that a repository's own leaks are not lost in copies of other people's
//! test fixtures.

use std::sync::OnceLock;

use crate::finding::Finding;

/// The tag findings in vendored or generated trees carry.
pub const TAG: &str = "vendored";

fn policy() -> &'static regex::Regex {
    static RE: OnceLock<regex::Regex> = OnceLock::new();
    RE.get_or_init(|| {
        regex::Regex::new(
            r"(?:^|/)(?:vendor|third_party|third-party|node_modules|bower_components|Pods|Carthage|\.yarn|\.bundle|site-packages|dist-packages)/|(?:\.min\.js|\.pb\.go|_generated\.go|\.generated\.\w+)$",
        )
        .expect("valid policy")
    })
}

/// Is `path` in a vendored or generated tree?
pub fn is_vendored(path: &str) -> bool {
    policy().is_match(path)
}

/// Does the finding carry the `vendored` tag?
pub fn is_tagged(f: &Finding) -> bool {
    f.tags.iter().any(|t| t == TAG)
}

/// Tag the findings in vendored or generated trees and move them after the others
/// (keeping each group's order).
pub fn tag(findings: &mut [Finding]) {
    for f in findings.iter_mut() {
        if is_vendored(&f.file) && !is_tagged(f) {
            f.tags.push(TAG.to_string());
        }
    }
    findings.sort_by_key(is_tagged);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendored_and_generated_paths() {
        for p in [
            "vendor/github.com/x/y.go",
            "web/node_modules/a/b.js",
            "a/third_party/z.c",
            "api/v1/x.pb.go",
            "static/app.min.js",
        ] {
            assert!(is_vendored(p), "{p}");
        }
        for p in ["src/vendors.go", "cmd/vendor.go", "deploy/values.yaml", "vendorized/x"] {
            assert!(!is_vendored(p), "{p}");
        }
    }
}
