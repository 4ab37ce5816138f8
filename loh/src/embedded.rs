//! The data folder of the embedded default: the SQLite database and the RSA signing key.

use anyhow::Context;
use loh_auth::SigningKey;
use std::path::{Path, PathBuf};

/// File names inside the data folder.
pub const DATABASE_FILE: &str = "loh.db";
pub const KEY_FILE: &str = "signing-key.pem";

/// The data folder of `loh up`.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// Creates the folder if missing.
    pub fn open(root: impl AsRef<Path>) -> anyhow::Result<DataDir> {
        let root = root.as_ref().to_path_buf();
        std::fs::create_dir_all(&root)
            .with_context(|| format!("creating the data folder {}", root.display()))?;
        Ok(DataDir { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The SQLite URL of the events, accounts and read models.
    pub fn database_url(&self) -> String {
        format!(
            "sqlite://{}?mode=rwc",
            self.root.join(DATABASE_FILE).display()
        )
    }

    /// The RSA key that signs access tokens, made on first start and kept in the folder
    /// (PKCS#8 PEM, mode 0600).
    pub fn signing_key(&self) -> anyhow::Result<SigningKey> {
        let path = self.root.join(KEY_FILE);
        if let Ok(pem) = std::fs::read_to_string(&path) {
            return SigningKey::from_pem(&pem)
                .with_context(|| format!("loading {}", path.display()));
        }
        let key = SigningKey::generate().context("generating the RSA signing key")?;
        write_private(&path, key.private_pem())
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(key)
    }
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(contents.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}
