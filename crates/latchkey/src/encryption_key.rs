//! The instance encryption key: it seals signing keys at rest and keys the MACs the server
//! makes. From configuration when given; otherwise generated once into the data directory.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use latchkey_oidc::crypto::{MasterKey, b64url, random_bytes};

use crate::config::Config;

const FILE_NAME: &str = "encryption.key";

/// The configured or stored key; never creates one (for commands that must use the key the
/// servers use, such as `keys rotate`).
pub fn load_existing(config: &Config) -> Result<MasterKey> {
    if let Some(key) = &config.encryption_key {
        return MasterKey::from_bytes(key.as_bytes()).context("encryption_key");
    }
    let path = config.data_dir.join(FILE_NAME);
    let s = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "no encryption key: set encryption_key (or LATCHKEY_ENCRYPTION_KEY[_FILE]) as the servers do, \
             or run this with the servers' data directory ({} not readable)",
            path.display()
        )
    })?;
    MasterKey::from_bytes(s.trim_end().as_bytes()).with_context(|| format!("{}", path.display()))
}

pub fn load_or_create(config: &Config) -> Result<MasterKey> {
    if let Some(key) = &config.encryption_key {
        return MasterKey::from_bytes(key.as_bytes()).context("encryption_key");
    }
    let path = config.data_dir.join(FILE_NAME);
    match std::fs::read_to_string(&path) {
        Ok(s) => {
            let s = s.trim_end();
            MasterKey::from_bytes(s.as_bytes()).with_context(|| format!("{}", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = b64url(&random_bytes::<32>());
            write_private(&path, &key)?;
            tracing::warn!(
                path = %path.display(),
                "generated a new encryption key; back it up with the database, which cannot be read without it"
            );
            MasterKey::from_bytes(key.as_bytes()).context("generated encryption key")
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

fn write_private(path: &Path, contents: &str) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(contents.as_bytes())
        .and_then(|_| file.write_all(b"\n"))
        .and_then(|_| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}
