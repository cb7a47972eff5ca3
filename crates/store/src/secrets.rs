//! Merchants' secrets (Odoo API keys, Salla access and refresh tokens), encrypted at rest.
//!
//! # Data layout
//! Table `secrets`, primary key `(merchant_id, name)`: `key_id`, `nonce` (12 bytes), `ciphertext`
//! (AES-256-GCM output, tag included), `expires_at` (absolute expiry of a token, or NULL) and
//! `updated_at`. The plaintext never reaches the database, the logs or an error message.
//!
//! Each row is sealed with a fresh random 96-bit nonce under the current key, and with the
//! associated data `salla-odoo/secret/v1/{merchant}/{name}`: a ciphertext copied to another row or
//! another merchant does not open. `key_id` is the first 16 hex characters of the SHA-256 of the key
//! (it identifies the key without revealing it).
//!
//! # Keys and rotation
//! [`Keyring`] holds the current key (`secrets.key`, `SALLA_ODOO__SECRETS__KEY`) and the previous
//! keys (`secrets.previous_keys`), all base64 of exactly 32 bytes. New secrets are sealed under the
//! current key; any configured key opens. To rotate: deploy the new key as `key` with the old one in
//! `previous_keys`, run `salla-odoo secrets rotate` ([`rotate`]; idempotent, safe while workers
//! run), then drop the old key.
//!
//! # Failure handling
//! A row whose key is not configured, or that does not authenticate (wrong key, tampered data), is a
//! permanent [`StoreError::Crypto`] naming the merchant, the secret's name and the key id, never the
//! key or the plaintext. Malformed key configuration is [`StoreError::KeyConfig`].

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, Generate, KeyInit, Nonce, Payload};
use base64::Engine;
use salla_odoo_core::MerchantId;
use salla_odoo_core::settings::SecretsSettings;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use sqlx::Acquire as _; // `begin`/`acquire` on a session's held connection (on_db!)
use time::OffsetDateTime;

use crate::{Conn, Db, StoreError, db_id, ts};

/// Length of a key in bytes (AES-256).
pub const KEY_LEN: usize = 32;
/// Length of a nonce in bytes (96 bits, the GCM standard).
pub const NONCE_LEN: usize = 12;

/// Well-known secret names.
pub const ODOO_API_KEY: &str = "odoo_api_key";
pub const SALLA_ACCESS_TOKEN: &str = "salla_access_token";
pub const SALLA_REFRESH_TOKEN: &str = "salla_refresh_token";

#[derive(Clone)]
struct Key {
    id: String,
    cipher: Aes256Gcm,
}

/// The current encryption key and the previous ones that still decrypt.
/// `Debug` shows key ids only.
#[derive(Clone)]
pub struct Keyring {
    current: Key,
    previous: Vec<Key>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &self.current.id)
            .field(
                "previous",
                &self.previous.iter().map(|k| &k.id).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// A sealed secret: what is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: String,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

fn decode_key(b64: &str, what: &str) -> Result<Key, StoreError> {
    let text = b64.trim();
    // The decoder's own message can quote a character of the key: never pass it on.
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(text))
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text))
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text))
        .map_err(|_| {
            StoreError::KeyConfig(format!(
                "{what} is not valid base64 (expected base64 of {KEY_LEN} random bytes, e.g. \
                 `openssl rand -base64 32`)"
            ))
        })?;
    if bytes.len() != KEY_LEN {
        return Err(StoreError::KeyConfig(format!(
            "{what} decodes to {} bytes; it must be exactly {KEY_LEN}",
            bytes.len()
        )));
    }
    let id = key_id_of(&bytes);
    let cipher = Aes256Gcm::new_from_slice(&bytes)
        .map_err(|_| StoreError::KeyConfig(format!("{what} has the wrong length")))?;
    Ok(Key { id, cipher })
}

/// First 16 hex characters of the SHA-256 of a raw key.
fn key_id_of(raw: &[u8]) -> String {
    let digest = Sha256::digest(raw);
    hex::encode(&digest[..8])
}

impl Keyring {
    /// Build from `[secrets]`: `key` is required, `previous_keys` may be empty.
    pub fn from_settings(settings: &SecretsSettings) -> Result<Keyring, StoreError> {
        if settings.key.expose_secret().trim().is_empty() {
            return Err(StoreError::KeyConfig(
                "secrets.key is empty: set SALLA_ODOO__SECRETS__KEY to base64 of 32 random bytes \
                 (e.g. `openssl rand -base64 32`)"
                    .into(),
            ));
        }
        let current = decode_key(
            settings.key.expose_secret(),
            "secrets.key (SALLA_ODOO__SECRETS__KEY)",
        )?;
        let mut previous: Vec<Key> = Vec::new();
        for (i, k) in settings.previous_keys.iter().enumerate() {
            let key = decode_key(k.expose_secret(), &format!("secrets.previous_keys[{i}]"))?;
            if key.id != current.id && previous.iter().all(|p| p.id != key.id) {
                previous.push(key);
            }
        }
        Ok(Keyring { current, previous })
    }

    /// The id of the key new secrets are sealed under.
    pub fn current_key_id(&self) -> &str {
        &self.current.id
    }

    /// Ids of the previous keys, which still open but never seal.
    pub fn previous_key_ids(&self) -> Vec<&str> {
        self.previous.iter().map(|k| k.id.as_str()).collect()
    }

    /// Encrypt under the current key with a fresh random nonce (no associated data).
    pub fn seal(&self, plaintext: &[u8]) -> Sealed {
        self.seal_with_aad(plaintext, b"")
    }

    /// Encrypt, binding the ciphertext to `aad` (which must be given again to open it).
    pub fn seal_with_aad(&self, plaintext: &[u8], aad: &[u8]) -> Sealed {
        let nonce = Nonce::<Aes256Gcm>::generate();
        let ciphertext = self
            .current
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .expect("AES-GCM encryption of a secret-sized message cannot fail");
        Sealed {
            key_id: self.current.id.clone(),
            nonce: nonce.to_vec(),
            ciphertext,
        }
    }

    /// Decrypt with whichever configured key has the sealed `key_id`.
    pub fn open(&self, sealed: &Sealed) -> Result<Vec<u8>, StoreError> {
        self.open_with_aad(sealed, b"")
    }

    /// [`Keyring::open`] for text secrets.
    pub fn open_string(&self, sealed: &Sealed) -> Result<SecretString, StoreError> {
        let bytes = self.open(sealed)?;
        to_secret_string(bytes, &sealed.key_id)
    }

    /// Decrypt a secret sealed with [`Keyring::seal_with_aad`] and the same `aad`.
    pub fn open_with_aad(&self, sealed: &Sealed, aad: &[u8]) -> Result<Vec<u8>, StoreError> {
        let key = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id == sealed.key_id)
            .ok_or_else(|| {
                StoreError::Crypto(format!(
                    "sealed under key id {} which is not configured (set it in \
                     secrets.previous_keys until `salla-odoo secrets rotate` has run)",
                    sealed.key_id
                ))
            })?;
        let nonce = Nonce::<Aes256Gcm>::try_from(sealed.nonce.as_slice()).map_err(|_| {
            StoreError::Crypto(format!(
                "nonce of a secret under key id {} is {} bytes, not {NONCE_LEN}",
                sealed.key_id,
                sealed.nonce.len()
            ))
        })?;
        key.cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: &sealed.ciphertext,
                    aad,
                },
            )
            .map_err(|_| {
                StoreError::Crypto(format!(
                    "a secret under key id {} does not authenticate (wrong key or altered data)",
                    sealed.key_id
                ))
            })
    }
}

fn to_secret_string(bytes: Vec<u8>, key_id: &str) -> Result<SecretString, StoreError> {
    String::from_utf8(bytes)
        .map(SecretString::from)
        .map_err(|_| StoreError::Crypto(format!("a secret under key id {key_id} is not UTF-8")))
}

/// The associated data that binds a stored secret to its row.
fn row_aad(merchant: i64, name: &str) -> Vec<u8> {
    format!("salla-odoo/secret/v1/{merchant}/{name}").into_bytes()
}

/// Decrypt a merchant's stored secret `name` (its row's columns, read by the caller).
pub(crate) fn open_row(
    keyring: &Keyring,
    merchant: i64,
    name: &str,
    sealed: &Sealed,
) -> Result<SecretString, StoreError> {
    let bytes = keyring
        .open_with_aad(sealed, &row_aad(merchant, name))
        .map_err(|e| with_row(e, merchant, name))?;
    to_secret_string(bytes, &sealed.key_id).map_err(|e| with_row(e, merchant, name))
}

fn with_row(e: StoreError, merchant: i64, name: &str) -> StoreError {
    match e {
        StoreError::Crypto(m) => StoreError::Crypto(format!("{name} of merchant {merchant}: {m}")),
        other => other,
    }
}

/// Store (insert or replace) a merchant's secret, sealed under the current key.
pub async fn put_secret(
    db: &Db,
    keyring: &Keyring,
    merchant: MerchantId,
    name: &str,
    plaintext: &str,
    expires_at: Option<OffsetDateTime>,
) -> Result<(), StoreError> {
    on_db!(db, pool => {
        #[allow(unused_mut)] // a session's held connection is `&mut` already
        let mut conn = pool.acquire().await?;
        put_secret_on(Conn::from(&mut *conn), keyring, merchant, name, plaintext, expires_at).await
    })
}

/// [`put_secret`] on a given connection (or transaction).
pub(crate) async fn put_secret_on(
    conn: Conn<'_>,
    keyring: &Keyring,
    merchant: MerchantId,
    name: &str,
    plaintext: &str,
    expires_at: Option<OffsetDateTime>,
) -> Result<(), StoreError> {
    let merchant = db_id(merchant)?;
    if name.is_empty() {
        return Err(StoreError::Invalid("a secret needs a name".into()));
    }
    let sealed = keyring.seal_with_aad(plaintext.as_bytes(), &row_aad(merchant, name));
    let sql = conn.with_now(
        "INSERT INTO secrets (merchant_id, name, key_id, nonce, ciphertext, expires_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, now())
         ON CONFLICT (merchant_id, name) DO UPDATE SET
            key_id = EXCLUDED.key_id,
            nonce = EXCLUDED.nonce,
            ciphertext = EXCLUDED.ciphertext,
            expires_at = EXCLUDED.expires_at,
            updated_at = now()",
    );
    on_conn!(conn, conn => {
        sqlx::query(sql)
            .bind(merchant)
            .bind(name)
            .bind(&sealed.key_id)
            .bind(&sealed.nonce)
            .bind(&sealed.ciphertext)
            .bind(ts(expires_at))
            .execute(&mut *conn)
            .await?;
    });
    Ok(())
}

/// A decrypted secret and its expiry.
#[derive(Debug, Clone)]
pub struct SecretValue {
    pub value: SecretString,
    pub expires_at: Option<OffsetDateTime>,
    pub updated_at: OffsetDateTime,
}

/// A merchant's secret, decrypted; `None` when it is not stored.
pub async fn get_secret(
    db: &Db,
    keyring: &Keyring,
    merchant: MerchantId,
    name: &str,
) -> Result<Option<SecretString>, StoreError> {
    Ok(get_secret_with_expiry(db, keyring, merchant, name)
        .await?
        .map(|s| s.value))
}

/// [`get_secret`] with the token's expiry and when it was stored.
pub async fn get_secret_with_expiry(
    db: &Db,
    keyring: &Keyring,
    merchant: MerchantId,
    name: &str,
) -> Result<Option<SecretValue>, StoreError> {
    let merchant = db_id(merchant)?;
    let row: Option<SecretRow> = on_db!(db, pool => {
        sqlx::query_as(
            "SELECT merchant_id, name, key_id, nonce, ciphertext, expires_at, updated_at
             FROM secrets WHERE merchant_id = $1 AND name = $2",
        )
        .bind(merchant)
        .bind(name)
        .fetch_optional(pool)
        .await?
    });
    let Some(row) = row else { return Ok(None) };
    let value = open_row(keyring, merchant, name, &row.sealed())?;
    Ok(Some(SecretValue {
        value,
        expires_at: row.expires_at,
        updated_at: row.updated_at,
    }))
}

/// Names of a merchant's stored secrets (never their values).
pub async fn secret_names(db: &Db, merchant: MerchantId) -> Result<Vec<String>, StoreError> {
    let id = db_id(merchant)?;
    Ok(on_db!(db, pool => {
        sqlx::query_scalar("SELECT name FROM secrets WHERE merchant_id = $1 ORDER BY name")
            .bind(id)
            .fetch_all(pool)
            .await?
    }))
}

/// Delete one secret; `true` if it existed.
pub async fn delete_secret(db: &Db, merchant: MerchantId, name: &str) -> Result<bool, StoreError> {
    let id = db_id(merchant)?;
    let deleted = on_db!(db, pool => {
        sqlx::query("DELETE FROM secrets WHERE merchant_id = $1 AND name = $2")
            .bind(id)
            .bind(name)
            .execute(pool)
            .await?
            .rows_affected()
    });
    Ok(deleted == 1)
}

/// Delete every secret of a merchant (uninstall, purge); returns how many were deleted.
pub async fn delete_secrets(db: &Db, merchant: MerchantId) -> Result<u64, StoreError> {
    let id = db_id(merchant)?;
    Ok(on_db!(db, pool => {
        sqlx::query("DELETE FROM secrets WHERE merchant_id = $1")
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected()
    }))
}

#[derive(sqlx::FromRow)]
struct SecretRow {
    merchant_id: i64,
    name: String,
    key_id: String,
    nonce: Vec<u8>,
    ciphertext: Vec<u8>,
    expires_at: Option<OffsetDateTime>,
    updated_at: OffsetDateTime,
}

impl SecretRow {
    fn sealed(&self) -> Sealed {
        Sealed {
            key_id: self.key_id.clone(),
            nonce: self.nonce.clone(),
            ciphertext: self.ciphertext.clone(),
        }
    }
}

/// How many secrets are sealed under each key id.
pub async fn count_by_key(db: &Db) -> Result<Vec<(String, i64)>, StoreError> {
    Ok(on_db!(db, pool => {
        sqlx::query_as(
            "SELECT key_id, count(*) FROM secrets GROUP BY key_id ORDER BY count(*) DESC, key_id",
        )
        .fetch_all(pool)
        .await?
    }))
}

/// Re-encrypt every secret that is not under the current key; returns how many were rewritten.
///
/// Idempotent, and safe while workers run: each row is rewritten only if it is unchanged since it
/// was read (a concurrent [`put_secret`] wins and is already under the current key), and every
/// row stays readable throughout as long as the old key is still in `previous_keys`. Rows that no
/// configured key opens are left as they are and reported in the error after all the others
/// have been rotated.
pub async fn rotate(db: &Db, keyring: &Keyring) -> Result<u64, StoreError> {
    let rows: Vec<SecretRow> = on_db!(db, pool => {
        sqlx::query_as(
            "SELECT merchant_id, name, key_id, nonce, ciphertext, expires_at, updated_at
             FROM secrets WHERE key_id <> $1 ORDER BY merchant_id, name",
        )
        .bind(keyring.current_key_id())
        .fetch_all(pool)
        .await?
    });
    let mut rotated = 0u64;
    let mut failed: Vec<String> = Vec::new();
    for row in rows {
        let aad = row_aad(row.merchant_id, &row.name);
        let plaintext = match keyring.open_with_aad(&row.sealed(), &aad) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(
                    merchant = row.merchant_id,
                    name = %row.name,
                    key_id = %row.key_id,
                    error = %e,
                    "secret cannot be rotated"
                );
                failed.push(format!(
                    "{} of merchant {} (key id {})",
                    row.name, row.merchant_id, row.key_id
                ));
                continue;
            }
        };
        let sealed = keyring.seal_with_aad(&plaintext, &aad);
        rotated += on_db!(db, pool => {
            sqlx::query(
                "UPDATE secrets SET key_id = $3, nonce = $4, ciphertext = $5
                 WHERE merchant_id = $1 AND name = $2 AND key_id = $6 AND nonce = $7",
            )
            .bind(row.merchant_id)
            .bind(&row.name)
            .bind(&sealed.key_id)
            .bind(&sealed.nonce)
            .bind(&sealed.ciphertext)
            .bind(&row.key_id)
            .bind(&row.nonce)
            .execute(pool)
            .await?
            .rows_affected()
        });
    }
    if failed.is_empty() {
        Ok(rotated)
    } else {
        Err(StoreError::Crypto(format!(
            "rotated {rotated} secret(s); {} could not be opened with any configured key: {}",
            failed.len(),
            failed.join(", ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(key: &str, previous: &[&str]) -> SecretsSettings {
        SecretsSettings {
            key: SecretString::from(key.to_owned()),
            previous_keys: previous
                .iter()
                .map(|k| SecretString::from((*k).to_owned()))
                .collect(),
        }
    }

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    #[test]
    fn seal_open_round_trip_with_fresh_nonces() {
        let ring = Keyring::from_settings(&settings(&b64(&[7; 32]), &[])).unwrap();
        let a = ring.seal(b"odoo-api-key-123");
        let b = ring.seal(b"odoo-api-key-123");
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.ciphertext, b.ciphertext);
        assert_eq!(a.nonce.len(), NONCE_LEN);
        assert_eq!(a.key_id.len(), 16);
        assert_eq!(a.key_id, ring.current_key_id());
        assert_eq!(ring.open(&a).unwrap(), b"odoo-api-key-123");
        assert_eq!(
            ring.open_string(&b).unwrap().expose_secret(),
            "odoo-api-key-123"
        );
    }

    #[test]
    fn wrong_or_unknown_key_is_a_permanent_error_naming_the_key_id() {
        let one = Keyring::from_settings(&settings(&b64(&[1; 32]), &[])).unwrap();
        let two = Keyring::from_settings(&settings(&b64(&[2; 32]), &[])).unwrap();
        let sealed = one.seal(b"token");
        let err = two.open(&sealed).unwrap_err();
        assert!(!err.is_transient());
        assert!(err.to_string().contains(&sealed.key_id), "{err}");
        // Same key id, altered data: does not authenticate.
        let mut forged = sealed.clone();
        forged.ciphertext[0] ^= 1;
        let err = one.open(&forged).unwrap_err();
        assert!(err.to_string().contains("does not authenticate"), "{err}");
        // Associated data binds the ciphertext to its row.
        let bound = one.seal_with_aad(b"token", b"row-a");
        assert!(one.open_with_aad(&bound, b"row-b").is_err());
        assert_eq!(one.open_with_aad(&bound, b"row-a").unwrap(), b"token");
    }

    #[test]
    fn previous_keys_open_but_never_seal() {
        let old = b64(&[1; 32]);
        let new = b64(&[2; 32]);
        let before = Keyring::from_settings(&settings(&old, &[])).unwrap();
        let sealed = before.seal(b"x");
        let after = Keyring::from_settings(&settings(&new, &[&old, &new])).unwrap();
        assert_eq!(after.open(&sealed).unwrap(), b"x");
        assert_eq!(after.previous_key_ids(), [before.current_key_id()]);
        assert_eq!(after.seal(b"y").key_id, after.current_key_id());
    }

    #[test]
    fn bad_keys_are_config_errors_without_key_material() {
        let err = Keyring::from_settings(&settings("", &[])).unwrap_err();
        assert!(
            err.to_string().contains("SALLA_ODOO__SECRETS__KEY"),
            "{err}"
        );
        let err = Keyring::from_settings(&settings("not*base64*hunter2", &[])).unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(err.to_string().contains("base64"), "{err}");
        let short = b64(b"sixteen-bytes!!!");
        let err = Keyring::from_settings(&settings(&short, &[])).unwrap_err();
        assert!(err.to_string().contains("16 bytes"), "{err}");
        assert!(!err.to_string().contains(&short), "{err}");
        let err = Keyring::from_settings(&settings(&b64(&[1; 32]), &["nope!"])).unwrap_err();
        assert!(err.to_string().contains("previous_keys[0]"), "{err}");
        let ring = Keyring::from_settings(&settings(&b64(&[1; 32]), &[])).unwrap();
        let dbg = format!("{ring:?}");
        assert!(dbg.contains(ring.current_key_id()) && !dbg.contains(&b64(&[1; 32])));
    }
}
