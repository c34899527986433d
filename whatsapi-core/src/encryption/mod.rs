//! Secrets at rest: AES-256-GCM under a server key, with a key ring so the key can be rotated.
//!
//! A sealed value is the text `enc:v1:<key-id>:<base64(nonce || ciphertext)>`: a fresh random 96-bit nonce per value,
//! the 128-bit tag at the end of the ciphertext, and the account id plus the field name as associated data, so a
//! sealed value copied into another account or field does not open. The key id is the first 8 bytes (hex) of a
//! SHA-256 of the key: it names the key without revealing it, and lets a [`KeyRing`] holding the old and the new key
//! open values sealed under either while they are re-encrypted.
//!
//! [`EncryptingStore`] wraps any [`Store`](crate::Store) and seals the secret fields of accounts (Meta access token,
//! app secret, verify token, webhook signing secret) on their way in and opens them on their way out, so every
//! backend stores ciphertext and the engine and the facade keep seeing plaintext.

mod store;

use std::fmt;
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use sha2::{Digest, Sha256};

pub use store::{EncryptingStore, ResealReport};

const PREFIX: &str = "enc:v1:";
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Why a key could not be read or created, or a value could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum EncryptionError {
    /// The configured key text is not base64 of exactly 32 bytes.
    #[error(
        "the encryption key must be the base64 encoding of exactly 32 random bytes (e.g. `openssl rand -base64 32`); {0}"
    )]
    BadKey(String),
    /// The key file could not be read or written.
    #[error("encryption key file {path}: {source}")]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The key file can be read by other users.
    #[error(
        "encryption key file {path} has permissions {mode:o}; it must be readable by its owner only. Run `chmod 600 {path}` and start again"
    )]
    LoosePermissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The key file's contents are not a key.
    #[error("encryption key file {path}: {reason}")]
    BadKeyFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A sealed value names a key the ring does not hold.
    #[error(
        "a stored secret is encrypted under key {0}, which is not configured; start with the key it was written with (see `whatsapi encryption rotate-key`)"
    )]
    UnknownKey(String),
    /// A sealed value is malformed, was tampered with, or belongs to another account or field.
    #[error("a stored secret does not decrypt: {0}")]
    Corrupt(&'static str),
}

/// A 256-bit AES key. Its `Debug` shows only the key id.
#[derive(Clone)]
pub struct EncryptionKey {
    bytes: [u8; 32],
    id: String,
}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EncryptionKey({})", self.id)
    }
}

impl EncryptionKey {
    /// A key from 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        let digest = Sha256::new()
            .chain_update(b"whatsapi encryption key id\0")
            .chain_update(bytes)
            .finalize();
        Self {
            bytes,
            id: hex::encode(&digest[..8]),
        }
    }

    /// A new key from the operating system's CSPRNG.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).expect("the operating system's random source failed");
        Self::from_bytes(bytes)
    }

    /// Parses base64 (standard alphabet, padding optional) of exactly 32 bytes; surrounding whitespace is ignored.
    pub fn from_base64(text: &str) -> Result<Self, EncryptionError> {
        let text = text.trim();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(text)
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text))
            .map_err(|_| EncryptionError::BadKey("the value is not valid base64".into()))?;
        let bytes: [u8; 32] = decoded.try_into().map_err(|v: Vec<u8>| {
            EncryptionError::BadKey(format!("it decodes to {} bytes", v.len()))
        })?;
        Ok(Self::from_bytes(bytes))
    }

    /// The key as base64, to write into a key file or an environment variable.
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.bytes)
    }

    /// The key id written into every value sealed under this key (not secret).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Reads a key file (base64 of 32 bytes). On Unix the file must not be readable or writable by group or others.
    pub fn read_file(path: &Path) -> Result<Self, EncryptionError> {
        check_permissions(path)?;
        let text = std::fs::read_to_string(path).map_err(|source| EncryptionError::KeyFile {
            path: path.to_owned(),
            source,
        })?;
        Self::from_base64(&text).map_err(|e| EncryptionError::BadKeyFile {
            path: path.to_owned(),
            reason: e.to_string(),
        })
    }

    /// Reads the key file at `path`, or creates it with a new key (mode 0600, never overwriting) when it does not
    /// exist. Answers the key and whether it was created.
    pub fn load_or_create_file(path: &Path) -> Result<(Self, bool), EncryptionError> {
        match Self::create_file(path) {
            Ok(key) => Ok((key, true)),
            Err(EncryptionError::KeyFile { source, .. })
                if source.kind() == std::io::ErrorKind::AlreadyExists =>
            {
                Ok((Self::read_file(path)?, false))
            }
            Err(e) => Err(e),
        }
    }

    /// Creates a new key file with a fresh key, readable and writable by its owner only; fails if it exists.
    pub fn create_file(path: &Path) -> Result<Self, EncryptionError> {
        use std::io::Write as _;
        let io = |source| EncryptionError::KeyFile {
            path: path.to_owned(),
            source,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(io)?;
        let key = Self::generate();
        file.write_all(format!("{}\n", key.to_base64()).as_bytes())
            .map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok(key)
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new_from_slice(&self.bytes).expect("a 32-byte key is a valid AES-256 key")
    }
}

#[cfg(unix)]
fn check_permissions(path: &Path) -> Result<(), EncryptionError> {
    use std::os::unix::fs::PermissionsExt as _;
    let meta = std::fs::metadata(path).map_err(|source| EncryptionError::KeyFile {
        path: path.to_owned(),
        source,
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(EncryptionError::LoosePermissions {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_permissions(_path: &Path) -> Result<(), EncryptionError> {
    Ok(())
}

/// The key that seals new values and the older keys that still open values sealed before a rotation.
#[derive(Debug, Clone)]
pub struct KeyRing {
    primary: EncryptionKey,
    previous: Vec<EncryptionKey>,
}

impl KeyRing {
    /// A ring with one key.
    pub fn new(primary: EncryptionKey) -> Self {
        Self {
            primary,
            previous: Vec::new(),
        }
    }

    /// Adds a key that only opens values (a key being rotated away from).
    pub fn with_previous(mut self, key: EncryptionKey) -> Self {
        if key.id != self.primary.id && !self.previous.iter().any(|k| k.id == key.id) {
            self.previous.push(key);
        }
        self
    }

    /// The key new values are sealed under.
    pub fn primary(&self) -> &EncryptionKey {
        &self.primary
    }

    fn key(&self, id: &str) -> Option<&EncryptionKey> {
        std::iter::once(&self.primary)
            .chain(&self.previous)
            .find(|k| k.id == id)
    }

    /// Encrypts `plaintext` under the primary key; `context` (e.g. account id and field) must be given again to open.
    pub fn seal(&self, plaintext: &str, context: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).expect("the operating system's random source failed");
        let ciphertext = self
            .primary
            .cipher()
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: context.as_bytes(),
                },
            )
            .expect("AES-GCM encryption of a short value cannot fail");
        let mut blob = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&ciphertext);
        format!(
            "{PREFIX}{}:{}",
            self.primary.id,
            base64::engine::general_purpose::STANDARD.encode(blob)
        )
    }

    /// Decrypts a value from [`KeyRing::seal`]. A value without the `enc:` prefix was stored before encryption was
    /// turned on and is returned as it is (re-sealing it is what [`EncryptingStore::reseal_all`] does).
    pub fn open(&self, stored: &str, context: &str) -> Result<String, EncryptionError> {
        let Some(rest) = stored.strip_prefix(PREFIX) else {
            if stored.starts_with("enc:") {
                return Err(EncryptionError::Corrupt("unknown format version"));
            }
            return Ok(stored.to_owned());
        };
        let (id, data) = rest
            .split_once(':')
            .ok_or(EncryptionError::Corrupt("no key id"))?;
        let key = self
            .key(id)
            .ok_or_else(|| EncryptionError::UnknownKey(id.to_owned()))?;
        let blob = base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|_| EncryptionError::Corrupt("not base64"))?;
        if blob.len() < NONCE_LEN + TAG_LEN {
            return Err(EncryptionError::Corrupt("too short"));
        }
        let (nonce, ciphertext) = blob.split_at(NONCE_LEN);
        let plain = key
            .cipher()
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| EncryptionError::Corrupt("authentication failed"))?;
        String::from_utf8(plain).map_err(|_| EncryptionError::Corrupt("not UTF-8"))
    }

    /// Whether `stored` is sealed under the primary key already.
    pub fn is_current(&self, stored: &str) -> bool {
        stored
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split_once(':'))
            .is_some_and(|(id, _)| id == self.primary.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_with_fresh_nonces() {
        let ring = KeyRing::new(EncryptionKey::generate());
        let a = ring.seal("EAAsecret", "acc:token");
        let b = ring.seal("EAAsecret", "acc:token");
        assert_ne!(a, b, "a fresh nonce per value");
        assert!(a.starts_with(&format!("enc:v1:{}:", ring.primary().id())));
        assert!(!a.contains("EAAsecret"));
        assert_eq!(ring.open(&a, "acc:token").unwrap(), "EAAsecret");
        assert!(ring.is_current(&a));
    }

    #[test]
    fn wrong_context_or_tampering_does_not_open() {
        let ring = KeyRing::new(EncryptionKey::generate());
        let sealed = ring.seal("whsec_x", "acc-1:webhook_secret");
        assert!(matches!(
            ring.open(&sealed, "acc-2:webhook_secret"),
            Err(EncryptionError::Corrupt(_))
        ));
        let mut tampered = sealed.clone().into_bytes();
        let last = tampered.len() - 3;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert!(ring.open(&tampered, "acc-1:webhook_secret").is_err());
        assert!(ring.open("enc:v1:zz", "x").is_err());
        assert!(ring.open("enc:v9:aa:bb", "x").is_err());
    }

    #[test]
    fn key_ring_opens_old_and_new_and_seals_new() {
        let old = EncryptionKey::generate();
        let new = EncryptionKey::generate();
        let sealed_old = KeyRing::new(old.clone()).seal("t", "c");
        let ring = KeyRing::new(new.clone()).with_previous(old.clone());
        assert_eq!(ring.open(&sealed_old, "c").unwrap(), "t");
        assert!(!ring.is_current(&sealed_old));
        assert!(ring.is_current(&ring.seal("t", "c")));
        let only_new = KeyRing::new(new);
        assert!(matches!(
            only_new.open(&sealed_old, "c"),
            Err(EncryptionError::UnknownKey(id)) if id == old.id()
        ));
    }

    #[test]
    fn plaintext_from_before_encryption_passes_through() {
        let ring = KeyRing::new(EncryptionKey::generate());
        assert_eq!(ring.open("EAAlegacy", "c").unwrap(), "EAAlegacy");
        assert!(!ring.is_current("EAAlegacy"));
    }

    #[test]
    fn base64_keys() {
        let k = EncryptionKey::generate();
        let again = EncryptionKey::from_base64(&format!(" {}\n", k.to_base64())).unwrap();
        assert_eq!(again.id(), k.id());
        assert!(matches!(
            EncryptionKey::from_base64("c2hvcnQ="),
            Err(EncryptionError::BadKey(m)) if m.contains("5 bytes")
        ));
        assert!(EncryptionKey::from_base64("not base64!").is_err());
        assert!(!format!("{k:?}").contains(&k.to_base64()));
    }

    #[cfg(unix)]
    #[test]
    fn key_file_is_created_0600_and_loose_permissions_are_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::env::temp_dir().join(format!("whatsapi-key-{}", uuid::Uuid::now_v7()));
        let path = dir.join("whatsapi.db.key");
        let (created, fresh) = EncryptionKey::load_or_create_file(&path).unwrap();
        assert!(fresh);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let (loaded, fresh) = EncryptionKey::load_or_create_file(&path).unwrap();
        assert!(!fresh);
        assert_eq!(loaded.id(), created.id());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = EncryptionKey::load_or_create_file(&path).unwrap_err();
        assert!(
            matches!(err, EncryptionError::LoosePermissions { mode: 0o644, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("chmod 600"));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
