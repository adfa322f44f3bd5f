//! Where spans go and which are kept: the exporter, the OTLP export
//! settings, the batch span processor's sizes (`OTEL_BSP_*`) and the sampler.

use std::{net::SocketAddr, time::Duration};

pub use super::sampler::{SamplerConfig, XraySampling};
use super::{
    otlp::{self, Headers, OtlpProtocol},
    reader::Reader,
    sampler,
    vars::*,
};

#[derive(Clone, Debug)]
pub struct Traces {
    pub exporter: TracesExporter,
    /// Export spans for `/health` too.
    pub health_checks: bool,
    pub sampler: SamplerConfig,
    pub otlp: OtlpTraces,
    pub batch: SpanBatch,
    /// Where `xray-udp` sends spans: the X-Ray endpoint beside the function.
    pub xray_daemon: SocketAddr,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TracesExporter {
    Otlp,
    /// OTLP over UDP to the local X-Ray endpoint (`AWS_XRAY_DAEMON_ADDRESS`).
    XrayUdp,
    Console,
    None,
}

/// The OTLP span exporter's settings, signal-specific variables applied.
#[derive(Clone, Debug)]
pub struct OtlpTraces {
    pub protocol: OtlpProtocol,
    pub endpoint: String,
    /// Each export attempt's deadline, credentials wait included.
    pub timeout: Duration,
    pub auth: TracesAuth,
    /// Gzip every export (http/protobuf).
    pub gzip: bool,
    /// Extra headers on every export (http/protobuf), in order.
    pub headers: Headers,
}

/// How trace export requests are authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TracesAuth {
    None,
    /// Signed with SigV4 for the `xray` service in `region` (the X-Ray OTLP endpoint).
    SigV4 {
        region: String,
    },
}

/// The batch span processor's settings (`OTEL_BSP_*`).
#[derive(Clone, Debug)]
pub struct SpanBatch {
    /// Ended spans waiting for export; more are dropped (and counted).
    pub queue_size: usize,
    /// Spans per export request.
    pub batch_size: usize,
    /// The longest an ended span waits for its batch to fill.
    pub schedule_delay: Duration,
}

impl Traces {
    pub(super) fn read(r: &mut Reader<'_>, general_protocol: OtlpProtocol) -> Self {
        let exporter = r.choice(
            OTEL_TRACES_EXPORTER,
            TracesExporter::Otlp,
            &[
                ("otlp", TracesExporter::Otlp),
                ("xray-udp", TracesExporter::XrayUdp),
                ("console", TracesExporter::Console),
                ("none", TracesExporter::None),
            ],
        );
        Traces {
            exporter,
            health_checks: r.choice(
                TRACE_HEALTH_CHECKS,
                false,
                &[("true", true), ("false", false)],
            ),
            otlp: OtlpTraces::read(r, general_protocol),
            batch: SpanBatch::read(r),
            xray_daemon: read_xray_daemon(r),
            sampler: sampler::read(r),
        }
    }
}

impl OtlpTraces {
    fn read(r: &mut Reader<'_>, general_protocol: OtlpProtocol) -> Self {
        let (protocol, endpoint) = otlp::signal(
            r,
            general_protocol,
            OTEL_EXPORTER_OTLP_TRACES_PROTOCOL,
            OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
            "/v1/traces",
        );
        let general_timeout = r.millis(OTEL_EXPORTER_OTLP_TIMEOUT, 10_000, 600_000);
        let timeout = r.millis(
            OTEL_EXPORTER_OTLP_TRACES_TIMEOUT,
            general_timeout.as_millis() as u64,
            600_000,
        );
        let auth = read_auth(r, &endpoint, protocol);
        let compressions = [("gzip", true), ("none", false)];
        let general_gzip = r.choice(OTEL_EXPORTER_OTLP_COMPRESSION, false, &compressions);
        let gzip = r.choice(
            OTEL_EXPORTER_OTLP_TRACES_COMPRESSION,
            general_gzip,
            &compressions,
        );
        let headers = otlp::merged_headers(
            otlp::headers(r, OTEL_EXPORTER_OTLP_HEADERS),
            otlp::headers(r, OTEL_EXPORTER_OTLP_TRACES_HEADERS),
        );
        OtlpTraces {
            protocol,
            endpoint,
            timeout,
            auth,
            gzip,
            headers,
        }
    }
}

impl SpanBatch {
    /// The SDK's own sizes: batches of 512 from a queue of 2048.
    fn read(r: &mut Reader<'_>) -> Self {
        let queue_size = r.number(OTEL_BSP_MAX_QUEUE_SIZE, 2048, 1, 1_000_000);
        let batch_size = r.number(
            OTEL_BSP_MAX_EXPORT_BATCH_SIZE,
            512.min(queue_size),
            1,
            1_000_000,
        );
        if batch_size > queue_size {
            r.fail(
                OTEL_BSP_MAX_EXPORT_BATCH_SIZE,
                format!("{batch_size} is more than OTEL_BSP_MAX_QUEUE_SIZE ({queue_size})"),
            );
        }
        // Never zero: the batch thread would spin. OTEL_BSP_EXPORT_TIMEOUT is not
        // read: the SDK's thread-based processor ignores it, and each export is
        // bounded by OTEL_EXPORTER_OTLP_TIMEOUT.
        SpanBatch {
            queue_size,
            batch_size,
            schedule_delay: Duration::from_millis(r.number(
                OTEL_BSP_SCHEDULE_DELAY,
                5_000,
                1,
                600_000,
            )),
        }
    }
}

/// SigV4 by default for an X-Ray OTLP endpoint, with the region from its
/// host; `OTEL_EXPORTER_OTLP_TRACES_AUTH=sigv4` signs for any endpoint (a
/// local double, a proxy) with `AWS_REGION`, `none` never signs.
fn read_auth(r: &mut Reader<'_>, endpoint: &str, protocol: OtlpProtocol) -> TracesAuth {
    let xray_region = xray_endpoint_region(endpoint);
    let sign = r.choice(
        OTEL_EXPORTER_OTLP_TRACES_AUTH,
        xray_region.is_some(),
        &[("sigv4", true), ("none", false)],
    );
    if !sign {
        return TracesAuth::None;
    }
    if protocol == OtlpProtocol::Grpc {
        r.fail(
            OTEL_EXPORTER_OTLP_TRACES_AUTH,
            "sigv4 needs OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf (X-Ray takes OTLP over HTTP only)",
        );
    }
    match xray_region.or_else(|| r.get(AWS_REGION)) {
        Some(region) => TracesAuth::SigV4 { region },
        None => {
            r.fail(
                OTEL_EXPORTER_OTLP_TRACES_AUTH,
                "sigv4 for an endpoint other than https://xray.<region>.amazonaws.com/v1/traces needs AWS_REGION",
            );
            TracesAuth::None
        }
    }
}

/// The region of an X-Ray OTLP endpoint, `https://xray.<region>.amazonaws.com/v1/traces`.
pub fn xray_endpoint_region(endpoint: &str) -> Option<String> {
    let uri: http::Uri = endpoint.parse().ok()?;
    if uri.path() != "/v1/traces" {
        return None;
    }
    let host = uri.host()?;
    let rest = host.strip_prefix("xray.")?;
    let region = rest
        .strip_suffix(".amazonaws.com")
        .or_else(|| rest.strip_suffix(".amazonaws.com.cn"))?;
    let valid = !region.is_empty()
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    valid.then(|| region.to_owned())
}

#[cfg(test)]
#[path = "traces_tests.rs"]
mod tests;

/// The X-Ray daemon's address as Lambda and the X-Ray SDKs write it:
/// `host:port`, or `udp:host:port tcp:host:port` (either order). Only the UDP
/// address is used.
fn read_xray_daemon(r: &mut Reader<'_>) -> SocketAddr {
    let default = SocketAddr::from(([127, 0, 0, 1], 2000));
    let Some(raw) = r.get(AWS_XRAY_DAEMON_ADDRESS) else {
        return default;
    };
    match parse_xray_daemon(&raw) {
        Some(addr) => addr,
        None => {
            r.fail(
                AWS_XRAY_DAEMON_ADDRESS,
                format!("{raw:?} is not an IP address and port (or `udp:IP:PORT tcp:IP:PORT`)"),
            );
            default
        }
    }
}

fn parse_xray_daemon(raw: &str) -> Option<SocketAddr> {
    let parts: Vec<&str> = raw.split_whitespace().collect();
    let udp = match parts.as_slice() {
        [one] => one.strip_prefix("udp:").unwrap_or(one),
        [a, b] => [a, b].into_iter().find_map(|p| p.strip_prefix("udp:"))?,
        _ => return None,
    };
    udp.parse().ok()
}
