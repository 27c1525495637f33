//! Users and the rules for their fields: e-mail, names, roles, passwords (R-ACC-*). Pure.

use serde::{Deserialize, Serialize};

use super::access::{Grants, Permission, Role, misplaced_permissions};
use super::ids::{GroupId, UserId};

pub const PASSWORD_MIN_CHARS: usize = 10;
pub const PASSWORD_MAX_CHARS: usize = 256;
const NAME_MAX_CHARS: usize = 100;
const EMAIL_MAX_CHARS: usize = 254;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Language {
    Es,
    En,
}

/// Two-factor state of a user who enrolled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totp {
    pub secret: Vec<u8>,
    /// The last time step accepted, so a code cannot be used twice.
    pub last_step: u64,
    /// SHA-256 of each unused recovery code.
    pub recovery: Vec<[u8; 32]>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    pub first_name: String,
    pub last_name: String,
    /// Lower-case; unique.
    pub email: String,
    pub roles: Vec<Role>,
    #[serde(default)]
    pub permissions: Vec<Permission>,
    /// `None`: the UI follows the browser's language.
    #[serde(default)]
    pub language: Option<Language>,
    pub active: bool,
    /// argon2id PHC string; `None` until the invite is accepted.
    #[serde(default)]
    pub password_hash: Option<String>,
    #[serde(default)]
    pub totp: Option<Totp>,
    /// A secret shown to the user, waiting for a first code to confirm it.
    #[serde(default)]
    pub totp_pending: Option<Vec<u8>>,
    /// Set by an administrator: the user must enrol in two-factor login.
    #[serde(default)]
    pub totp_required: bool,
    /// R-GRP-3: e-mail when a conversation is assigned to them.
    #[serde(default)]
    pub notify_assignments: bool,
    /// R-GRP-3: e-mail when a conversation starts waiting in the queue of one of their groups.
    #[serde(default)]
    pub notify_group_queue: bool,
    pub created_at: u64,
    pub updated_at: u64,
}

impl User {
    pub fn grants(&self) -> Grants {
        Grants { roles: self.roles.clone(), permissions: self.permissions.clone() }
    }

    pub fn full_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name).trim().to_owned()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub id: GroupId,
    pub name: String,
    pub members: Vec<UserId>,
    pub created_at: u64,
    /// Deleted groups are kept for history and reports (R-GRP-2), hidden everywhere else.
    #[serde(default)]
    pub deleted_at: Option<u64>,
    /// Capacity, policy and queue limit of the group's queue.
    #[serde(default)]
    pub rules: crate::domain::routing::GroupRules,
}

/// An input that breaks a rule, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Invalid {
    pub field: &'static str,
    pub message: String,
}

impl Invalid {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Invalid { field, message: message.into() }
    }
}

/// Trims and lower-cases an e-mail address and checks its shape.
pub fn normalize_email(raw: &str) -> Result<String, Invalid> {
    let email = raw.trim().to_lowercase();
    let bad = |message: &str| Invalid::new("email", message);
    if email.is_empty() {
        return Err(bad("is required"));
    }
    if email.chars().count() > EMAIL_MAX_CHARS {
        return Err(bad("is too long"));
    }
    if email.chars().any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>' || c == ',') {
        return Err(bad("must be a single address without spaces"));
    }
    match email.split_once('@') {
        Some((local, domain)) if !local.is_empty() && !domain.is_empty() && !domain.contains('@') => Ok(email),
        _ => Err(bad("must look like name@example.com")),
    }
}

/// Trims a first or last name; required, at most 100 characters, no control characters.
pub fn clean_name(field: &'static str, raw: &str) -> Result<String, Invalid> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(Invalid::new(field, "is required"));
    }
    if name.chars().count() > NAME_MAX_CHARS {
        return Err(Invalid::new(field, format!("must be at most {NAME_MAX_CHARS} characters")));
    }
    if name.chars().any(char::is_control) {
        return Err(Invalid::new(field, "must not contain control characters"));
    }
    Ok(name.to_owned())
}

pub fn check_password(password: &str, email: &str) -> Result<(), Invalid> {
    let chars = password.chars().count();
    if chars < PASSWORD_MIN_CHARS {
        return Err(Invalid::new("password", format!("must be at least {PASSWORD_MIN_CHARS} characters")));
    }
    if chars > PASSWORD_MAX_CHARS {
        return Err(Invalid::new("password", format!("must be at most {PASSWORD_MAX_CHARS} characters")));
    }
    if password.trim().eq_ignore_ascii_case(email) {
        return Err(Invalid::new("password", "must not be your e-mail address"));
    }
    Ok(())
}

/// At least one role, no role twice, and only optional permissions the roles can carry.
pub fn check_roles(roles: &[Role], permissions: &[Permission]) -> Result<(Vec<Role>, Vec<Permission>), Invalid> {
    if roles.is_empty() {
        return Err(Invalid::new("roles", "choose at least one role"));
    }
    let misplaced = misplaced_permissions(roles, permissions);
    if let Some(first) = misplaced.first() {
        return Err(Invalid::new(
            "permissions",
            format!("{} is not an optional permission of the chosen roles", first.as_str()),
        ));
    }
    let mut roles = roles.to_vec();
    roles.sort();
    roles.dedup();
    let mut permissions = permissions.to_vec();
    permissions.sort();
    permissions.dedup();
    Ok((roles, permissions))
}

/// Trims a group name; required, at most 100 characters.
pub fn clean_group_name(raw: &str) -> Result<String, Invalid> {
    clean_name("name", raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        assert_eq!(normalize_email("  Ana.Perez@Example.COM ").unwrap(), "ana.perez@example.com");
        assert_eq!(normalize_email("admin@localhost").unwrap(), "admin@localhost");
        for bad in ["", "ana", "@example.com", "ana@", "a b@example.com", "a@b@c", "<a@b.c>"] {
            assert_eq!(normalize_email(bad).unwrap_err().field, "email", "{bad:?}");
        }
    }

    #[test]
    fn names_are_required_and_bounded() {
        assert_eq!(clean_name("first_name", "  Ana ").unwrap(), "Ana");
        assert!(clean_name("first_name", "   ").is_err());
        assert!(clean_name("last_name", &"x".repeat(101)).is_err());
        assert!(clean_name("last_name", "a\u{0}b").is_err());
    }

    #[test]
    fn passwords_have_a_length_range_and_are_not_the_email() {
        assert!(check_password("correct horse", "ana@example.com").is_ok());
        assert_eq!(check_password("short", "a@b.c").unwrap_err().field, "password");
        assert!(check_password(&"x".repeat(257), "a@b.c").is_err());
        assert!(check_password("Ana@Example.com", "ana@example.com").is_err());
        assert!(check_password("ñandú-ñandú", "a@b.c").is_ok(), "counts characters, not bytes");
    }

    #[test]
    fn roles_are_required_and_permissions_must_fit_them() {
        assert!(check_roles(&[], &[]).is_err());
        let (roles, permissions) =
            check_roles(&[Role::Agent, Role::Agent], &[Permission::Transfer, Permission::Dispenser]).unwrap();
        assert_eq!(roles, vec![Role::Agent]);
        assert_eq!(permissions, vec![Permission::Dispenser, Permission::Transfer]);
        let err = check_roles(&[Role::Stakeholder], &[Permission::Reconcile]).unwrap_err();
        assert_eq!(err.field, "permissions");
        assert!(err.message.contains("reconcile"));
    }
}

/// What an administrator fills in to create a user.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub roles: Vec<Role>,
    #[serde(default)]
    pub permissions: Vec<Permission>,
    #[serde(default)]
    pub language: Option<Language>,
    #[serde(default)]
    pub totp_required: bool,
}

impl NewUser {
    /// The user this input describes, checked field by field.
    pub fn into_user(self, id: UserId, now: u64) -> Result<User, Invalid> {
        let (roles, permissions) = check_roles(&self.roles, &self.permissions)?;
        Ok(User {
            id,
            first_name: clean_name("first_name", &self.first_name)?,
            last_name: clean_name("last_name", &self.last_name)?,
            email: normalize_email(&self.email)?,
            roles,
            permissions,
            language: self.language,
            active: true,
            password_hash: None,
            totp: None,
            totp_pending: None,
            totp_required: self.totp_required,
            notify_assignments: false,
            notify_group_queue: false,
            created_at: now,
            updated_at: now,
        })
    }
}

/// An administrator's change to a user; absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub roles: Option<Vec<Role>>,
    pub permissions: Option<Vec<Permission>>,
    pub active: Option<bool>,
    pub totp_required: Option<bool>,
}

/// Sets the names a patch gives, checked.
fn apply_names(next: &mut User, first: &Option<String>, last: &Option<String>) -> Result<(), Invalid> {
    if let Some(name) = first {
        next.first_name = clean_name("first_name", name)?;
    }
    if let Some(name) = last {
        next.last_name = clean_name("last_name", name)?;
    }
    Ok(())
}

impl UserPatch {
    pub fn apply(&self, user: &User, now: u64) -> Result<User, Invalid> {
        let mut next = user.clone();
        apply_names(&mut next, &self.first_name, &self.last_name)?;
        if let Some(email) = &self.email {
            next.email = normalize_email(email)?;
        }
        let roles = self.roles.as_ref().unwrap_or(&user.roles);
        let permissions = self.permissions.as_ref().unwrap_or(&user.permissions);
        (next.roles, next.permissions) = check_roles(roles, permissions)?;
        if let Some(active) = self.active {
            next.active = active;
        }
        if let Some(required) = self.totp_required {
            next.totp_required = required;
        }
        next.updated_at = now;
        Ok(next)
    }
}

/// A user's change to their own profile.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfilePatch {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// `null` goes back to following the browser.
    #[serde(default, with = "double_option")]
    pub language: Option<Option<Language>>,
    pub notify_assignments: Option<bool>,
    pub notify_group_queue: Option<bool>,
}

impl ProfilePatch {
    pub fn apply(&self, user: &User, now: u64) -> Result<User, Invalid> {
        let mut next = user.clone();
        apply_names(&mut next, &self.first_name, &self.last_name)?;
        if let Some(language) = self.language {
            next.language = language;
        }
        if let Some(notify) = self.notify_assignments {
            next.notify_assignments = notify;
        }
        if let Some(notify) = self.notify_group_queue {
            next.notify_group_queue = notify;
        }
        next.updated_at = now;
        Ok(next)
    }
}

/// Tells a field set to `null` from a field left out (`#[serde(default, with = …)]`).
pub mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

/// Whether, with `changed` replacing its old version, no active administrator would remain.
pub fn leaves_no_admin(users: &[User], changed: &User) -> bool {
    let is_admin = |user: &User| user.active && user.roles.contains(&Role::Admin);
    !users.iter().map(|user| if user.id == changed.id { changed } else { user }).any(is_admin)
}

#[cfg(test)]
mod patch_tests {
    use super::*;

    fn admin(id: u64) -> User {
        NewUser {
            first_name: "Ana".into(),
            last_name: "Pérez".into(),
            email: format!("a{id}@example.com"),
            roles: vec![Role::Admin],
            permissions: vec![],
            language: None,
            totp_required: false,
        }
        .into_user(UserId(id), 0)
        .unwrap()
    }

    #[test]
    fn a_patch_changes_only_what_it_names_and_checks_it() {
        let user = admin(1);
        let patch = UserPatch { last_name: Some(" Gómez ".into()), ..UserPatch::default() };
        let next = patch.apply(&user, 5).unwrap();
        assert_eq!((next.first_name.as_str(), next.last_name.as_str(), next.updated_at), ("Ana", "Gómez", 5));
        let bad = UserPatch {
            roles: Some(vec![Role::Agent]),
            permissions: Some(vec![Permission::Reconcile]),
            ..UserPatch::default()
        };
        assert_eq!(bad.apply(&user, 5).unwrap_err().field, "permissions");
    }

    #[test]
    fn the_last_active_admin_cannot_go() {
        let (one, two) = (admin(1), admin(2));
        let demoted = UserPatch { roles: Some(vec![Role::Agent]), ..UserPatch::default() }.apply(&one, 1).unwrap();
        assert!(!leaves_no_admin(&[one.clone(), two.clone()], &demoted));
        let two_off = User { active: false, ..two };
        assert!(leaves_no_admin(&[one, two_off], &demoted));
    }

    #[test]
    fn a_profile_patch_can_clear_the_language() {
        let user = User { language: Some(Language::En), ..admin(1) };
        let patch: ProfilePatch = serde_json::from_str(r#"{"language": null}"#).unwrap();
        assert_eq!(patch.apply(&user, 1).unwrap().language, None);
        let keep: ProfilePatch = serde_json::from_str(r#"{"notify_assignments": true}"#).unwrap();
        let next = keep.apply(&user, 1).unwrap();
        assert_eq!((next.language, next.notify_assignments), (Some(Language::En), true));
    }
}
