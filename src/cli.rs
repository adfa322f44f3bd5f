//! The command line: `serve` (default), `healthcheck`, `check-config`,
//! `seed-users`.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Serve the Router on the configured target.
    Serve,
    /// GET /health on the local port; exit 0 when healthy (container health checks).
    Healthcheck,
    /// Validate the environment and print the resulting settings.
    CheckConfig,
    /// Write users 1 to `count` into `USERS_TABLE` (creating it if asked).
    SeedUsers {
        count: u64,
        create_table: bool,
    },
    Help,
    Version,
}

pub const USAGE: &str = "\
usage: axum-xray-otel [serve | healthcheck | check-config | --help | --version]
       axum-xray-otel seed-users --count N [--create-table]

  serve         serve the API over HTTP (ECS Fargate) or as a Lambda function (default)
  healthcheck   GET /health on 127.0.0.1:$PORT, exit 0 if it answers 200
  check-config  validate the environment variables and print the settings
  seed-users    write users 1..N into the DynamoDB table USERS_TABLE (idempotent);
                --create-table first creates it (on-demand) if it does not exist

Settings come from environment variables; see the README.";

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Command, String> {
    match args {
        [] => Ok(Command::Serve),
        [first, rest @ ..] if first == "seed-users" => parse_seed(rest),
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

fn parse_seed(args: &[String]) -> Result<Command, String> {
    let (mut count, mut create_table) = (None, false);
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--count" => {
                let value = args.next().ok_or("--count needs a number")?;
                let n = value
                    .parse::<u64>()
                    .ok()
                    .filter(|n| (1..=crate::users::MAX_USER_ID).contains(n))
                    .ok_or_else(|| format!("--count '{value}' is not an integer from 1 to 1000"))?;
                count = Some(n);
            }
            "--create-table" => create_table = true,
            other => return Err(format!("unknown seed-users option '{other}'")),
        }
    }
    let count = count.ok_or("seed-users needs --count N")?;
    Ok(Command::SeedUsers {
        count,
        create_table,
    })
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
        let args = |a: &[&str]| parse(&a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
        assert_eq!(
            args(&["seed-users", "--count", "25", "--create-table"]),
            Ok(Command::SeedUsers {
                count: 25,
                create_table: true
            })
        );
        assert!(args(&["seed-users"]).is_err());
        assert!(args(&["seed-users", "--count", "0"]).is_err());
        assert!(args(&["seed-users", "--count", "1001"]).is_err());
        assert!(args(&["seed-users", "--count", "5", "--force"]).is_err());
    }
}
