//! `PolicyError`: names the file and the field.

use std::fmt;
use std::path::{Path, PathBuf};

/// A policy could not be loaded or built. The message names the file (when there is one) and
/// the field, for example `policy.toml: trust.anchors[1]: no such file: ca.pem`.
#[derive(Debug)]
pub struct PolicyError {
    file: Option<PathBuf>,
    field: String,
    message: String,
}

impl PolicyError {
    pub(crate) fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            file: None,
            field: field.into(),
            message: message.into(),
        }
    }

    pub(crate) fn in_file(mut self, file: &Path) -> Self {
        if self.file.is_none() {
            self.file = Some(file.to_path_buf());
        }
        self
    }

    /// Names the certificate or CRL file the field was read from, unless the message does.
    pub(crate) fn about_file(mut self, file: &str) -> Self {
        if !self.message.contains(file) {
            self.message = format!("{file}: {}", self.message);
        }
        self
    }

    /// The policy file, when the policy came from one.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// The field at fault, for example `apps[0].pins[2]` (empty for whole-file syntax errors).
    pub fn field(&self) -> &str {
        &self.field
    }

    /// What is wrong with it.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{}: ", file.display())?;
        }
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for PolicyError {}
