//! The data folder of the embedded default: the SQLite database and the RSA signing key.
//!
//! Everything in it is its owner's only: the folder is 0700, the database 0600 (created so before
//! SQLite opens it; SQLite gives its `-wal` and `-shm` files the database's mode), the key 0600.
//! Opening an existing folder tightens what is looser (a folder from an older version).

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
    /// Creates the folder (0700) and an empty database file (0600) if missing, and makes what is
    /// already there readable by its owner only.
    pub fn open(root: impl AsRef<Path>) -> anyhow::Result<DataDir> {
        let root = root.as_ref().to_path_buf();
        create_private_dir(&root)
            .with_context(|| format!("creating the data folder {}", root.display()))?;
        let db = root.join(DATABASE_FILE);
        create_private_file(&db).with_context(|| format!("creating {}", db.display()))?;
        for name in [
            DATABASE_FILE.to_owned(),
            format!("{DATABASE_FILE}-wal"),
            format!("{DATABASE_FILE}-shm"),
            format!("{DATABASE_FILE}-journal"),
            KEY_FILE.to_owned(),
        ] {
            let path = root.join(name);
            restrict(&path, 0o600).with_context(|| format!("restricting {}", path.display()))?;
        }
        restrict(&root, 0o700)
            .with_context(|| format!("restricting the data folder {}", root.display()))?;
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
fn create_private_dir(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
}

#[cfg(not(unix))]
fn create_private_dir(path: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(path)
}

/// Creates an empty file readable by its owner only, unless it exists.
#[cfg(unix)]
fn create_private_file(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(not(unix))]
fn create_private_file(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

/// Sets `path`'s mode to `mode` when it exists and grants anyone but its owner more.
#[cfg(unix)]
fn restrict(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(path) {
        Ok(meta) if meta.permissions().mode() & 0o077 != 0 => {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        }
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(not(unix))]
fn restrict(_path: &Path, _mode: u32) -> std::io::Result<()> {
    Ok(())
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

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[tokio::test]
    async fn the_data_folder_database_and_key_are_their_owners_only() {
        let parent = tempfile::tempdir().unwrap();
        let dir = DataDir::open(parent.path().join("data")).unwrap();
        dir.signing_key().unwrap();
        // The database in WAL mode, written once, as `loh up` opens it.
        let store = loh_events::sqlite::SqliteEventStore::open(&dir.database_url(), "world1")
            .await
            .unwrap();
        let root = dir.root();
        assert_eq!(mode(root), 0o700, "the folder");
        for name in [DATABASE_FILE, "loh.db-wal", "loh.db-shm", KEY_FILE] {
            assert_eq!(mode(&root.join(name)), 0o600, "{name}");
        }
        drop(store);

        // A folder left world-readable by an older version is tightened when opened.
        std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).unwrap();
        for name in [DATABASE_FILE, KEY_FILE] {
            std::fs::set_permissions(root.join(name), std::fs::Permissions::from_mode(0o644))
                .unwrap();
        }
        let dir = DataDir::open(root).unwrap();
        assert_eq!(mode(dir.root()), 0o700);
        assert_eq!(mode(&dir.root().join(DATABASE_FILE)), 0o600);
        assert_eq!(mode(&dir.root().join(KEY_FILE)), 0o600);
    }
}
