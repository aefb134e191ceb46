//! `berth compose ...`: hands the arguments to berth-compose with the daemon address this CLI
//! resolved (`-H`, `BERTH_HOST`, `DOCKER_HOST`); its exit status passes through.

use super::Ctx;
use crate::error::{CliError, Result};

/// Runs a compose subcommand.
pub async fn compose(ctx: &Ctx, argv: &[String]) -> Result<()> {
    match berth_compose::cli::main(Some(ctx.client.host().to_string()), argv.to_vec()).await {
        0 => Ok(()),
        code => Err(CliError::Exit(code)),
    }
}
