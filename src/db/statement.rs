//! What a span may say about a SQL statement: its operation, its main table
//! and its text with any literal value replaced by `?`.
//!
//! Statements are written with placeholders (`$1`), so the text is already
//! free of values; the sanitizer is the safety net for a literal written
//! into the SQL by hand, which must never reach a span.

/// The facts of one statement, worked out once per call.
#[derive(Debug, PartialEq, Eq)]
pub struct Statement {
    /// `SELECT`, `INSERT`...: the first keyword, upper-case.
    pub operation: String,
    /// The table after `FROM`, `INTO` or `UPDATE`, when there is one.
    pub collection: Option<String>,
    /// The text with string and number literals replaced by `?`.
    pub text: String,
}

impl Statement {
    pub fn parse(sql: &str) -> Self {
        let words: Vec<&str> = sql.split_whitespace().collect();
        let operation = words
            .first()
            .map(|w| w.trim_end_matches(';').to_ascii_uppercase())
            .unwrap_or_default();
        let collection = words
            .windows(2)
            .find(|pair| {
                ["FROM", "INTO", "UPDATE"]
                    .iter()
                    .any(|k| pair[0].eq_ignore_ascii_case(k))
            })
            .map(|pair| {
                let name = pair[1].split(['(', ';', ',']).next().unwrap_or_default();
                name.trim_matches('"').to_owned()
            })
            .filter(|name| !name.is_empty());
        Self {
            operation,
            collection,
            text: sanitize(sql),
        }
    }

    /// The span name semconv asks for: `{operation} {collection}`.
    pub fn span_name(&self) -> String {
        match &self.collection {
            Some(collection) => format!("{} {collection}", self.operation),
            None => self.operation.clone(),
        }
    }
}

/// Replaces quoted strings and numbers that are not part of a name or a
/// placeholder (`$1`, `?2`) with `?`; whitespace runs become one space.
fn sanitize(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    let mut previous = ' ';
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                // A string literal; '' inside it is an escaped quote.
                while let Some(inner) = chars.next() {
                    if inner == '\'' {
                        if chars.peek() == Some(&'\'') {
                            chars.next();
                        } else {
                            break;
                        }
                    }
                }
                out.push('?');
            }
            c if c.is_ascii_digit()
                && !(previous.is_alphanumeric() || "_$?".contains(previous)) =>
            {
                while chars
                    .peek()
                    .is_some_and(|n| n.is_ascii_digit() || *n == '.')
                {
                    chars.next();
                }
                out.push('?');
            }
            c if c.is_whitespace() => {
                if !out.ends_with(' ') && !out.is_empty() {
                    out.push(' ');
                }
            }
            c => out.push(c),
        }
        previous = c;
    }
    out.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_operation_and_the_table() {
        let s = Statement::parse("select id, name\n  from users where id = $1");
        assert_eq!(s.operation, "SELECT");
        assert_eq!(s.collection.as_deref(), Some("users"));
        assert_eq!(s.span_name(), "SELECT users");
        assert_eq!(s.text, "select id, name from users where id = $1");
        let s = Statement::parse("INSERT INTO orders(id) VALUES ($1)");
        assert_eq!(s.span_name(), "INSERT orders");
        assert_eq!(
            Statement::parse("UPDATE t SET a = $1").span_name(),
            "UPDATE t"
        );
        assert_eq!(Statement::parse("SELECT 1").span_name(), "SELECT");
    }

    #[test]
    fn literal_values_never_reach_the_text() {
        let s = Statement::parse(
            "SELECT * FROM users WHERE name = 'O''Brien' AND age > 42.5 AND id = ?1 AND t2.c3 = $2 LIMIT 10",
        );
        assert_eq!(
            s.text,
            "SELECT * FROM users WHERE name = ? AND age > ? AND id = ?1 AND t2.c3 = $2 LIMIT ?"
        );
    }
}
