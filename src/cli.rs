//! The command line: `serve` (default), `healthcheck`, `check-config`.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Serve the Router on the configured target.
    Serve,
    /// GET /health on the local port; exit 0 when healthy (container health checks).
    Healthcheck,
    /// Validate the environment and print the resulting settings.
    CheckConfig,
    Help,
    Version,
}

pub const USAGE: &str = "\
usage: axum-xray-otel [serve | healthcheck | check-config | --help | --version]

  serve         serve the API over HTTP (ECS Fargate) or as a Lambda function (default)
  healthcheck   GET /health on 127.0.0.1:$PORT, exit 0 if it answers 200
  check-config  validate the environment variables and print the settings

Settings come from environment variables; see the README.";

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Command, String> {
    match args {
        [] => Ok(Command::Serve),
        [one] => match one.as_str() {
            "serve" => Ok(Command::Serve),
            "healthcheck" => Ok(Command::Healthcheck),
            "check-config" => Ok(Command::CheckConfig),
            "-h" | "--help" | "help" => Ok(Command::Help),
            "-V" | "--version" => Ok(Command::Version),
            other => Err(format!("unknown command '{other}'")),
        },
        _ => Err("expected at most one command".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commands() {
        assert_eq!(parse(&[]), Ok(Command::Serve));
        assert_eq!(parse(&["healthcheck".into()]), Ok(Command::Healthcheck));
        assert_eq!(parse(&["check-config".into()]), Ok(Command::CheckConfig));
        assert!(parse(&["bogus".into()]).is_err());
        assert!(parse(&["serve".into(), "x".into()]).is_err());
    }
}
