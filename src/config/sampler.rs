//! The sampler (`OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`): the
//! specification's samplers, and `xray`, X-Ray centralized sampling, whose
//! argument is written as ADOT's SDKs take it:
//! `endpoint=http://localhost:2000,polling_interval=300`.

use std::time::Duration;

use super::{reader::Reader, vars::*};

#[derive(Clone, Debug, PartialEq)]
pub enum SamplerConfig {
    AlwaysOn,
    AlwaysOff,
    TraceIdRatio(f64),
    ParentBasedAlwaysOn,
    ParentBasedAlwaysOff,
    ParentBasedTraceIdRatio(f64),
    /// Rules and quotas from X-Ray; an incoming decision still wins.
    Xray(XraySampling),
}

/// Where X-Ray's sampling rules come from, and how often.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XraySampling {
    /// The collector's `awsproxy` (unsigned), or X-Ray itself
    /// (`https://xray.<region>.amazonaws.com`, signed with SigV4).
    pub endpoint: String,
    /// How often the rules are fetched (`GetSamplingRules`).
    pub polling_interval: Duration,
}

impl Default for XraySampling {
    /// ADOT's defaults: the collector's `awsproxy` on the task, every 5 minutes.
    fn default() -> Self {
        Self {
            endpoint: "http://localhost:2000".to_owned(),
            polling_interval: Duration::from_secs(300),
        }
    }
}

impl XraySampling {
    /// The region to sign for when the endpoint is X-Ray's own
    /// (`https://xray.<region>.amazonaws.com`); the awsproxy is not signed.
    pub fn signing_region(&self) -> Option<String> {
        super::traces::xray_endpoint_region(&format!("{}/v1/traces", self.endpoint))
    }
}

/// At most a day between rule fetches; a rule change would wait longer.
const MAX_POLLING_SECS: u64 = 86_400;

pub(super) fn read(r: &mut Reader<'_>) -> SamplerConfig {
    let name = r.choice(
        OTEL_TRACES_SAMPLER,
        "parentbased_always_on",
        &[
            ("always_on", "always_on"),
            ("always_off", "always_off"),
            ("traceidratio", "traceidratio"),
            ("parentbased_always_on", "parentbased_always_on"),
            ("parentbased_always_off", "parentbased_always_off"),
            ("parentbased_traceidratio", "parentbased_traceidratio"),
            ("xray", "xray"),
        ],
    );
    // Read only for the samplers that take it, as the specification says.
    match name {
        "always_on" => SamplerConfig::AlwaysOn,
        "always_off" => SamplerConfig::AlwaysOff,
        "traceidratio" => SamplerConfig::TraceIdRatio(read_ratio(r)),
        "parentbased_always_off" => SamplerConfig::ParentBasedAlwaysOff,
        "parentbased_traceidratio" => SamplerConfig::ParentBasedTraceIdRatio(read_ratio(r)),
        "xray" => SamplerConfig::Xray(read_xray(r)),
        _ => SamplerConfig::ParentBasedAlwaysOn,
    }
}

fn read_ratio(r: &mut Reader<'_>) -> f64 {
    let Some(raw) = r.get(OTEL_TRACES_SAMPLER_ARG) else {
        return 1.0;
    };
    match raw.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => v,
        _ => {
            r.fail(
                OTEL_TRACES_SAMPLER_ARG,
                format!("'{raw}' is not a number from 0.0 to 1.0"),
            );
            1.0
        }
    }
}

/// `endpoint=<url>,polling_interval=<seconds>`, each optional, in any order.
fn read_xray(r: &mut Reader<'_>) -> XraySampling {
    let mut xray = XraySampling::default();
    let Some(raw) = r.get(OTEL_TRACES_SAMPLER_ARG) else {
        return xray;
    };
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('=').map(|(k, v)| (k.trim(), v.trim())) {
            Some(("endpoint", url)) if is_http_url(url) => {
                xray.endpoint = url.trim_end_matches('/').to_owned();
            }
            Some(("endpoint", url)) => r.fail(
                OTEL_TRACES_SAMPLER_ARG,
                format!("endpoint '{url}' is not an http:// or https:// URL"),
            ),
            Some(("polling_interval", secs)) => match secs.parse::<u64>() {
                Ok(s) if (1..=MAX_POLLING_SECS).contains(&s) => {
                    xray.polling_interval = Duration::from_secs(s);
                }
                _ => r.fail(
                    OTEL_TRACES_SAMPLER_ARG,
                    format!(
                        "polling_interval '{secs}' is not a number of seconds from 1 to {MAX_POLLING_SECS}"
                    ),
                ),
            },
            _ => r.fail(
                OTEL_TRACES_SAMPLER_ARG,
                format!(
                    "'{part}' is not endpoint=<url> or polling_interval=<seconds> (the xray sampler's settings)"
                ),
            ),
        }
    }
    xray
}

fn is_http_url(value: &str) -> bool {
    reqwest::Url::parse(value).is_ok_and(|u| {
        matches!(u.scheme(), "http" | "https")
            && u.host_str().is_some()
            && u.query().is_none()
            && matches!(u.path(), "" | "/")
    })
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;

    fn sampler(env: &[(&str, &str)]) -> SamplerConfig {
        parse(env).unwrap().telemetry.traces.sampler
    }

    #[test]
    fn xray_takes_adots_argument() {
        assert_eq!(
            sampler(&[("OTEL_TRACES_SAMPLER", "xray")]),
            SamplerConfig::Xray(XraySampling::default())
        );
        assert_eq!(
            sampler(&[
                ("OTEL_TRACES_SAMPLER", "xray"),
                (
                    "OTEL_TRACES_SAMPLER_ARG",
                    "endpoint=http://127.0.0.1:2000/,polling_interval=60"
                ),
            ]),
            SamplerConfig::Xray(XraySampling {
                endpoint: "http://127.0.0.1:2000".into(),
                polling_interval: Duration::from_secs(60),
            })
        );
        let SamplerConfig::Xray(direct) = sampler(&[
            ("OTEL_TRACES_SAMPLER", "xray"),
            (
                "OTEL_TRACES_SAMPLER_ARG",
                "endpoint=https://xray.eu-west-1.amazonaws.com",
            ),
        ]) else {
            panic!("not xray");
        };
        assert_eq!(direct.signing_region().as_deref(), Some("eu-west-1"));
        assert_eq!(XraySampling::default().signing_region(), None);
        assert_eq!(
            sampler(&[
                ("OTEL_TRACES_SAMPLER", "xray"),
                ("OTEL_TRACES_SAMPLER_ARG", "polling_interval=10"),
            ]),
            SamplerConfig::Xray(XraySampling {
                polling_interval: Duration::from_secs(10),
                ..XraySampling::default()
            })
        );
    }

    #[test]
    fn a_bad_xray_argument_names_the_variable() {
        for arg in [
            "endpoint=localhost:2000",
            "endpoint=http://localhost:2000/GetSamplingRules",
            "polling_interval=0",
            "polling_interval=5m",
            "interval=300",
            "0.5",
        ] {
            let err = parse(&[
                ("OTEL_TRACES_SAMPLER", "xray"),
                ("OTEL_TRACES_SAMPLER_ARG", arg),
            ])
            .unwrap_err();
            assert_eq!(err.0.len(), 1, "{arg}: {err}");
            assert_eq!(err.0[0].var, "OTEL_TRACES_SAMPLER_ARG", "{arg}");
        }
    }
}
