//! Users (`views.md`, "Catalog, carts, users"): profile and notification
//! preferences, latest values; User.Deleted removes the profile.

use crate::{fold_each, Coll, Project};
use shopflow_topics::events::{Role, UserDeleted, UserPreferencesUpdated, UserProfileUpdated, UserRegistered};
use shopflow_views::facts::{Fact, PostalAddress, ProfileFields, Stamp, UserChange};
use shopflow_views::users::{Preferences, UserView};

fn change(user_id: &str, stamp: &Stamp, change: UserChange, out: &mut Vec<Fact>) {
    out.push(Fact::User(user_id.to_string(), stamp.clone(), change));
}

impl Project for UserRegistered {
    fn project(&self, stamp: &Stamp, out: &mut Vec<Fact>) {
        let fields = ProfileFields {
            email: Some(self.email.clone()),
            name: Some(self.name.clone()),
            role: Some(self.role),
            address: self.address.as_ref().map(PostalAddress::from),
            phone: self.phone.clone(),
        };
        change(&self.user_id, stamp, UserChange::Registered(fields), out);
    }
}

impl Project for UserProfileUpdated {
    fn project(&self, stamp: &Stamp, out: &mut Vec<Fact>) {
        let fields = ProfileFields {
            email: self.email.clone(),
            name: self.name.clone(),
            role: None,
            address: self.address.as_ref().map(PostalAddress::from),
            phone: self.phone.clone(),
        };
        change(&self.user_id, stamp, UserChange::ProfileUpdated(fields), out);
    }
}

impl Project for UserPreferencesUpdated {
    fn project(&self, stamp: &Stamp, out: &mut Vec<Fact>) {
        change(&self.user_id, stamp, UserChange::PreferencesUpdated(self.email, self.sms, self.push), out);
    }
}

impl Project for UserDeleted {
    fn project(&self, stamp: &Stamp, out: &mut Vec<Fact>) {
        change(&self.user_id, stamp, UserChange::Deleted, out);
    }
}

/// Users by userId.
pub fn view<'s>(facts: Coll<'s, Fact>) -> Coll<'s, (String, UserView)> {
    fold_each(
        facts,
        |fact| match fact {
            Fact::User(id, stamp, change) => Some((id, (stamp, change))),
            _ => None,
        },
        |id, changes| fold_user(id, changes.iter().map(|(c, _)| (&c.0, &c.1))),
    )
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
fn fold_user<'a>(
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
