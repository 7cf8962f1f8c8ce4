//! Payments and wallets (`views.md`, "Reviews, vendors, payments, promotions,
//! shipping, search"): each payment's latest status and refunded total, and
//! each user's wallet — its balance and the transactions that make it.
//!
//! A payment is folded from its Payment.* events in (`time`, `id`) order:
//! - `method` and `userId` come from its first Payment.Initiated; `amount`
//!   from that event, else from its first Payment.Completed.
//! - `completed` is the amount of its first Payment.Completed; a second one
//!   is an anomaly (`already_completed`) and counts nothing.
//! - A Payment.Refunded is applied while the refunds applied so far plus its
//!   amount stay within `completed` (whenever the completion's time); one that
//!   would exceed it is an anomaly (`over_refund`), listed and not applied.
//! - `status` is that of the latest event applied.
//!
//! A wallet's balance = Σ Wallet.ToppedUp − Σ completed wallet payments + Σ
//! refunds applied to wallet payments; every transaction is listed, newest first.

use serde::{Deserialize, Serialize};
use shopflow_topics::events::PaymentMethod;
use shopflow_topics::EventTime;

/// Where a payment stands: the status of its latest applied event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum PaymentStatus {
    /// Payment.Initiated.
    Initiated,
    /// Payment.Completed.
    Completed,
    /// Payment.Failed.
    Failed,
    /// Payment.Refunded.
    Refunded,
}

/// A refund applied to a payment.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Refund {
    /// The Payment.Refunded event.
    pub event_id: String,
    /// Minor units returned.
    pub amount: i64,
    /// Its time.
    pub at: EventTime,
}

/// A Payment.* event that was not applied.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentAnomaly {
    /// The event.
    pub event_id: String,
    /// Its type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Its time.
    pub at: EventTime,
    /// `already_completed` or `over_refund`.
    pub reason: String,
}

/// A payment: what `GET /payments/{id}` serves.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentView {
    /// The payment.
    pub payment_id: String,
    /// The order it pays.
    pub order_id: String,
    /// The payer (from Payment.Initiated).
    pub user_id: Option<String>,
    /// Status of the latest applied event.
    pub status: PaymentStatus,
    /// The amount asked (Payment.Initiated), else the amount completed.
    pub amount: i64,
    /// card, wallet or paypal (from Payment.Initiated).
    pub method: Option<PaymentMethod>,
    /// The amount of the first Payment.Completed (0 until then).
    pub completed: i64,
    /// Σ of the refunds applied.
    pub refunded: i64,
    /// When it completed, and the completing event.
    pub completed_at: Option<(EventTime, String)>,
    /// The refunds applied, in order.
    pub refunds: Vec<Refund>,
    /// Events not applied.
    pub anomalies: Vec<PaymentAnomaly>,
}

impl PaymentView {
    /// Whether the payment moves money of a wallet.
    pub fn is_wallet(&self) -> bool {
        self.method == Some(PaymentMethod::Wallet) && self.user_id.is_some()
    }
}

/// What a wallet transaction is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WalletKind {
    /// Wallet.ToppedUp: money in.
    Topup,
    /// A completed wallet payment: money out.
    Payment,
    /// A refund of a wallet payment: money in.
    Refund,
}

/// One wallet transaction.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WalletItem {
    /// Its time.
    pub at: EventTime,
    /// The event it comes from.
    pub event_id: String,
    /// Top-up, payment or refund.
    pub kind: WalletKind,
    /// Minor units, always positive; `kind` says which way.
    pub amount: i64,
}

impl WalletItem {
    /// What it adds to the balance.
    pub fn signed(&self) -> i64 {
        match self.kind {
            WalletKind::Topup | WalletKind::Refund => self.amount,
            WalletKind::Payment => -self.amount,
        }
    }
}

/// A user's wallet: what `GET /wallet` and `GET /wallets/transactions` serve.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WalletView {
    /// The user.
    pub user_id: String,
    /// Σ of the transactions, signed.
    pub balance: i64,
    /// The transactions, newest first (by time, then event id).
    pub items: Vec<WalletItem>,
}

impl WalletView {
    /// The wallet of `items` (any order).
    pub fn new(user_id: &str, mut items: Vec<WalletItem>) -> WalletView {
        items.sort_by(|a, b| (b.at, &b.event_id, b.kind).cmp(&(a.at, &a.event_id, a.kind)));
        WalletView { user_id: user_id.to_string(), balance: items.iter().map(WalletItem::signed).sum(), items }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wallet_sums_its_transactions_newest_first() {
        let item = |ms, id: &str, kind, amount| WalletItem {
            at: EventTime::from_millis(ms),
            event_id: id.into(),
            kind,
            amount,
        };
        let wallet = WalletView::new(
            "u1",
            vec![
                item(1, "a", WalletKind::Topup, 1000),
                item(3, "c", WalletKind::Refund, 50),
                item(2, "b", WalletKind::Payment, 300),
            ],
        );
        assert_eq!(wallet.balance, 750);
        let ids: Vec<&str> = wallet.items.iter().map(|i| i.event_id.as_str()).collect();
        assert_eq!(ids, ["c", "b", "a"]);
        assert_eq!(serde_json::to_value(&wallet.items[0]).unwrap()["kind"], "refund");
    }
}
