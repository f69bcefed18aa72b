//! `latchkey`: passwordless single sign-on in one binary.

mod cli;
mod commands;
mod config;
mod encryption_key;
mod logging;
mod proxy_role;
mod role;
mod server;
mod tailnet_issuer;
mod web;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

/// mimalloc instead of glibc's allocator: a request allocates and frees many small buffers
/// across two threads, where glibc's free lists took a tenth of the CPU (bench/RESULTS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse_args();
    if matches!(cli.cmd(), Command::Version) {
        println!("latchkey {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let config = match config::load(&cli.overrides()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("latchkey: configuration error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    if matches!(cli.cmd(), Command::CheckConfig) || cli.config_test {
        println!("configuration is valid\n{}", config.summary());
        return ExitCode::SUCCESS;
    }
    logging::init(&config);
    if matches!(
        cli.cmd(),
        Command::Serve | Command::Idp | Command::Tsidp | Command::Proxy
    ) {
        for notice in &config.notices {
            if notice.warning {
                tracing::warn!("{}", notice.text);
            } else {
                tracing::info!("{}", notice.text);
            }
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("latchkey: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.cmd() {
            Command::Serve | Command::Idp | Command::Tsidp | Command::Proxy => {
                server::run(&config).await
            }
            Command::Healthcheck { url } => {
                commands::healthcheck(&config, cli.cmd().primary_role(), url.as_deref()).await
            }
            Command::Keys(k) => commands::keys(&config, k).await,
            Command::Clients(c) => commands::clients(&config, c).await,
            Command::Users(c) => commands::users(&config, c).await,
            Command::Groups(c) => commands::groups(&config, c).await,
            Command::SetupLink => commands::setup_link(&config).await,
            Command::CheckConfig | Command::Version => Ok(()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("latchkey: {e:#}");
            ExitCode::FAILURE
        }
    }
}
