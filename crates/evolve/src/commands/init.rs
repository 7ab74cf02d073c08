//! `evolve init`: create the database or migrate it to this build's schema.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use evolve_store::Store;

use super::Output;

pub async fn run(db: &Path, out: Output) -> anyhow::Result<ExitCode> {
    let existed = db.exists();
    let store = Store::init(db)
        .await
        .with_context(|| format!("initialising {}", db.display()))?;
    let version = store.schema_version().await?;
    store.close().await;
    let verb = if existed { "checked" } else { "created" };
    out.status(format!(
        "{verb} {} (schema version {version})",
        db.display()
    ));
    Ok(ExitCode::SUCCESS)
}
