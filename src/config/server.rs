//! The HTTP server's settings: where it listens and how long it waits.

use std::time::Duration;

use super::{reader::Reader, vars::*};

#[derive(Clone, Debug)]
pub struct Server {
    pub port: u16,
    /// From SIGTERM to the exit: the drain and the telemetry flushes.
    pub shutdown_timeout: Duration,
    pub request_timeout: Duration,
    pub max_body_bytes: usize,
    pub header_read_timeout: Duration,
    /// How long a keep-alive connection may wait for its next request; above
    /// the ALB's idle timeout (60 s), so the ALB always closes first.
    pub idle_timeout: Duration,
    /// Requests served at once before more are refused with 503.
    pub max_in_flight_requests: usize,
}

impl Server {
    pub(super) fn read(r: &mut Reader<'_>) -> Self {
        Server {
            port: r.number(PORT, 8080u16, 0, u16::MAX),
            // At most ECS's largest stopTimeout.
            shutdown_timeout: Duration::from_secs(r.number(SHUTDOWN_TIMEOUT_SECS, 25u64, 1, 120)),
            request_timeout: Duration::from_secs(r.number(REQUEST_TIMEOUT_SECS, 15u64, 1, 3600)),
            max_body_bytes: r.number(MAX_BODY_BYTES, 1_048_576usize, 0, 1 << 30),
            header_read_timeout: r.nonzero_millis(HEADER_READ_TIMEOUT_MS, 10_000, 600_000),
            idle_timeout: Duration::from_secs(r.number(IDLE_TIMEOUT_SECS, 75u64, 1, 4000)),
            max_in_flight_requests: r.number(MAX_IN_FLIGHT_REQUESTS, 1024usize, 1, 65_535),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;

    #[test]
    fn defaults_match_the_documented_table() {
        let s = parse(&[]).unwrap().server;
        assert_eq!(s.port, 8080);
        assert_eq!(s.shutdown_timeout, Duration::from_secs(25));
        assert_eq!(s.request_timeout, Duration::from_secs(15));
        assert_eq!(s.max_body_bytes, 1_048_576);
        assert_eq!(s.header_read_timeout, Duration::from_secs(10));
        assert_eq!(s.idle_timeout, Duration::from_secs(75));
        assert_eq!(s.max_in_flight_requests, 1024);
    }

    #[test]
    fn timeouts_are_never_zero() {
        for var in [
            SHUTDOWN_TIMEOUT_SECS,
            REQUEST_TIMEOUT_SECS,
            HEADER_READ_TIMEOUT_MS,
            IDLE_TIMEOUT_SECS,
        ] {
            let err = parse(&[(var, "0")]).unwrap_err();
            assert_eq!(err.0[0].var, var);
        }
    }
}
