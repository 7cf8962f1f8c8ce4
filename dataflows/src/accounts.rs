//! Logins (`views.md`, "A user's login credentials"): per user the latest
//! User.CredentialsSet and User.MfaSet, and a User.Suspended if any, until
//! User.Deleted; and the index of logins by e-mail among users neither
//! deleted nor suspended. Two such users naming one e-mail (a race of two
//! registrations) resolve to the one who named it first.

use crate::ops::ReduceHeld;
use crate::{fold_each, Coll, Project};
use shopflow_topics::events::{UserCredentialsSet, UserMfaSet, UserSuspended};
use shopflow_views::facts::{CredentialChange, Fact, Stamp, UserChange};
use shopflow_views::users::{login_name, CredentialView};

fn change(user_id: &str, stamp: &Stamp, change: CredentialChange, out: &mut Vec<Fact>) {
    out.push(Fact::Credential(user_id.to_string(), stamp.clone(), change));
}

impl Project for UserCredentialsSet {
    fn project(&self, stamp: &Stamp, out: &mut Vec<Fact>) {
        change(&self.user_id, stamp, CredentialChange::Set(self.email.clone(), self.password_hash.clone()), out);
    }
}

impl Project for UserMfaSet {
    fn project(&self, stamp: &Stamp, out: &mut Vec<Fact>) {
        change(&self.user_id, stamp, CredentialChange::Mfa(self.totp_secret_sealed.clone()), out);
    }
}

impl Project for UserSuspended {
    fn project(&self, stamp: &Stamp, out: &mut Vec<Fact>) {
        change(&self.user_id, stamp, CredentialChange::Suspended(self.reason.clone()), out);
    }
}

/// The two views of logins.
pub struct Accounts<'s> {
    /// Credentials by userId.
    pub credentials: Coll<'s, (String, CredentialView)>,
    /// Credentials of live users by login name ([`login_name`]).
    pub logins: Coll<'s, (String, CredentialView)>,
}

/// Logins from the facts of kinds `Credential` and `User` (only User.Deleted is read of the latter).
pub fn view<'s>(facts: Coll<'s, Fact>) -> Accounts<'s> {
    let folded = fold_each(
        facts,
        |fact| match fact {
            Fact::Credential(id, stamp, change) => Some((id, (stamp, change))),
            Fact::User(id, stamp, UserChange::Deleted) => Some((id, (stamp, CredentialChange::Deleted))),
            _ => None,
        },
        |id, changes| fold(id, changes.iter().map(|(c, _)| (&c.0, &c.1))),
    );
    let logins = folded
        .clone()
        .flat_map(|(_, (view, since))| view.suspended.is_none().then(|| (login_name(&view.email), (since, view))))
        .reduce_held(|_, claims, out| {
            // Sorted: the first is the earliest claim.
            out.push((claims[0].0 .1.clone(), 1));
        });
    Accounts { credentials: folded.map(|(id, (view, _))| (id, view)), logins }
}

/// Folds a user's changes, sorted by (`time`, `id`), into their credentials
/// and the stamp from which they have named their current e-mail; `None`
/// before any User.CredentialsSet and after User.Deleted.
pub fn fold<'a>(
    user_id: &str,
    changes: impl IntoIterator<Item = (&'a Stamp, &'a CredentialChange)>,
) -> Option<(CredentialView, Stamp)> {
    let mut login: Option<(String, String, Stamp)> = None;
    let mut totp = None;
    let mut suspended = None;
    for (stamp, change) in changes {
        match change {
            CredentialChange::Set(email, hash) => {
                let since = match login.take() {
                    Some((before, _, since)) if login_name(&before) == login_name(email) => since,
                    _ => stamp.clone(),
                };
                login = Some((email.clone(), hash.clone(), since));
            }
            CredentialChange::Mfa(secret) => totp = secret.clone(),
            CredentialChange::Suspended(reason) => suspended = Some(reason.clone()),
            CredentialChange::Deleted => return None,
        }
    }
    let (email, password_hash, since) = login?;
    let view =
        CredentialView { user_id: user_id.to_string(), email, password_hash, totp_secret_sealed: totp, suspended };
    Some((view, since))
}

#[cfg(test)]
mod tests {
    use super::*;
    use shopflow_topics::EventTime;

    fn at(t: i64) -> Stamp {
        Stamp { time: EventTime(t), id: format!("evt-{t}") }
    }

    #[test]
    fn the_latest_credentials_count_and_deletion_ends_them() {
        let set = |e: &str, h: &str| CredentialChange::Set(e.into(), h.into());
        let changes = [
            (at(1), set("ann@x.org", "h1")),
            (at(2), CredentialChange::Mfa(Some("sealed".into()))),
            (at(3), set("ANN@x.org", "h2")),
        ];
        let (view, since) = fold("usr-1", changes.iter().map(|(s, c)| (s, c))).unwrap();
        assert_eq!((view.email.as_str(), view.password_hash.as_str()), ("ANN@x.org", "h2"));
        assert_eq!(view.totp_secret_sealed.as_deref(), Some("sealed"));
        assert_eq!(since, at(1), "the same login name in another case is not a new claim");
        let moved = [(at(1), set("ann@x.org", "h1")), (at(4), set("bee@x.org", "h1"))];
        assert_eq!(fold("usr-1", moved.iter().map(|(s, c)| (s, c))).unwrap().1, at(4));
        let deleted = [(at(1), set("ann@x.org", "h1")), (at(2), CredentialChange::Deleted)];
        assert!(fold("usr-1", deleted.iter().map(|(s, c)| (s, c))).is_none());
        let never = [(at(1), CredentialChange::Suspended("spam".into()))];
        assert!(fold("usr-1", never.iter().map(|(s, c)| (s, c))).is_none());
    }
}
