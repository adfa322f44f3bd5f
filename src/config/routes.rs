//! What the example routes need: the users store's simulated latency and
//! the upstream `/api/external` calls.

use std::time::Duration;

use super::{reader::Reader, vars::*};

#[derive(Clone, Debug)]
pub struct Routes {
    /// Simulated lookup time of the in-process users store.
    pub users_latency: Duration,
    pub external_url: String,
    pub external_timeout: Duration,
}

impl Routes {
    pub(super) fn read(r: &mut Reader<'_>) -> Self {
        Routes {
            users_latency: r.millis(USERS_LATENCY_MS, 100, 60_000),
            external_url: r.url(EXTERNAL_URL, "https://httpbin.org/delay/1"),
            external_timeout: r.nonzero_millis(EXTERNAL_TIMEOUT_MS, 3000, 600_000),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;

    #[test]
    fn defaults_match_the_documented_table() {
        let c = parse(&[]).unwrap().routes;
        assert_eq!(c.users_latency, Duration::from_millis(100));
        assert_eq!(c.external_url, "https://httpbin.org/delay/1");
        assert_eq!(c.external_timeout, Duration::from_millis(3000));
    }

    #[test]
    fn a_zero_latency_is_allowed() {
        let c = parse(&[("USERS_LATENCY_MS", "0")]).unwrap().routes;
        assert!(c.users_latency.is_zero());
        assert!(parse(&[("EXTERNAL_TIMEOUT_MS", "0")]).is_err());
    }
}
