//! The batch fold of logins for `incremental_equals_batch`, and the
//! `shop.credentials` events the histories get: passwords changed, e-mails
//! changed (sometimes only in case), two users naming one e-mail, second
//! factors turned on and off, suspensions, credentials of deleted users.

use super::common::{put, Snapshot};
use shopflow_ingest::generate::Rng;
use shopflow_topics::events::{UserCredentialsSet, UserMfaSet, UserSuspended};
use shopflow_topics::{Envelope, Event, EventTime};
use shopflow_views::users::CredentialView;
use std::collections::BTreeMap;

/// `events` with credentials for most registered users and churn on them, at times among the others'.
pub fn with_account_churn(mut events: Vec<Envelope>, seed: u64) -> Vec<Envelope> {
    let rng = Rng::new(seed ^ 0xAC_C0);
    let mut users: Vec<(String, String, EventTime)> = Vec::new();
    for e in &events {
        if let Event::UserRegistered(u) = &e.event {
            users.push((u.user_id.clone(), u.email.clone(), e.time));
        }
    }
    let times: Vec<EventTime> = events.iter().map(|e| e.time).collect();
    if users.is_empty() {
        return events;
    }
    let mut n = 0;
    let mut id = || {
        n += 1;
        format!("evt-acct-{seed}-{n}")
    };
    let hash = |k: u64| format!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA${k}");
    let mut added = Vec::new();
    for (user_id, email, registered) in &users {
        if !rng.chance(0.8) {
            continue;
        }
        let set = |email: String, k| UserCredentialsSet { user_id: user_id.clone(), email, password_hash: hash(k) };
        added.push(Envelope::new(id(), "test", *registered, set(email.clone(), rng.below(100))));
        for _ in 0..rng.range(0, 4) {
            let t = *rng.pick(&times);
            let event: Event = match rng.below(6) {
                0 => set(email.clone(), rng.below(100)).into(),
                1 => set(email.to_uppercase(), rng.below(100)).into(),
                // Someone else's e-mail: two users name it.
                2 => set(rng.pick(&users).1.clone(), rng.below(100)).into(),
                3 => UserMfaSet {
                    user_id: user_id.clone(),
                    totp_secret_sealed: Some(format!("sealed-{}", rng.below(9))),
                }
                .into(),
                4 => UserMfaSet { user_id: user_id.clone(), totp_secret_sealed: None }.into(),
                _ => UserSuspended { user_id: user_id.clone(), reason: "chargebacks".into() }.into(),
            };
            let envelope = Envelope::new(id(), "test", t, event);
            if rng.chance(0.1) {
                // A producer's retry: the same event twice.
                added.push(envelope.clone());
            }
            added.push(envelope);
        }
    }
    events.extend(added);
    events
}

/// Adds `credentials` and `logins` of the events, given distinct and sorted by (`time`, `id`).
pub fn put_accounts(sorted: &[&Envelope], out: &mut Snapshot) {
    // userId → (credentials, since when the current e-mail was named), or None once deleted.
    type Login = (Option<CredentialView>, Option<(EventTime, String)>);
    let mut state: BTreeMap<String, Option<Login>> = BTreeMap::new();
    for e in sorted {
        let (user_id, deleted) = match &e.event {
            Event::UserCredentialsSet(s) => (&s.user_id, false),
            Event::UserMfaSet(s) => (&s.user_id, false),
            Event::UserSuspended(s) => (&s.user_id, false),
            Event::UserDeleted(d) => (&d.user_id, true),
            _ => continue,
        };
        let entry = state.entry(user_id.clone()).or_insert(Some((None, None)));
        if deleted {
            *entry = None;
        }
        let Some((view, since)) = entry else { continue };
        let blank = || CredentialView {
            user_id: user_id.clone(),
            email: String::new(),
            password_hash: String::new(),
            totp_secret_sealed: None,
            suspended: None,
        };
        match &e.event {
            Event::UserCredentialsSet(s) => {
                let same = view.as_ref().is_some_and(|v| {
                    !v.email.is_empty() && v.email.trim().to_lowercase() == s.email.trim().to_lowercase()
                });
                if !same {
                    *since = Some((e.time, e.id.clone()));
                }
                let v = view.get_or_insert_with(blank);
                v.email = s.email.clone();
                v.password_hash = s.password_hash.clone();
            }
            Event::UserMfaSet(s) => view.get_or_insert_with(blank).totp_secret_sealed = s.totp_secret_sealed.clone(),
            Event::UserSuspended(s) => view.get_or_insert_with(blank).suspended = Some(s.reason.clone()),
            _ => {}
        }
    }
    let mut logins: BTreeMap<String, ((EventTime, String), CredentialView)> = BTreeMap::new();
    for (user_id, entry) in state {
        let Some((Some(view), Some(since))) = entry else { continue };
        put(out, "credentials", &user_id, &view);
        if view.suspended.is_some() {
            continue;
        }
        let name = view.email.trim().to_lowercase();
        match logins.get(&name) {
            Some((first, _)) if *first <= since => {}
            _ => {
                logins.insert(name, (since, view));
            }
        }
    }
    for (name, (_, view)) in logins {
        put(out, "logins", &name, &view);
    }
}
