//! The data folder of the embedded default: the SQLite database and the token secret.

use anyhow::Context;
use std::path::{Path, PathBuf};

/// File names inside the data folder.
pub const DATABASE_FILE: &str = "loh.db";
pub const SECRET_FILE: &str = "token.secret";

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

    /// The access-token secret, made on first start and kept in the folder (mode 0600).
    pub fn token_secret(&self) -> anyhow::Result<Vec<u8>> {
        let path = self.root.join(SECRET_FILE);
        if let Ok(hex_secret) = std::fs::read_to_string(&path) {
            let secret = hex::decode(hex_secret.trim())
                .with_context(|| format!("{} is not hex", path.display()))?;
            anyhow::ensure!(
                secret.len() >= 32,
                "{} is shorter than 32 bytes",
                path.display()
            );
            return Ok(secret);
        }
        let secret: [u8; 32] = rand::random();
        write_private(&path, &hex::encode(secret))
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(secret.to_vec())
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
