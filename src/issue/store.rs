//! The database of issued certificates: SQLite (bundled), one file per CA.
//!
//! Every write is one `BEGIN IMMEDIATE` transaction, so two processes issuing or revoking at
//! once are serialized by SQLite's lock (the second waits up to the busy timeout) and neither
//! loses the other's rows. CRL numbers are allocated in the same transaction as the CRL is
//! signed and written, so concurrent revocations get distinct, increasing numbers.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension as _, TransactionBehavior, params};
use serde::Serialize;

use super::IssueError;

/// How long a writer waits for another process's transaction before giving up.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The schema version this code writes (`PRAGMA user_version`). Version 2 added `installs`.
const SCHEMA_VERSION: i64 = 2;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS certs (
    serial      TEXT PRIMARY KEY,      -- lower-case hex, as in the certificate
    app_id      TEXT NOT NULL,
    install_id  TEXT,
    subject     TEXT NOT NULL,
    not_before  INTEGER NOT NULL,      -- Unix seconds
    not_after   INTEGER NOT NULL,
    sha256      TEXT NOT NULL UNIQUE,  -- leaf fingerprint, lower-case hex
    spki_pin    TEXT NOT NULL,         -- sha256/<base64>
    issued_at   INTEGER NOT NULL,
    revoked_at  INTEGER,
    reason      TEXT
) STRICT;
CREATE INDEX IF NOT EXISTS certs_app ON certs(app_id);
CREATE INDEX IF NOT EXISTS certs_revoked ON certs(revoked_at) WHERE revoked_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS certs_not_after ON certs(not_after);
CREATE TABLE IF NOT EXISTS crl_numbers (
    issuer TEXT PRIMARY KEY,           -- 'root' or 'intermediate'
    number INTEGER NOT NULL
) STRICT;
";

/// Version 2: the installs enrolled by attestation (feature `enroll`).
const SCHEMA_INSTALLS: &str = "
CREATE TABLE IF NOT EXISTS installs (
    install_id  TEXT PRIMARY KEY,      -- lower-case UUID, as in the certificate's urn:uuid
    app_id      TEXT NOT NULL,
    platform    TEXT NOT NULL,         -- 'android' | 'ios'
    spki        BLOB NOT NULL,         -- the attested key's SubjectPublicKeyInfo (DER)
    facts       BLOB NOT NULL,         -- the attestation facts extension's DER
    key_id      BLOB,                  -- App Attest key id
    attest_key  BLOB,                  -- App Attest public key (SEC1 point), for assertions
    counter     INTEGER,               -- App Attest sign counter, the highest seen
    receipt     BLOB,                  -- App Attest receipt (stored, not validated)
    enrolled_at INTEGER NOT NULL,
    revoked_at  INTEGER
) STRICT;
CREATE INDEX IF NOT EXISTS certs_install ON certs(install_id) WHERE install_id IS NOT NULL;
";

/// A CRL reason code (RFC 5280 §5.3.1). `remove_from_crl` and `aa_compromise` are left out: the
/// first is for delta CRLs, the second for attribute certificates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RevocationReason {
    /// affiliationChanged (3).
    AffiliationChanged,
    /// cACompromise (2).
    CaCompromise,
    /// certificateHold (6).
    CertificateHold,
    /// cessationOfOperation (5).
    CessationOfOperation,
    /// keyCompromise (1).
    KeyCompromise,
    /// privilegeWithdrawn (9).
    PrivilegeWithdrawn,
    /// superseded (4).
    Superseded,
    /// unspecified (0). The default; RFC 5280 recommends leaving the code out then, and the
    /// CRL does.
    #[default]
    Unspecified,
}

impl RevocationReason {
    /// Every reason, alphabetical.
    pub const ALL: [RevocationReason; 8] = [
        RevocationReason::AffiliationChanged,
        RevocationReason::CaCompromise,
        RevocationReason::CertificateHold,
        RevocationReason::CessationOfOperation,
        RevocationReason::KeyCompromise,
        RevocationReason::PrivilegeWithdrawn,
        RevocationReason::Superseded,
        RevocationReason::Unspecified,
    ];

    /// The snake_case name used by the CLI and the database.
    pub fn name(self) -> &'static str {
        match self {
            RevocationReason::AffiliationChanged => "affiliation_changed",
            RevocationReason::CaCompromise => "ca_compromise",
            RevocationReason::CertificateHold => "certificate_hold",
            RevocationReason::CessationOfOperation => "cessation_of_operation",
            RevocationReason::KeyCompromise => "key_compromise",
            RevocationReason::PrivilegeWithdrawn => "privilege_withdrawn",
            RevocationReason::Superseded => "superseded",
            RevocationReason::Unspecified => "unspecified",
        }
    }

    pub(crate) fn rcgen(self) -> Option<rcgen::RevocationReason> {
        Some(match self {
            RevocationReason::AffiliationChanged => rcgen::RevocationReason::AffiliationChanged,
            RevocationReason::CaCompromise => rcgen::RevocationReason::CaCompromise,
            RevocationReason::CertificateHold => rcgen::RevocationReason::CertificateHold,
            RevocationReason::CessationOfOperation => rcgen::RevocationReason::CessationOfOperation,
            RevocationReason::KeyCompromise => rcgen::RevocationReason::KeyCompromise,
            RevocationReason::PrivilegeWithdrawn => rcgen::RevocationReason::PrivilegeWithdrawn,
            RevocationReason::Superseded => rcgen::RevocationReason::Superseded,
            RevocationReason::Unspecified => return None,
        })
    }
}

impl fmt::Display for RevocationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for RevocationReason {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RevocationReason::ALL
            .into_iter()
            .find(|r| r.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = RevocationReason::ALL.iter().map(|r| r.name()).collect();
                format!("unknown reason {s:?}: one of {}", names.join(", "))
            })
    }
}

/// One issued certificate, as the database holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CertRecord {
    /// Serial number, lower-case hex (no leading `00`).
    pub serial: String,
    /// The app id (`app://<app id>` in the certificate).
    pub app_id: String,
    /// The install id (`urn:uuid:<id>` in the certificate), when issued with one.
    pub install_id: Option<String>,
    /// The subject, as text (`CN=...`).
    pub subject: String,
    /// notBefore, Unix seconds.
    pub not_before: i64,
    /// notAfter, Unix seconds.
    pub not_after: i64,
    /// SHA-256 of the certificate's DER, lower-case hex (certgate's `fingerprint`).
    pub sha256: String,
    /// `sha256/<base64>` of the SubjectPublicKeyInfo (certgate's pin format).
    pub spki_pin: String,
    /// When it was issued, Unix seconds.
    pub issued_at: i64,
    /// When it was revoked, Unix seconds.
    pub revoked_at: Option<i64>,
    /// Why it was revoked.
    pub reason: Option<RevocationReason>,
}

/// One install enrolled by attestation, as the database holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct InstallRecord {
    /// The install id (lower-case UUID).
    pub install_id: String,
    /// The app id it was enrolled for.
    pub app_id: String,
    /// The attested key, a DER SubjectPublicKeyInfo: every certificate of the install certifies it.
    pub spki: Vec<u8>,
    /// What the platform attested.
    pub facts: crate::AttestationFacts,
    /// App Attest: the key id (SHA-256 of the App Attest public key).
    pub key_id: Option<Vec<u8>>,
    /// App Attest: the App Attest public key (uncompressed SEC1 point) that renewals'
    /// assertions are verified with.
    pub attest_key: Option<Vec<u8>>,
    /// App Attest: the highest sign counter seen (0 at enrollment).
    pub counter: Option<u32>,
    /// App Attest: the receipt, stored as received (not validated).
    pub receipt: Option<Vec<u8>>,
    /// When it enrolled, Unix seconds.
    pub enrolled_at: i64,
    /// When it was revoked, Unix seconds.
    pub revoked_at: Option<i64>,
}

impl InstallRecord {
    /// An install enrolled now-ish (set `enrolled_at`), not revoked, without App Attest data.
    pub fn new(
        install_id: &str,
        app_id: &str,
        spki: Vec<u8>,
        facts: crate::AttestationFacts,
    ) -> Self {
        Self {
            install_id: install_id.to_ascii_lowercase(),
            app_id: app_id.to_owned(),
            spki,
            facts,
            key_id: None,
            attest_key: None,
            counter: None,
            receipt: None,
            enrolled_at: 0,
            revoked_at: None,
        }
    }
}

/// Which records [`Store::list`] returns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListFilter {
    /// Only this app id.
    pub app_id: Option<String>,
    /// Only revoked certificates.
    pub revoked: bool,
    /// Only certificates not revoked whose notAfter is before this time (Unix seconds).
    pub expiring_before: Option<i64>,
    /// At most this many rows (newest first); `None` for all.
    pub limit: Option<u32>,
}

/// The issued-certificate database.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens (or creates) the database at `path` and brings its schema up to date. A file that
    /// is not a certgate database (or a newer schema) is refused, naming the file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, IssueError> {
        let path = path.as_ref().to_path_buf();
        let conn = Connection::open(&path).map_err(|e| db_error(&path, e))?;
        let mut store = Self { conn, path };
        store.prepare()?;
        Ok(store)
    }

    /// Opens an existing database; refuses a missing file rather than creating an empty one.
    pub fn open_existing(path: impl AsRef<Path>) -> Result<Self, IssueError> {
        let path = path.as_ref();
        if !path.is_file() {
            return Err(IssueError::Database {
                path: path.to_path_buf(),
                message: "no such database (run `certgate ca init` first)".into(),
            });
        }
        Self::open(path)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn prepare(&mut self) -> Result<(), IssueError> {
        let path = self.path.clone();
        let err = |e| db_error(&path, e);
        self.conn.busy_timeout(BUSY_TIMEOUT).map_err(err)?;
        // WAL: readers (list, a server) never block the writer, and a crash mid-write leaves
        // the last committed state.
        let _: String = self
            .conn
            .query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))
            .map_err(err)?;
        self.conn
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(err)?;
        let version: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(err)?;
        match version {
            0 => {
                let tx = self
                    .conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .map_err(err)?;
                tx.execute_batch(SCHEMA).map_err(err)?;
                tx.execute_batch(SCHEMA_INSTALLS).map_err(err)?;
                tx.pragma_update(None, "user_version", SCHEMA_VERSION)
                    .map_err(err)?;
                tx.commit().map_err(err)?;
                Ok(())
            }
            1 => {
                let tx = self
                    .conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .map_err(err)?;
                tx.execute_batch(SCHEMA_INSTALLS).map_err(err)?;
                tx.pragma_update(None, "user_version", SCHEMA_VERSION)
                    .map_err(err)?;
                tx.commit().map_err(err)?;
                Ok(())
            }
            SCHEMA_VERSION => Ok(()),
            other => Err(IssueError::Database {
                path: self.path.clone(),
                message: format!(
                    "schema version {other}, this certgate knows {SCHEMA_VERSION}: a newer \
                     certgate wrote it"
                ),
            }),
        }
    }

    /// Adds an issued certificate.
    pub fn insert(&mut self, record: &CertRecord) -> Result<(), IssueError> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| db_error(&path, e))?;
        insert_row(&tx, record).map_err(|e| db_error(&path, e))?;
        tx.commit().map_err(|e| db_error(&path, e))
    }

    /// Adds many records in one transaction (imports, benchmarks).
    pub fn insert_many<'a>(
        &mut self,
        records: impl IntoIterator<Item = &'a CertRecord>,
    ) -> Result<(), IssueError> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| db_error(&path, e))?;
        for record in records {
            insert_row(&tx, record).map_err(|e| db_error(&path, e))?;
        }
        tx.commit().map_err(|e| db_error(&path, e))
    }

    /// The record with this serial (lower-case hex, as [`CertRecord::serial`]).
    pub fn by_serial(&self, serial: &str) -> Result<Option<CertRecord>, IssueError> {
        self.one("serial = ?1", serial)
    }

    /// The record whose certificate has this SHA-256 (lower-case hex).
    pub fn by_fingerprint(&self, sha256: &str) -> Result<Option<CertRecord>, IssueError> {
        self.one("sha256 = ?1", sha256)
    }

    /// Records matching `filter`, newest first.
    pub fn list(&self, filter: &ListFilter) -> Result<Vec<CertRecord>, IssueError> {
        let mut sql = format!("SELECT {COLUMNS} FROM certs WHERE 1=1");
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        if let Some(app) = &filter.app_id {
            args.push(app.clone().into());
            sql.push_str(&format!(" AND app_id = ?{}", args.len()));
        }
        if filter.revoked {
            sql.push_str(" AND revoked_at IS NOT NULL");
        }
        if let Some(before) = filter.expiring_before {
            args.push(before.into());
            sql.push_str(&format!(
                " AND revoked_at IS NULL AND not_after < ?{}",
                args.len()
            ));
        }
        sql.push_str(" ORDER BY issued_at DESC, serial");
        if let Some(limit) = filter.limit {
            sql.push_str(&format!(" LIMIT {limit}"));
        }
        let path = &self.path;
        let mut stmt = self.conn.prepare(&sql).map_err(|e| db_error(path, e))?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(args), row_record)
            .map_err(|e| db_error(path, e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| db_error(path, e))
    }

    /// How many certificates were issued, and how many of them are revoked.
    pub fn counts(&self) -> Result<(u64, u64), IssueError> {
        self.conn
            .query_row("SELECT COUNT(*), COUNT(revoked_at) FROM certs", [], |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?))
            })
            .map(|(all, revoked)| (clamp(all), clamp(revoked)))
            .map_err(|e| db_error(&self.path, e))
    }

    /// The install enrolled with this id, if any.
    pub fn install(&self, install_id: &str) -> Result<Option<InstallRecord>, IssueError> {
        self.conn
            .query_row(
                &format!("SELECT {INSTALL_COLUMNS} FROM installs WHERE install_id = ?1"),
                [install_id],
                row_install,
            )
            .optional()
            .map_err(|e| db_error(&self.path, e))?
            .transpose()
            .map_err(|message| IssueError::Database {
                path: self.path.clone(),
                message,
            })
    }

    /// Raises an install's App Attest counter to `counter` if it is higher than the stored one,
    /// atomically (two renewals racing with the same assertion: one wins). Returns whether it
    /// was raised.
    pub fn raise_counter(&mut self, install_id: &str, counter: u32) -> Result<bool, IssueError> {
        self.write(|w| {
            w.tx.execute(
                "UPDATE installs SET counter = ?2 WHERE install_id = ?1 AND revoked_at IS NULL \
                 AND counter IS NOT NULL AND counter < ?2",
                params![install_id, i64::from(counter)],
            )
            .map(|n| n == 1)
            .map_err(|e| db_error(w.path, e))
        })
    }

    /// Runs `f` inside one `BEGIN IMMEDIATE` transaction; commits when it returns `Ok`.
    pub(crate) fn write<T>(
        &mut self,
        f: impl FnOnce(&Writer<'_>) -> Result<T, IssueError>,
    ) -> Result<T, IssueError> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| db_error(&path, e))?;
        let value = f(&Writer {
            tx: &tx,
            path: &path,
        })?;
        tx.commit().map_err(|e| db_error(&path, e))?;
        Ok(value)
    }

    fn one(&self, condition: &str, value: &str) -> Result<Option<CertRecord>, IssueError> {
        let sql = format!("SELECT {COLUMNS} FROM certs WHERE {condition}");
        self.conn
            .query_row(&sql, [value], row_record)
            .optional()
            .map_err(|e| db_error(&self.path, e))
    }
}

/// Operations inside a write transaction.
pub(crate) struct Writer<'a> {
    tx: &'a rusqlite::Transaction<'a>,
    path: &'a Path,
}

impl Writer<'_> {
    pub(crate) fn insert(&self, record: &CertRecord) -> Result<(), IssueError> {
        insert_row(self.tx, record).map_err(|e| db_error(self.path, e))
    }

    pub(crate) fn by_serial(&self, serial: &str) -> Result<Option<CertRecord>, IssueError> {
        self.tx
            .query_row(
                &format!("SELECT {COLUMNS} FROM certs WHERE serial = ?1"),
                [serial],
                row_record,
            )
            .optional()
            .map_err(|e| db_error(self.path, e))
    }

    pub(crate) fn by_fingerprint(&self, sha256: &str) -> Result<Option<CertRecord>, IssueError> {
        self.tx
            .query_row(
                &format!("SELECT {COLUMNS} FROM certs WHERE sha256 = ?1"),
                [sha256],
                row_record,
            )
            .optional()
            .map_err(|e| db_error(self.path, e))
    }

    pub(crate) fn mark_revoked(
        &self,
        serial: &str,
        at: i64,
        reason: RevocationReason,
    ) -> Result<(), IssueError> {
        self.tx
            .execute(
                "UPDATE certs SET revoked_at = ?2, reason = ?3 WHERE serial = ?1 AND revoked_at IS NULL",
                params![serial, at, reason.name()],
            )
            .map(drop)
            .map_err(|e| db_error(self.path, e))
    }

    pub(crate) fn insert_install(&self, r: &InstallRecord) -> Result<(), IssueError> {
        self.tx
            .execute(
                "INSERT INTO installs (install_id, app_id, platform, spki, facts, key_id, attest_key, \
                 counter, receipt, enrolled_at, revoked_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    r.install_id,
                    r.app_id,
                    r.facts.platform.as_str(),
                    r.spki,
                    r.facts.to_der(),
                    r.key_id,
                    r.attest_key,
                    r.counter.map(i64::from),
                    r.receipt,
                    r.enrolled_at,
                    r.revoked_at,
                ],
            )
            .map(drop)
            .map_err(|e| db_error(self.path, e))
    }

    /// The certificates of an install that are not revoked yet.
    pub(crate) fn live_certs_of_install(
        &self,
        install_id: &str,
    ) -> Result<Vec<CertRecord>, IssueError> {
        let mut stmt = self
            .tx
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM certs WHERE install_id = ?1 AND revoked_at IS NULL"
            ))
            .map_err(|e| db_error(self.path, e))?;
        let rows = stmt
            .query_map([install_id], row_record)
            .map_err(|e| db_error(self.path, e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| db_error(self.path, e))
    }

    /// Marks an install revoked; `false` when there is no such install (or it already was).
    pub(crate) fn revoke_install(&self, install_id: &str, at: i64) -> Result<bool, IssueError> {
        self.tx
            .execute(
                "UPDATE installs SET revoked_at = ?2 WHERE install_id = ?1 AND revoked_at IS NULL",
                params![install_id, at],
            )
            .map(|n| n == 1)
            .map_err(|e| db_error(self.path, e))
    }

    /// Every revoked certificate: (serial hex, revoked at, reason).
    pub(crate) fn revoked(&self) -> Result<Vec<(String, i64, RevocationReason)>, IssueError> {
        let mut stmt = self
            .tx
            .prepare_cached(
                "SELECT serial, revoked_at, reason FROM certs WHERE revoked_at IS NOT NULL \
                 ORDER BY serial",
            )
            .map_err(|e| db_error(self.path, e))?;
        let rows = stmt
            .query_map([], |row| {
                let reason: Option<String> = row.get(2)?;
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, i64>(1)?,
                    reason.and_then(|r| r.parse().ok()).unwrap_or_default(),
                ))
            })
            .map_err(|e| db_error(self.path, e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| db_error(self.path, e))
    }

    /// The next CRL number for `issuer`: one more than the last (1 for the first), stored.
    pub(crate) fn next_crl_number(&self, issuer: &str, at_least: u64) -> Result<u64, IssueError> {
        let last: Option<i64> = self
            .tx
            .query_row(
                "SELECT number FROM crl_numbers WHERE issuer = ?1",
                [issuer],
                |row| row.get(0),
            )
            .optional()
            .map_err(|e| db_error(self.path, e))?;
        let next = clamp(last.unwrap_or(0)).max(at_least).saturating_add(1);
        let stored = i64::try_from(next).map_err(|_| IssueError::Database {
            path: self.path.to_path_buf(),
            message: "CRL number overflow".into(),
        })?;
        self.tx
            .execute(
                "INSERT INTO crl_numbers (issuer, number) VALUES (?1, ?2) \
                 ON CONFLICT(issuer) DO UPDATE SET number = excluded.number",
                params![issuer, stored],
            )
            .map_err(|e| db_error(self.path, e))?;
        Ok(next)
    }
}

const COLUMNS: &str = "serial, app_id, install_id, subject, not_before, not_after, sha256, \
                       spki_pin, issued_at, revoked_at, reason";

fn insert_row(tx: &rusqlite::Transaction<'_>, r: &CertRecord) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO certs (serial, app_id, install_id, subject, not_before, not_after, sha256, \
         spki_pin, issued_at, revoked_at, reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?;
    stmt.execute(params![
        r.serial,
        r.app_id,
        r.install_id,
        r.subject,
        r.not_before,
        r.not_after,
        r.sha256,
        r.spki_pin,
        r.issued_at,
        r.revoked_at,
        r.reason.map(RevocationReason::name),
    ])?;
    Ok(())
}

const INSTALL_COLUMNS: &str = "install_id, app_id, spki, facts, key_id, attest_key, counter, receipt, enrolled_at, revoked_at";

/// An install row; the inner `Err` names a row whose facts do not parse.
fn row_install(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<InstallRecord, String>> {
    let install_id: String = row.get(0)?;
    let facts: Vec<u8> = row.get(3)?;
    let counter: Option<i64> = row.get(6)?;
    let Some(facts) = crate::AttestationFacts::from_der(&facts) else {
        return Ok(Err(format!(
            "install {install_id}: unreadable attestation facts"
        )));
    };
    Ok(Ok(InstallRecord {
        app_id: row.get(1)?,
        spki: row.get(2)?,
        facts,
        key_id: row.get(4)?,
        attest_key: row.get(5)?,
        counter: counter.and_then(|c| u32::try_from(c).ok()),
        receipt: row.get(7)?,
        enrolled_at: row.get(8)?,
        revoked_at: row.get(9)?,
        install_id,
    }))
}

fn row_record(row: &rusqlite::Row<'_>) -> rusqlite::Result<CertRecord> {
    let reason: Option<String> = row.get(10)?;
    Ok(CertRecord {
        serial: row.get(0)?,
        app_id: row.get(1)?,
        install_id: row.get(2)?,
        subject: row.get(3)?,
        not_before: row.get(4)?,
        not_after: row.get(5)?,
        sha256: row.get(6)?,
        spki_pin: row.get(7)?,
        issued_at: row.get(8)?,
        revoked_at: row.get(9)?,
        reason: reason.and_then(|r| r.parse().ok()),
    })
}

fn clamp(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn db_error(path: &Path, e: rusqlite::Error) -> IssueError {
    let message = match &e {
        rusqlite::Error::SqliteFailure(code, _)
            if code.code == rusqlite::ErrorCode::DatabaseBusy
                || code.code == rusqlite::ErrorCode::DatabaseLocked =>
        {
            format!(
                "locked by another process for more than {} s ({e}); nothing was changed",
                BUSY_TIMEOUT.as_secs()
            )
        }
        rusqlite::Error::SqliteFailure(code, _)
            if code.code == rusqlite::ErrorCode::NotADatabase =>
        {
            format!("not a SQLite database, or damaged ({e})")
        }
        _ => e.to_string(),
    };
    IssueError::Database {
        path: path.to_path_buf(),
        message,
    }
}
