//! X-Ray's rule patterns: `*` is any run of characters, `?` exactly one,
//! anything else itself, ignoring case (as the X-Ray SDKs and ADOT match).

/// Whether `text` matches `pattern` as a whole.
pub(super) fn matches(pattern: &str, text: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    // Host names, methods and paths are ASCII: no allocation on the request path.
    if pattern.is_ascii() && text.is_ascii() {
        return glob(
            pattern.as_bytes(),
            text.as_bytes(),
            u8::eq_ignore_ascii_case,
        );
    }
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    glob(&p, &t, |a, b| {
        a == b || a.to_lowercase().eq(b.to_lowercase())
    })
}

/// Greedy with one backtrack point, the last `*` seen: linear in practice,
/// never exponential.
fn glob<T: Copy + From<u8> + PartialEq>(p: &[T], t: &[T], same: impl Fn(&T, &T) -> bool) -> bool {
    let (star, any) = (T::from(b'*'), T::from(b'?'));
    let (mut pi, mut ti) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some(c) if *c == star => {
                backtrack = Some((pi, ti));
                pi += 1;
            }
            Some(c) if *c == any || same(c, &t[ti]) => {
                pi += 1;
                ti += 1;
            }
            _ => match backtrack {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    backtrack = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|c| *c == star)
}

#[cfg(test)]
mod tests {
    use super::matches;

    /// The cases of opentelemetry-go-contrib samplers/aws/xray/internal/match_test.go
    /// (TestWildCardMatchPositive, TestWildCardMatchNegative, TestLongStrings),
    /// one moved as noted.
    #[test]
    fn matches_as_the_go_contrib_sampler_does() {
        let positive = [
            ("*", ""),
            ("foo", "foo"),
            ("foo*bar*?", "foodbaris"),
            ("?o?", "foo"),
            ("*oo", "foo"),
            ("foo*", "foo"),
            ("*o?", "foo"),
            ("*", "boo"),
            ("", ""),
            ("a", "a"),
            ("*a", "a"),
            ("*a", "ba"),
            ("a*", "a"),
            ("a*", "ab"),
            ("a*a", "aa"),
            ("a*a", "aba"),
            ("a*a*", "aaaaaaaaaaaaaaaaaaaaaaa"),
            (
                "a*b*a*b*a*b*a*b*a*",
                "akljd9gsdfbkjhaabajkhbbyiaahkjbjhbuykjakjhabkjhbabjhkaabbabbaaakljdfsjklababkjbsdabab",
            ),
            ("***a", "a"),
            ("**a**", "a"),
            ("a**b", "ab"),
            ("*?", "a"),
            ("*??", "aa"),
            ("*?*a*", "ba"),
            ("?at", "bat"),
            ("?at", "cat"),
            ("?o?se", "horse"),
            ("?o?se", "mouse"),
            ("J*", "Jeep"),
            ("J*", "jeep"),
            ("*/foo", "/bar/foo"),
        ];
        for (pattern, text) in positive {
            assert!(matches(pattern, text), "{pattern:?} should match {text:?}");
        }
        let negative = [
            ("", "whatever"),
            ("foo", "bar"),
            ("f?o", "boo"),
            ("f??", "boo"),
            ("fo*", "boo"),
            ("f?*", "boo"),
            ("abcd", "abc"),
            ("??", "a"),
            ("*?*a", "a"),
            // Listed as matches there, where the regular expression is not
            // anchored at the end; the Java sampler, anchored as here,
            // rejects them.
            ("a*na*ha", "anananahahanahana"),
            ("*s", "horse"),
        ];
        for (pattern, text) in negative {
            assert!(
                !matches(pattern, text),
                "{pattern:?} should not match {text:?}"
            );
        }
        let long: String = std::iter::once('a')
            .chain((0..8192).map(|i| ['a', 'b', 'c', 'd'][(i * 7 + i / 3) % 4]))
            .chain(std::iter::once('b'))
            .collect();
        assert!(matches("a*b", &long));
    }

    #[test]
    fn a_question_mark_is_one_character_not_one_byte() {
        assert!(matches("caf?", "café"));
        assert!(!matches("caf??", "café"));
    }
}
