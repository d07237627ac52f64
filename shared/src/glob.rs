//! Tag patterns: exact names and globs with `*` (any run of characters) and `?` (one character).

/// True when `text` matches `pattern`; `*` matches any run of characters, `?` exactly one.
pub fn matches(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    // Classic linear-time wildcard match with backtracking to the last `*`.
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((star_p, star_t)) = star {
            p = star_p + 1;
            t = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn exact_names_match_only_themselves() {
        assert!(matches("latest", "latest"));
        assert!(!matches("latest", "latest2"));
        assert!(!matches("latest", "late"));
    }

    #[test]
    fn star_matches_any_run_including_empty() {
        assert!(matches("release-*", "release-42"));
        assert!(matches("release-*", "release-"));
        assert!(!matches("release-*", "rc-42"));
        assert!(matches("*-prod", "v1-prod"));
        assert!(matches("v*.*", "v1.2"));
        assert!(!matches("v*.*", "v12"));
        assert!(matches("*", ""));
    }

    #[test]
    fn question_mark_matches_one_character() {
        assert!(matches("v?", "v1"));
        assert!(!matches("v?", "v10"));
        assert!(!matches("v?", "v"));
    }
}
