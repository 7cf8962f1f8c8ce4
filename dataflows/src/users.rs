//! Users (`views.md`): profile and notification preferences, latest values;
//! User.Deleted removes the profile.

use crate::facts::{PostalAddress, ProfileFields, Stamp, UserChange};
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

fn apply(view: &mut UserView, fields: &ProfileFields) {
    if let Some(v) = &fields.email {
        view.email = v.clone();
    }
    if let Some(v) = &fields.name {
        view.name = v.clone();
    }
    if let Some(v) = fields.role {
        view.role = v;
    }
    if let Some(v) = &fields.address {
        view.address = Some(v.clone());
    }
    if let Some(v) = &fields.phone {
        view.phone = Some(v.clone());
    }
}

/// Folds a user's changes, sorted by (`time`, `id`): the first User.Registered,
/// then the rest in order. `None` before registration and after deletion.
pub fn fold_user<'a>(
    user_id: &str,
    changes: impl IntoIterator<Item = (&'a Stamp, &'a UserChange)> + Clone,
) -> Option<UserView> {
    let (first_stamp, first) = changes.clone().into_iter().find(|(_, c)| matches!(c, UserChange::Registered(_)))?;
    let mut view = UserView {
        user_id: user_id.to_string(),
        email: String::new(),
        name: String::new(),
        role: Role::Shopper,
        address: None,
        phone: None,
        preferences: Preferences { email: true, sms: true, push: true },
    };
    if let UserChange::Registered(fields) = first {
        apply(&mut view, fields);
    }
    for (stamp, change) in changes {
        if stamp == first_stamp {
            continue;
        }
        match change {
            UserChange::Registered(fields) | UserChange::ProfileUpdated(fields) => apply(&mut view, fields),
            UserChange::PreferencesUpdated(email, sms, push) => {
                view.preferences = Preferences { email: *email, sms: *sms, push: *push }
            }
            UserChange::Deleted => return None,
        }
    }
    Some(view)
}
