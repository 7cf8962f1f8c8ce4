//! Notifications (`views.md`, "Notifications"): what a user is told, on
//! which channels, and the text of it.
//!
//! A [`Trigger`] is something that happened to a user (their order changed
//! status, a payment completed, their shipment moved, a courier was
//! assigned, a product in their cart came back in stock, they registered). It becomes one [`Notification`] per channel
//! the user's preferences allow *as of the trigger's event time* (all three
//! before any User.PreferencesUpdated; `welcome` by e-mail only, if allowed), and none
//! while the user is not registered or after User.Deleted. Its id hashes
//! (userId, channel, template, what it follows from), so a rebuild re-emits
//! the same ids. The text comes from the template of the same name under
//! `templates/` (subject, a line `---`, body), rendered with minijinja.

use crate::users::Preferences;
use serde::{Deserialize, Serialize};
use shopflow_topics::events::Channel;
use shopflow_topics::EventTime;
use std::collections::BTreeMap;

/// Every template: (name, text).
pub const TEMPLATES: [(&str, &str); 14] = [
    ("order_created", include_str!("../../templates/order_created.txt")),
    ("order_paid", include_str!("../../templates/order_paid.txt")),
    ("order_payment_failed", include_str!("../../templates/order_payment_failed.txt")),
    ("order_cancelled", include_str!("../../templates/order_cancelled.txt")),
    ("order_shipped", include_str!("../../templates/order_shipped.txt")),
    ("order_delivered", include_str!("../../templates/order_delivered.txt")),
    ("order_return_requested", include_str!("../../templates/order_return_requested.txt")),
    ("order_refunded", include_str!("../../templates/order_refunded.txt")),
    ("payment_completed", include_str!("../../templates/payment_completed.txt")),
    ("shipment_update", include_str!("../../templates/shipment_update.txt")),
    ("partner_assigned", include_str!("../../templates/partner_assigned.txt")),
    ("back_in_stock", include_str!("../../templates/back_in_stock.txt")),
    ("welcome", include_str!("../../templates/welcome.txt")),
    // Requested by the API (`POST /auth/forgot-password`), not by a view.
    ("password_reset", include_str!("../../templates/password_reset.txt")),
];

/// A template's variables, as (name, value) pairs: a few per notification,
/// and hundreds of thousands of notifications held in the dataflows, so a
/// list rather than a map (a map's node takes room for eleven).
pub type Vars = Vec<(String, String)>;

/// `vars` as the map templates are rendered with (a later pair wins).
pub fn var_map(vars: &Vars) -> BTreeMap<String, String> {
    vars.iter().cloned().collect()
}

/// Something that happened to a user that they are told about.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Trigger {
    /// The event time it happened at.
    pub at: EventTime,
    /// The newest event time among what it follows from.
    pub settles_at: EventTime,
    /// The template.
    pub template: String,
    /// What it follows from (an order's history entry, a payment, ...): part of the id.
    pub source: String,
    /// The template's variables.
    pub vars: Vars,
}

/// A user as notifications see them at one moment.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Moment {
    /// Registered and not deleted.
    pub reachable: bool,
    /// Their name.
    pub name: String,
    /// Their preferences.
    pub preferences: Preferences,
}

/// A user's moments: from each time on (inclusive), how they are.
pub type Timeline = Vec<(EventTime, Moment)>;

/// A notification to send on one channel: what Notification.Requested says.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Notification {
    /// Its id.
    pub notification_id: String,
    /// The recipient.
    pub user_id: String,
    /// email, sms or push.
    pub channel: Channel,
    /// Template name.
    pub template: String,
    /// The template's variables (with the user's id and name).
    pub vars: BTreeMap<String, String>,
    /// The event time of what it tells.
    pub at: EventTime,
    /// When it is settled.
    pub settles_at: EventTime,
}

/// What one trigger tells one user, on every channel they allow: the
/// dataflows carry one of these per trigger, and it becomes one
/// [`Notification`] per channel only when it is emitted (a third of the
/// records to compute and hold back, for the same events).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Notice {
    /// The recipient.
    pub user_id: String,
    /// The channels, in the order email, sms, push; never empty.
    pub channels: Vec<Channel>,
    /// Template name.
    pub template: String,
    /// What it follows from: part of each notification's id.
    pub source: String,
    /// The template's variables (with the user's id and name).
    pub vars: Vars,
    /// The event time of what it tells.
    pub at: EventTime,
    /// When it is settled.
    pub settles_at: EventTime,
}

impl Notice {
    /// One notification per channel.
    pub fn notifications(&self) -> Vec<Notification> {
        self.channels
            .iter()
            .map(|&channel| Notification {
                notification_id: notification_id(&self.user_id, channel, &self.template, &self.source),
                user_id: self.user_id.clone(),
                channel,
                template: self.template.clone(),
                vars: var_map(&self.vars),
                at: self.at,
                settles_at: self.settles_at,
            })
            .collect()
    }
}

/// What `trigger` tells `user_id` given their `timeline` (sorted by time):
/// the channels their preferences allow at the trigger's time; `None` when
/// they allow none or the user is not reachable then.
pub fn notify(user_id: &str, trigger: &Trigger, timeline: &Timeline) -> Option<Notice> {
    let (since, moment) = timeline.iter().take_while(|(since, _)| *since <= trigger.at).last()?;
    if !moment.reachable {
        return None;
    }
    let prefs = &moment.preferences;
    let channels: Vec<Channel> = if trigger.template == "welcome" {
        prefs.email.then_some(Channel::Email).into_iter().collect()
    } else {
        [(prefs.email, Channel::Email), (prefs.sms, Channel::Sms), (prefs.push, Channel::Push)]
            .into_iter()
            .filter_map(|(on, channel)| on.then_some(channel))
            .collect()
    };
    if channels.is_empty() {
        return None;
    }
    let mut vars = Vars::with_capacity(trigger.vars.len() + 2);
    vars.extend(trigger.vars.iter().filter(|(k, _)| k != "userId" && k != "name").cloned());
    vars.push(("userId".into(), user_id.to_string()));
    vars.push(("name".into(), moment.name.clone()));
    Some(Notice {
        user_id: user_id.to_string(),
        channels,
        template: trigger.template.clone(),
        source: trigger.source.clone(),
        vars,
        at: trigger.at,
        settles_at: trigger.settles_at.max(*since),
    })
}

/// The id of a notification: a hash of (userId, channel, template, source).
pub fn notification_id(user_id: &str, channel: Channel, template: &str, source: &str) -> String {
    format!("ntf-{}", &shopflow_topics::hash::derived_id(&[user_id, channel.as_str(), template, source])[..24])
}

fn environment() -> &'static minijinja::Environment<'static> {
    static ENV: std::sync::OnceLock<minijinja::Environment<'static>> = std::sync::OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = minijinja::Environment::new();
        for (name, text) in TEMPLATES {
            env.add_template(name, text).expect("the templates parse (tested)");
        }
        env
    })
}

/// The subject and body of `template` with `vars`; an error names a template
/// that does not exist or does not render.
pub fn render(template: &str, vars: &BTreeMap<String, String>) -> Result<(String, String), String> {
    let text = environment()
        .get_template(template)
        .and_then(|t| t.render(vars))
        .map_err(|e| format!("template {template}: {e}"))?;
    let (subject, body) = text.split_once("\n---\n").ok_or_else(|| format!("template {template}: no `---` line"))?;
    Ok((subject.trim().to_string(), body.trim().to_string()))
}

/// `text` rendered as a template with `vars` (an admin's broadcast, which
/// brings its own subject and body); an error says why it does not render.
pub fn render_str(text: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
    environment().render_str(text, vars).map_err(|e| e.to_string())
}

/// The template of an order entering `status`: `order_<status in snake case>`.
pub fn order_template(status: shopflow_topics::OrderStatus) -> String {
    let mut name = String::from("order");
    for c in status.as_str().chars() {
        if c.is_ascii_uppercase() {
            name.push('_');
        }
        name.push(c.to_ascii_lowercase());
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;
    use shopflow_topics::OrderStatus;

    fn moment(reachable: bool, email: bool, sms: bool, push: bool) -> Moment {
        Moment { reachable, name: "Ann".into(), preferences: Preferences { email, sms, push } }
    }

    fn trigger(at: i64, template: &str) -> Trigger {
        let vars = [("orderId".to_string(), "ord-1".to_string())].into_iter().collect();
        Trigger { at: EventTime(at), settles_at: EventTime(at), template: template.into(), source: "s".into(), vars }
    }

    #[test]
    fn every_template_renders_and_every_order_status_has_one() {
        let vars: BTreeMap<String, String> =
            ["orderId", "name", "userId", "paymentId", "amount", "status", "partnerId", "productId"]
                .into_iter()
                .map(|k| (k.to_string(), format!("<{k}>")))
                .collect();
        for (name, _) in TEMPLATES {
            let (subject, body) = render(name, &vars).unwrap();
            assert!(!subject.is_empty() && !body.is_empty() && !subject.contains('\n'), "{name}");
        }
        for &status in OrderStatus::ALL {
            assert!(TEMPLATES.iter().any(|(name, _)| *name == order_template(status)), "{status}");
        }
        assert_eq!(order_template(OrderStatus::PaymentFailed), "order_payment_failed");
        let (subject, _) = render("shipment_update", &vars).unwrap();
        assert_eq!(subject, "Order <orderId>: <status>");
        assert!(render("no_such", &vars).unwrap_err().contains("no_such"));
    }

    #[test]
    fn channels_follow_the_preferences_of_the_moment() {
        let timeline: Timeline = vec![
            (EventTime(1), moment(true, true, true, true)),
            (EventTime(5), moment(true, false, true, false)),
            (EventTime(9), moment(false, true, true, true)),
        ];
        let channels = |at, template| -> Vec<Channel> {
            notify("usr-1", &trigger(at, template), &timeline).map_or_else(Vec::new, |n| n.channels)
        };
        assert!(channels(0, "order_paid").is_empty(), "not registered yet");
        assert_eq!(channels(3, "order_paid"), [Channel::Email, Channel::Sms, Channel::Push]);
        assert_eq!(channels(5, "order_paid"), [Channel::Sms], "opted out of e-mail at 5");
        assert!(channels(5, "welcome").is_empty(), "welcome: by e-mail only, if e-mail is allowed");
        assert_eq!(channels(3, "welcome"), [Channel::Email], "welcome: e-mail only");
        assert!(channels(9, "order_paid").is_empty(), "deleted");
        let ids: Vec<String> = notify("usr-1", &trigger(3, "order_paid"), &timeline)
            .into_iter()
            .flat_map(|n| n.notifications())
            .map(|n| n.notification_id)
            .collect();
        let again: Vec<String> = notify("usr-1", &trigger(3, "order_paid"), &timeline)
            .into_iter()
            .flat_map(|n| n.notifications())
            .map(|n| n.notification_id)
            .collect();
        assert_eq!(ids, again);
        assert_eq!(ids.iter().collect::<std::collections::BTreeSet<_>>().len(), 3, "one id per channel");
    }
}
