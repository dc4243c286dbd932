//! Roles: which parts of Tailor a process runs (`roles = [...]`, `tailor serve --roles`).
//! One process runs them all by default; over a Kafka log and a Redis online store they can
//! run in separate processes and be scaled on their own (ADR 0016).
//!
//! - `collector`: the Segment-compatible ingest endpoints and the schema registry's writes.
//! - `processor`: the live processor (features, live model, checkpoints).
//! - `lake`: the lake sink (Parquet files, manifests, quality checks, maintenance).
//! - `trainer`: scheduled retraining and `POST /v1/admin/train`.
//! - `api`: recommendations, features, SQL, experiments and their statistics.
//!
//! Every process serves the ops endpoints (`/metrics`, `/health`, `/ready`, `/v1/status`,
//! the dashboard), the item catalog, API keys and dead letters. An endpoint of a role the
//! process does not run answers `421 Misdirected Request` naming the role.

use std::fmt;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::state::App;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Collector,
    Processor,
    Lake,
    Trainer,
    Api,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Collector,
        Role::Processor,
        Role::Lake,
        Role::Trainer,
        Role::Api,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Role::Collector => "collector",
            Role::Processor => "processor",
            Role::Lake => "lake",
            Role::Trainer => "trainer",
            Role::Api => "api",
        }
    }

    /// A role by name; the error lists the names.
    pub fn parse(s: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.name() == s.trim())
            .ok_or_else(|| {
                format!(
                    "{s:?} is not a role: use {}",
                    Role::ALL.map(Role::name).join(", ")
                )
            })
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The roles of one process: a set, written in the config as a list of names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct Roles(Vec<Role>);

impl Default for Roles {
    fn default() -> Self {
        Roles(Role::ALL.to_vec())
    }
}

impl Roles {
    /// Parses `collector,processor` (the `--roles` flag's form); `all` is every role.
    pub fn parse_list(s: &str) -> Result<Roles, String> {
        if s.trim() == "all" {
            return Ok(Roles::default());
        }
        Roles::try_from(s.split(',').map(str::to_owned).collect::<Vec<_>>())
    }

    pub fn has(&self, role: Role) -> bool {
        self.0.contains(&role)
    }

    pub fn is_all(&self) -> bool {
        Role::ALL.iter().all(|r| self.has(*r))
    }

    pub fn iter(&self) -> impl Iterator<Item = Role> + '_ {
        self.0.iter().copied()
    }
}

impl TryFrom<Vec<String>> for Roles {
    type Error = String;

    fn try_from(names: Vec<String>) -> Result<Self, String> {
        let mut roles = Vec::new();
        for n in names.iter().filter(|n| !n.trim().is_empty()) {
            let r = Role::parse(n).map_err(|e| format!("roles: {e}"))?;
            if !roles.contains(&r) {
                roles.push(r);
            }
        }
        if roles.is_empty() {
            return Err(format!(
                "roles: name at least one of {}",
                Role::ALL.map(Role::name).join(", ")
            ));
        }
        roles.sort();
        Ok(Roles(roles))
    }
}

impl From<Roles> for Vec<String> {
    fn from(r: Roles) -> Vec<String> {
        r.0.iter().map(|r| r.name().to_owned()).collect()
    }
}

impl fmt::Display for Roles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.0.iter().map(|r| r.name()).collect();
        f.write_str(&names.join(","))
    }
}

/// The answer for an endpoint of a role this process does not run.
pub fn misdirected(role: Role, roles: &Roles) -> ApiError {
    ApiError::new(
        StatusCode::MISDIRECTED_REQUEST,
        "role_not_running",
        format!(
            "this process runs the roles {roles}; this endpoint belongs to the {role} role: \
             send it to a process started with that role (tailor serve --roles {role})"
        ),
    )
}

/// Middleware for a group of routes that need `role` (used as a route layer, so only
/// matched routes are checked).
pub async fn require(State((app, role)): State<(App, Role)>, req: Request, next: Next) -> Response {
    if app.cfg.roles.has(role) {
        next.run(req).await
    } else {
        misdirected(role, &app.cfg.roles).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse_dedupe_and_name_bad_entries() {
        let r = Roles::parse_list("api, collector,api").expect("parses");
        assert_eq!(r.to_string(), "collector,api");
        assert!(r.has(Role::Api) && !r.has(Role::Processor));
        assert!(Roles::parse_list("all").expect("all").is_all());
        let e = Roles::parse_list("api,procesor").expect_err("typo");
        assert!(e.contains("\"procesor\"") && e.contains("processor"), "{e}");
        assert!(Roles::parse_list(" , ")
            .expect_err("empty")
            .contains("at least one"));
        let json: Roles = serde_json::from_str(r#"["trainer","lake"]"#).expect("json");
        assert_eq!(
            serde_json::to_string(&json).expect("json"),
            r#"["lake","trainer"]"#
        );
    }
}
