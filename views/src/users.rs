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
