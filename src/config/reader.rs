//! Reads one variable at a time, collecting every problem instead of
//! stopping at the first, so one start-up attempt reports them all.

use std::{fmt, time::Duration};

use super::InvalidVar;

pub(super) struct Reader<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    pub(super) errors: Vec<InvalidVar>,
}

impl<'a> Reader<'a> {
    pub(super) fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Reader {
            lookup,
            errors: Vec::new(),
        }
    }

    /// The trimmed value, `None` when unset or empty (an empty variable means "default").
    pub(super) fn get(&self, var: &str) -> Option<String> {
        (self.lookup)(var)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    pub(super) fn fail(&mut self, var: &'static str, problem: impl Into<String>) {
        self.errors.push(InvalidVar {
            var,
            problem: problem.into(),
        });
    }

    pub(super) fn choice<T: Copy>(
        &mut self,
        var: &'static str,
        default: T,
        options: &[(&str, T)],
    ) -> T {
        let Some(raw) = self.get(var) else {
            return default;
        };
        if let Some((_, value)) = options.iter().find(|(name, _)| *name == raw) {
            return *value;
        }
        let valid: Vec<&str> = options.iter().map(|(name, _)| *name).collect();
        self.fail(var, format!("'{raw}' is not one of {}", valid.join(", ")));
        default
    }

    pub(super) fn number<T>(&mut self, var: &'static str, default: T, min: T, max: T) -> T
    where
        T: std::str::FromStr + PartialOrd + fmt::Display + Copy,
    {
        let Some(raw) = self.get(var) else {
            return default;
        };
        match raw.parse::<T>() {
            Ok(v) if v >= min && v <= max => v,
            _ => {
                self.fail(
                    var,
                    format!("'{raw}' is not an integer from {min} to {max}"),
                );
                default
            }
        }
    }

    pub(super) fn millis(&mut self, var: &'static str, default: u64, max: u64) -> Duration {
        Duration::from_millis(self.number(var, default, 0, max))
    }

    /// Milliseconds where zero would make no sense (a timer that never waits).
    pub(super) fn nonzero_millis(&mut self, var: &'static str, default: u64, max: u64) -> Duration {
        let value = self.millis(var, default, max);
        if value.is_zero() {
            self.fail(var, "must be at least 1");
        }
        value
    }

    pub(super) fn url(&mut self, var: &'static str, default: &str) -> String {
        let value = self.get(var).unwrap_or_else(|| default.to_owned());
        match value.parse::<http::Uri>() {
            // The client and its spans parse it as a WHATWG URL too.
            Ok(uri)
                if matches!(uri.scheme_str(), Some("http" | "https"))
                    && uri.host().is_some()
                    && reqwest::Url::parse(&value).is_ok_and(|u| u.host_str().is_some()) =>
            {
                value
            }
            _ => {
                self.fail(var, format!("'{value}' is not an http:// or https:// URL"));
                default.to_owned()
            }
        }
    }
}
