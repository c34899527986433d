//! `whatsapi`: the reference server and operator commands.

use clap::Parser;
use whatsapi_server::config::{AccountCommand, Cli, Command, EncryptionCommand};
use whatsapi_server::ops;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve(Box::new(cli.serve))) {
        Command::Serve(args) => whatsapi_server::run::serve(*args).await,
        Command::Account(AccountCommand::Deactivate(args)) => {
            let account = ops::set_active(&args, false).await?;
            println!(
                "deactivated account {} ({}): its requests now get 403 and its queued messages are held",
                account.id, account.email
            );
            Ok(())
        }
        Command::Account(AccountCommand::Reactivate(args)) => {
            let account = ops::set_active(&args, true).await?;
            println!(
                "reactivated account {} ({}): its queued messages will be sent",
                account.id, account.email
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
        Command::Send(args) => whatsapi_server::cli::send(args).await,
        Command::Bulk(args) => whatsapi_server::cli::bulk::bulk(args).await,
        Command::Status(args) => whatsapi_server::cli::status(args).await,
    }
}
