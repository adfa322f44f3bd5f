//! The command line: `serve` (default), `healthcheck`, `check-config`,
//! `seed-users`. Settings come from the environment ([`crate::config`]);
//! the arguments only choose what to do.

use clap::{Parser, Subcommand};

use crate::users::MAX_USER_ID;

#[derive(Debug, Parser)]
#[command(
    name = "axum-xray-otel",
    version,
    about = "One axum service, served on ECS Fargate or AWS Lambda, traced to AWS X-Ray.",
    after_help = "Settings come from environment variables: see docs/configuration.md."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Serve the API over HTTP (ECS Fargate) or as a Lambda function (the default)
    Serve,
    /// GET /health on 127.0.0.1:$PORT; exit 0 if it answers 200 (container health checks)
    Healthcheck,
    /// Validate the environment variables and print the settings
    CheckConfig,
    /// Write users 1 to N into the DynamoDB table USERS_TABLE (idempotent)
    SeedUsers {
        /// How many users (1 to 1000)
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=MAX_USER_ID))]
        count: u64,
        /// First create the table (on-demand) if it does not exist
        #[arg(long)]
        create_table: bool,
    },
}

impl Cli {
    /// The command to run; `serve` when none is given.
    pub fn into_command(self) -> Command {
        self.command.unwrap_or(Command::Serve)
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, error::ErrorKind};

    use super::*;

    fn parse(args: &[&str]) -> Result<Command, ErrorKind> {
        let argv = std::iter::once("axum-xray-otel").chain(args.iter().copied());
        Cli::try_parse_from(argv)
            .map(Cli::into_command)
            .map_err(|e| e.kind())
    }

    #[test]
    fn the_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_commands() {
        assert_eq!(parse(&[]), Ok(Command::Serve));
        assert_eq!(parse(&["serve"]), Ok(Command::Serve));
        assert_eq!(parse(&["healthcheck"]), Ok(Command::Healthcheck));
        assert_eq!(parse(&["check-config"]), Ok(Command::CheckConfig));
        assert_eq!(
            parse(&["seed-users", "--count", "25", "--create-table"]),
            Ok(Command::SeedUsers {
                count: 25,
                create_table: true
            })
        );
        assert_eq!(
            parse(&["seed-users", "--count", "1000"]),
            Ok(Command::SeedUsers {
                count: 1000,
                create_table: false
            })
        );
    }

    #[test]
    fn bad_arguments_are_usage_errors() {
        assert!(parse(&["bogus"]).is_err());
        assert!(parse(&["serve", "x"]).is_err());
        assert!(parse(&["seed-users"]).is_err());
        for count in ["0", "1001", "ten"] {
            assert!(parse(&["seed-users", "--count", count]).is_err(), "{count}");
        }
        assert!(parse(&["seed-users", "--count", "5", "--force"]).is_err());
        let usage = Cli::try_parse_from(["axum-xray-otel", "bogus"]).unwrap_err();
        assert_eq!(usage.exit_code(), 2);
    }

    #[test]
    fn help_and_version_are_answered() {
        assert_eq!(parse(&["--help"]), Err(ErrorKind::DisplayHelp));
        assert_eq!(parse(&["help"]), Err(ErrorKind::DisplayHelp));
        assert_eq!(parse(&["--version"]), Err(ErrorKind::DisplayVersion));
        assert_eq!(parse(&["-V"]), Err(ErrorKind::DisplayVersion));
    }
}
