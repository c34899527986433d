//! `whatsapi`: the reference server and operator commands.

use clap::Parser;
use whatsapi_server::config::{Cli, Command};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve(cli.serve)) {
        Command::Serve(args) => whatsapi_server::run::serve(args).await,
        Command::Send(args) => whatsapi_server::cli::send(args).await,
        Command::Bulk(args) => whatsapi_server::cli::bulk::bulk(args).await,
        Command::Status(args) => whatsapi_server::cli::status(args).await,
    }
}
