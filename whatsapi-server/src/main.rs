//! `whatsapi`: the reference server and operator commands.

use clap::Parser;
use whatsapi_server::config::{Cli, Command};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve(cli.serve)) {
        Command::Serve(args) => whatsapi_server::run::serve(args).await,
    }
}
