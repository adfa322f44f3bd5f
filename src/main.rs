use std::{process::ExitCode, sync::Arc};

use clap::Parser;

use axum_xray_otel::{
    aws,
    cli::{Cli, Command},
    config::Config,
    serve, telemetry, users,
};

fn main() -> ExitCode {
    telemetry::install_crypto_provider();
    let command = match Cli::try_parse() {
        Ok(cli) => cli.into_command(),
        // --help and --version land here too, printed to stdout with exit 0;
        // a usage error goes to stderr with exit 2.
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            // A function says why it cannot start, for the invocation to fail with.
            if let (Command::Serve, Some(api)) = (&command, Config::lambda_runtime_api_from_env())
                && let Err(report) =
                    serve::init_error::report(&api, serve::init_error::CONFIG_ERROR, &e.to_string())
            {
                eprintln!("axum-xray-otel: cannot report the init error: {report}");
            }
            return fail(&e.to_string(), 2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(&format!("cannot start the async runtime: {e}"), 1),
    };
    match command {
        Command::CheckConfig => say(&format!("{config:#?}")),
        Command::Healthcheck => {
            match runtime.block_on(serve::http::healthcheck(config.server.port)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&format!("unhealthy: {e}"), 1),
            }
        }
        Command::SeedUsers {
            count,
            create_table,
        } => match runtime.block_on(users::seed::run_from_config(&config, count, create_table)) {
            Ok(message) => say(&message),
            Err(e) => fail(&format!("seed-users: {e}"), 1),
        },
        Command::Serve => runtime.block_on(run(config)),
    }
}

async fn run(config: Config) -> ExitCode {
    // One load for the DynamoDB client, the span signer and the database
    // URL secret; credentials are resolved on first use, not here.
    let aws = match aws::is_needed(&config) || config.database.url_secret_arn.is_some() {
        true => Some(aws::sdk_config(&config).await),
        false => None,
    };
    let telemetry = match telemetry::init(&config, aws.as_ref()).await {
        Ok(t) => Arc::new(t),
        Err(e) => return fail(&format!("{e:#}"), 1),
    };
    let served = serve::run(&config, Arc::clone(&telemetry), aws.as_ref()).await;
    // The flushes get what the drain left of the shutdown budget.
    let budget = match &served {
        Ok(budget) => *budget,
        Err(e) => {
            tracing::error!(error = %e, "stopped");
            serve::Budget::starting_now(config.server.shutdown_timeout)
        }
    };
    let flushed = match Arc::try_unwrap(telemetry) {
        Ok(t) => {
            tokio::task::block_in_place(|| t.shutdown(budget.spans_until(), budget.deadline()))
        }
        Err(t) => {
            t.flush(
                budget
                    .deadline()
                    .saturating_duration_since(std::time::Instant::now()),
            );
            Ok(())
        }
    };
    if let Err(e) = flushed {
        tracing::warn!(error = %e, "telemetry shutdown incomplete");
    }
    match served {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => fail(&format!("axum-xray-otel: {e}"), 1),
    }
}

fn say(text: &str) -> ExitCode {
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "{text}");
    ExitCode::SUCCESS
}

/// One line on stderr, then a non-zero exit.
fn fail(message: &str, code: u8) -> ExitCode {
    eprintln!("axum-xray-otel: {message}");
    ExitCode::from(code)
}
