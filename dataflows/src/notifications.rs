//! Notifications (`views.md`, "Notifications"; the rules in
//! [`shopflow_views::notifications`]): what happened to each user — their
//! orders' status changes, completed payments, shipment updates, couriers
//! assigned, their registration — joined with how the user was at that
//! moment (reachable, name, preferences). The result is a collection of
//! Notification.Requested like every derived event: the pipeline emits each
//! once it is settled.

use crate::orders::changes_of;
use crate::{fold_each, Coll};
use shopflow_views::derived::Derived;
use shopflow_views::facts::{Fact, Stamp, UserChange};
use shopflow_views::notifications::{notify, order_template, Moment, Timeline, Trigger};
use shopflow_views::orders::OrderView;
use shopflow_views::payments::PaymentView;
use shopflow_views::shipping::{Assignment, TrackingView};
use shopflow_views::users::Preferences;
use std::collections::BTreeMap;

/// A user as notifications see them: how they were over time, and when they registered.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct Profile {
    /// From each time on, how they are.
    pub timeline: Timeline,
    /// Their first User.Registered.
    pub registered: Option<Stamp>,
}

/// Folds a user's changes, sorted by (`time`, `id`), into their [`Profile`].
pub fn profile<'a>(changes: impl IntoIterator<Item = (&'a Stamp, &'a UserChange)>) -> Profile {
    let mut registered: Option<Stamp> = None;
    let mut deleted = false;
    let mut name = String::new();
    let mut preferences = Preferences { email: true, sms: true, push: true };
    let mut timeline = Vec::new();
    for (stamp, change) in changes {
        match change {
            UserChange::Registered(fields) | UserChange::ProfileUpdated(fields) => {
                if matches!(change, UserChange::Registered(_)) && registered.is_none() {
                    registered = Some(stamp.clone());
                }
                if let Some(new) = &fields.name {
                    name = new.clone();
                }
            }
            UserChange::PreferencesUpdated(email, sms, push) => {
                preferences = Preferences { email: *email, sms: *sms, push: *push }
            }
            UserChange::Deleted => deleted = true,
        }
        let moment = Moment {
            reachable: registered.is_some() && !deleted,
            name: name.clone(),
            preferences: preferences.clone(),
        };
        timeline.push((stamp.time, moment));
    }
    Profile { timeline, registered }
}

fn vars<const N: usize>(pairs: [(&str, String); N]) -> BTreeMap<String, String> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// The triggers of an order's history: one per status change.
pub fn order_triggers(order_id: &str, view: &OrderView) -> Vec<(String, Trigger)> {
    changes_of(view)
        .into_iter()
        .map(|change| {
            let trigger = Trigger {
                at: change.at,
                settles_at: change.at.max(change.created_at),
                template: order_template(change.status),
                source: format!("{order_id}#{}", change.index),
                vars: vars([("orderId", order_id.to_string()), ("status", change.status.to_string())]),
            };
            (view.user_id.clone(), trigger)
        })
        .collect()
}

/// Notification.Requested of everything that happened to users.
pub fn view<'s>(
    user_facts: Coll<'s, Fact>,
    orders: Coll<'s, (String, OrderView)>,
    payments: Coll<'s, (String, PaymentView)>,
    tracking: Coll<'s, (String, TrackingView)>,
    deliveries: Coll<'s, (String, Assignment)>,
) -> Coll<'s, Derived> {
    let profiles = fold_each(
        user_facts,
        |fact| match fact {
            Fact::User(id, stamp, change) => Some((id, (stamp, change))),
            _ => None,
        },
        |_, changes| Some(profile(changes.iter().map(|(c, _)| (&c.0, &c.1)))),
    );
    let welcome = profiles.clone().flat_map(|(user_id, profile)| {
        profile.registered.map(|stamp| {
            let trigger = Trigger {
                at: stamp.time,
                settles_at: stamp.time,
                template: "welcome".into(),
                source: stamp.id,
                vars: BTreeMap::new(),
            };
            (user_id, trigger)
        })
    });
    let statuses = orders.clone().flat_map(|(order_id, view)| order_triggers(&order_id, &view));
    let paid = payments.flat_map(|(payment_id, p)| {
        let (Some(user), Some((at, _))) = (p.user_id, p.completed_at) else { return None };
        let trigger = Trigger {
            at,
            settles_at: at,
            template: "payment_completed".into(),
            source: payment_id.clone(),
            vars: vars([("paymentId", payment_id), ("orderId", p.order_id), ("amount", p.completed.to_string())]),
        };
        Some((user, trigger))
    });
    let order_users = orders.map(|(order_id, view)| (order_id, (view.user_id, view.created_at)));
    let shipped = tracking.join_map(order_users.clone(), |order_id, view, (user_id, created_at)| {
        let updates =
            view.events.iter().enumerate().filter(|(_, e)| e.status == "in_transit" || e.status == "out_for_delivery");
        updates
            .map(|(i, event)| {
                let mut vars = vars([("orderId", order_id.clone()), ("status", event.status.clone())]);
                if let Some(location) = &event.location {
                    vars.insert("location".into(), location.clone());
                }
                let trigger = Trigger {
                    at: event.at,
                    settles_at: event.at.max(*created_at),
                    template: "shipment_update".into(),
                    source: format!("{order_id}/shipment#{i}"),
                    vars,
                };
                (user_id.clone(), trigger)
            })
            .collect::<Vec<_>>()
    });
    let assigned = deliveries.join_map(order_users, |order_id, assignment, (_, created_at)| {
        let user_id = assignment.user_id.clone();
        assignment
            .history
            .iter()
            .enumerate()
            .filter_map(|(i, step)| {
                let partner = step.partner_id.clone()?;
                let trigger = Trigger {
                    at: step.at,
                    settles_at: step.at.max(*created_at),
                    template: "partner_assigned".into(),
                    source: format!("{order_id}/partner#{i}"),
                    vars: vars([("orderId", order_id.clone()), ("partnerId", partner)]),
                };
                Some((user_id.clone(), trigger))
            })
            .collect::<Vec<_>>()
    });
    let triggers =
        welcome.concat(statuses).concat(paid).concat(shipped.flat_map(|t| t)).concat(assigned.flat_map(|t| t));
    triggers
        .join_map(profiles, |user_id, trigger, profile| {
            notify(user_id, trigger, &profile.timeline).into_iter().map(Derived::Notify).collect::<Vec<_>>()
        })
        .flat_map(|notes| notes)
}
