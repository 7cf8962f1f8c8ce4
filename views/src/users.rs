//! Users (`views.md`): profile and notification preferences, latest values;
//! User.Deleted removes the profile.

use crate::facts::PostalAddress;
use serde::{Deserialize, Serialize};
use shopflow_topics::events::Role;

/// Which channels a user accepts notifications on.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Preferences {
    /// E-mail.
    pub email: bool,
    /// SMS.
    pub sms: bool,
    /// Push.
    pub push: bool,
}

/// The user view.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    /// The user.
    pub user_id: String,
    /// E-mail.
    pub email: String,
    /// Name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Address.
    pub address: Option<PostalAddress>,
    /// Phone.
    pub phone: Option<String>,
    /// Notification preferences (all on until the user says otherwise).
    pub preferences: Preferences,
}

/// A user's login (`views.md`, "A user's login credentials"): the latest
/// User.CredentialsSet, the latest User.MfaSet, and whether User.Suspended
/// was said. Gone once the user is deleted. Never in ClickHouse.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialView {
    /// The user.
    pub user_id: String,
    /// The login name, as given.
    pub email: String,
    /// An argon2id PHC string.
    pub password_hash: String,
    /// The sealed TOTP secret when the second factor is on.
    pub totp_secret_sealed: Option<String>,
    /// Why the user was suspended, if they were.
    pub suspended: Option<String>,
}

/// A login name as the index of logins holds it: trimmed, lower case.
pub fn login_name(email: &str) -> String {
    email.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    #[test]
    fn login_names_ignore_case_and_surrounding_space() {
        assert_eq!(super::login_name("  Ann@Example.COM "), "ann@example.com");
    }
}
