//! Enforce or observe, per reason code: the policy file's `[modes]` section.

use std::collections::HashMap;

use serde::Deserialize;

use super::PolicyError;
use crate::rejection::Rejection;

/// Whether rejections are enforced or only reported.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Mode {
    /// Refuse rejected peers (401/403). The default.
    #[default]
    Enforce,
    /// Let every peer through, report what would have been refused. For roll-out.
    Observe,
}

/// The modes a policy file asks for: a default and per-code exceptions.
///
/// ```toml
/// [modes]
/// default = "enforce"              # the default
/// observe = ["expired"]            # reported, not refused
/// enforce = []                     # for codes whose built-in default is observe
/// ```
///
/// [`GateBuilder::mode`](crate::GateBuilder::mode) and
/// [`GateBuilder::mode_for`](crate::GateBuilder::mode_for) override these. A code in
/// [`Rejection::UNAUTHENTICATED_CODES`] may not be observed here: any self-made certificate
/// can get it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModeRules {
    pub(crate) default: Option<Mode>,
    pub(crate) per_code: HashMap<&'static str, Mode>,
}

impl ModeRules {
    /// The default mode the policy states, if it states one.
    pub fn default_mode(&self) -> Option<Mode> {
        self.default
    }

    /// The mode the policy states for `code`, if it states one.
    pub fn mode_for(&self, code: &str) -> Option<Mode> {
        self.per_code.get(code).copied()
    }
}

/// The `[modes]` section as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ModesSection {
    #[serde(default)]
    default: Option<Mode>,
    #[serde(default)]
    observe: Vec<String>,
    #[serde(default)]
    enforce: Vec<String>,
}

impl ModesSection {
    pub(super) fn validate(self) -> Result<ModeRules, PolicyError> {
        let mut per_code = HashMap::new();
        for (list, mode, name) in [
            (&self.observe, Mode::Observe, "observe"),
            (&self.enforce, Mode::Enforce, "enforce"),
        ] {
            for (i, code) in list.iter().enumerate() {
                let field = format!("modes.{name}[{i}]");
                let known = known_code(code).map_err(|e| PolicyError::new(field.clone(), e))?;
                if mode == Mode::Observe && Rejection::UNAUTHENTICATED_CODES.contains(&known) {
                    return Err(PolicyError::new(field, unobservable_message(known)));
                }
                if per_code.insert(known, mode).is_some() {
                    return Err(PolicyError::new(
                        field,
                        format!("{known:?} is listed twice in [modes]"),
                    ));
                }
            }
        }
        Ok(ModeRules {
            default: self.default,
            per_code,
        })
    }
}

pub(crate) use crate::rejection::known_code;

/// Why an unauthenticated code cannot be observed alone.
pub(crate) fn unobservable_message(code: &str) -> String {
    format!(
        "{code:?} cannot be observed alone: it is decided before the chain is authenticated, so \
         any self-made certificate could get it and pass (observe the whole gate instead)"
    )
}
