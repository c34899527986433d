//! `whatsapi`: the reference server and operator commands.

use std::process::ExitCode;

use whatsapi_server::config::{AccountCommand, Cli, Command, EncryptionCommand};
use whatsapi_server::ops;

/// Runs the command; an error is one line on stderr (its causes joined by ": ") and exit status 1, never a
/// backtrace: these errors are for the person at the terminal.
#[tokio::main]
async fn main() -> ExitCode {
    let cli = match Cli::try_parse_env() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(), // --help, --version
        Err(e) => {
            eprintln!("error: {} (see whatsapi --help)", usage_line(&e));
            return ExitCode::from(2);
        }
    };
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            if e.is::<whatsapi_server::cli::client::Interrupted>() {
                return ExitCode::from(130);
            }
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, joined by ": ", leaving out a cause its parent's text already shows.
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Clap's message without its usage block and hint, on one line.
fn usage_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let text = text.trim_start().strip_prefix("error:").unwrap_or(&text);
    text.lines()
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .flat_map(str::split_whitespace)
        .collect::<Vec<_>>()
        .join(" ")
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => whatsapi_server::run::serve(*args).await,
        Command::Account(AccountCommand::Deactivate(args)) => {
            let account = ops::set_active(&args, false).await?;
            println!(
                "deactivated account {} ({}): its requests now get 403 and its queued messages are held",
                account.account.id, account.customer.email
            );
            Ok(())
        }
        Command::Account(AccountCommand::Reactivate(args)) => {
            let account = ops::set_active(&args, true).await?;
            println!(
                "reactivated account {} ({}): its queued messages will be sent",
                account.account.id, account.customer.email
            );
            Ok(())
        }
        Command::Encryption(EncryptionCommand::RotateKey(args)) => {
            let (key, report) = ops::rotate_key(&args).await?;
            println!(
                "re-encrypted {} of {} accounts under key {} ({} skipped because they changed meanwhile{})",
                report.resealed,
                report.accounts,
                key.id(),
                report.skipped,
                if report.skipped > 0 {
                    ": run the command again"
                } else {
                    ""
                }
            );
            println!(
                "next: start the server with --encryption-key-file {} (or move that file to {}), and keep the old \
                 key until no server uses it",
                args.new_key_file.display(),
                args.store.key_file().display()
            );
            Ok(())
        }
        Command::Send(args) => whatsapi_server::cli::send(*args).await,
        Command::Bulk(args) => whatsapi_server::cli::bulk::bulk(*args).await,
        Command::Status(args) => whatsapi_server::cli::status(args).await,
    }
}
