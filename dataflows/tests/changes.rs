//! The stream of changes each family's view emits, epoch by epoch, in the
//! style of differential's `tests/join.rs`: inputs handed in one epoch at a
//! time, the output captured as exact `(data, time, diff)` updates.

use differential_dataflow::input::InputSession;
use shopflow_dataflows::{build, facts_of, Coll, Views};
use shopflow_topics::events::{
    Address, CartCheckedOut, CartItemAdded, OrderCancelled, OrderCreated, OrderItem, PaymentCompleted, PaymentFailed,
    ProductCreated, ProductUpdated, StockReceived,
};
use shopflow_topics::{Envelope, Event, EventTime};
use shopflow_views::derived::Derived;
use shopflow_views::facts::Fact;
use std::cell::RefCell;
use std::rc::Rc;

/// Feeds `epochs` (epoch `i` at time `i + 1`) to [`build`] and returns what
/// `pick` makes of the views, as consolidated `(data, time, diff)` sorted by time.
fn changes<D>(
    epochs: Vec<Vec<Envelope>>,
    pick: impl for<'s> Fn(&Views<'s>) -> Coll<'s, D> + Send + Sync + 'static,
) -> Vec<(D, u64, isize)>
where
    D: differential_dataflow::ExchangeData + std::hash::Hash,
{
    timely::execute_directly(move |worker| {
        let mut input: InputSession<u64, (String, Vec<Fact>), isize> = InputSession::new();
        let captured: Rc<RefCell<Vec<(D, u64, isize)>>> = Rc::new(RefCell::new(Vec::new()));
        let sink = captured.clone();
        let probe = worker.dataflow::<u64, _, _>(|scope| {
            let views = build(input.to_collection(scope));
            let (probe, _) =
                pick(&views).consolidate().inspect(move |update| sink.borrow_mut().push(update.clone())).probe();
            probe
        });
        for (epoch, events) in epochs.into_iter().enumerate() {
            input.advance_to(epoch as u64 + 1);
            for event in events {
                input.insert((event.id.clone(), facts_of(&event)));
            }
        }
        input.advance_to(u64::MAX);
        input.flush();
        while probe.less_than(input.time()) {
            worker.step();
        }
        let mut out = captured.borrow().clone();
        out.sort_by(|a, b| (a.1, &a.0, a.2).cmp(&(b.1, &b.0, b.2)));
        out
    })
}

fn at(seconds: i64) -> EventTime {
    EventTime::parse("2026-11-01T00:00:00Z").unwrap().plus(seconds * EventTime::SECOND)
}

fn event(id: &str, seconds: i64, event: impl Into<Event>) -> Envelope {
    Envelope::new(id, "test", at(seconds), event.into())
}

fn order(order_id: &str, product: &str, quantity: i64) -> OrderCreated {
    OrderCreated {
        order_id: order_id.into(),
        user_id: "usr-1".into(),
        items: vec![OrderItem { product_id: product.into(), vendor_id: "ven-1".into(), quantity, unit_price: 100 }],
        subtotal: 100 * quantity,
        discount: 0,
        shipping: 0,
        total: 100 * quantity,
        currency: "USD".into(),
        promo_code: None,
        shipping_address: Address {
            street: "1 Main St".into(),
            city: "Salem".into(),
            state: None,
            zipcode: "97301".into(),
            country: "US".into(),
        },
    }
}

fn product(product_id: &str, price: i64) -> ProductCreated {
    ProductCreated {
        product_id: product_id.into(),
        vendor_id: "ven-1".into(),
        name: "Lamp".into(),
        description: "A lamp".into(),
        category_id: "cat-1".into(),
        price,
        currency: "USD".into(),
        attributes: Default::default(),
        images: Vec::new(),
    }
}

#[test]
fn an_orders_view_moves_with_each_event_and_a_late_payment_rewrites_it() {
    // (orderId, status, statuses of the history, anomalies)
    type Row = (String, String, Vec<String>, usize);
    let epochs = vec![
        // The payment arrives before the order it pays (it is earlier in event time too).
        vec![event("e-pay", 2, PaymentCompleted { payment_id: "pay-1".into(), order_id: "ord-1".into(), amount: 200 })],
        vec![event("e-new", 1, order("ord-1", "prd-1", 2))],
        vec![
            event("e-cancel", 3, OrderCancelled { order_id: "ord-1".into(), reason: "changed my mind".into() }),
            event(
                "e-fail",
                4,
                PaymentFailed { payment_id: "pay-1".into(), order_id: "ord-1".into(), reason: "x".into() },
            ),
        ],
        // A copy of an event already counted changes nothing.
        vec![event("e-cancel", 3, OrderCancelled { order_id: "ord-1".into(), reason: "changed my mind".into() })],
    ];
    let rows = changes(epochs, |views| {
        views.orders.clone().map(|(id, view)| {
            let history = view.history.iter().map(|h| h.status.to_string()).collect();
            (id, view.status.to_string(), history, view.anomalies.len())
        })
    });
    let row = |status: &str, history: &[&str], anomalies: usize| -> Row {
        ("ord-1".into(), status.into(), history.iter().map(|s| s.to_string()).collect(), anomalies)
    };
    assert_eq!(
        rows,
        vec![
            // Nothing at epoch 1: no order without its Order.Created. Epoch 2: created and
            // paid at once, the payment applied in event-time order.
            (row("Paid", &["Created", "Paid"], 0), 2, 1),
            (row("Cancelled", &["Created", "Paid", "Cancelled"], 1), 3, 1),
            (row("Paid", &["Created", "Paid"], 0), 3, -1),
        ]
    );
}

#[test]
fn the_status_changes_stream_adds_one_event_per_new_history_entry() {
    let epochs = vec![
        vec![event("e-new", 1, order("ord-1", "prd-1", 1))],
        vec![event("e-pay", 2, PaymentCompleted { payment_id: "pay-1".into(), order_id: "ord-1".into(), amount: 100 })],
    ];
    let rows = changes(epochs, |views| {
        views.derived.clone().flat_map(|derived| match derived {
            Derived::StatusChanged(change) => {
                Some((change.index, change.previous.map(|s| s.to_string()), change.status.to_string()))
            }
            _ => None,
        })
    });
    // Derived events only appear: each entry of the history is emitted once, when it appears
    // (entry 0 is retracted and asserted again at time 2, which consolidates away).
    assert_eq!(
        rows,
        vec![((0, None, "Created".to_string()), 1, 1), ((1, Some("Created".to_string()), "Paid".to_string()), 2, 1)]
    );
}

#[test]
fn inventory_moves_with_stock_and_reservations_and_alerts_on_its_transitions() {
    let stock = |id: &str, seconds: i64, quantity: i64| {
        event(id, seconds, StockReceived { product_id: "prd-1".into(), warehouse_id: "wh-1".into(), quantity })
    };
    let epochs = || {
        vec![
            vec![stock("e-stock", 1, 10)],
            // An order for 7 reserves them: available 3, low.
            vec![event("e-order", 2, order("ord-1", "prd-1", 7))],
            // Cancelled: the reservation goes, available is back at 10.
            vec![event("e-cancel", 3, OrderCancelled { order_id: "ord-1".into(), reason: "r".into() })],
            // An order for 12 oversells.
            vec![event("e-order-2", 4, order("ord-2", "prd-1", 12))],
        ]
    };
    let rows = changes(epochs(), |views| {
        views.inventory.clone().map(|(id, view)| (id, view.on_hand, view.reserved, view.available))
    });
    let row = |on_hand, reserved, available| ("prd-1".to_string(), on_hand, reserved, available);
    assert_eq!(
        rows,
        vec![
            (row(10, 0, 10), 1, 1),
            (row(10, 0, 10), 2, -1),
            (row(10, 7, 3), 2, 1),
            (row(10, 0, 10), 3, 1),
            (row(10, 7, 3), 3, -1),
            (row(10, 0, 10), 4, -1),
            (row(10, 12, -2), 4, 1),
        ]
    );
    let alerts = changes(epochs(), |views| {
        views.derived.clone().flat_map(|derived| match derived {
            Derived::InventoryAlert(alert) => Some((format!("{:?}", alert.kind), alert.previous, alert.available)),
            _ => None,
        })
    });
    assert_eq!(
        alerts,
        vec![
            (("LowStock".to_string(), Some(10), 3), 2, 1),
            (("LowStock".to_string(), Some(10), -2), 4, 1),
            (("Oversold".to_string(), Some(10), -2), 4, 1),
        ]
    );
}

#[test]
fn inventory_alerts_follow_event_time_whatever_the_arrival_order() {
    let stock = |id: &str, seconds: i64, quantity: i64| {
        event(id, seconds, StockReceived { product_id: "prd-1".into(), warehouse_id: "wh-1".into(), quantity })
    };
    let events = [
        stock("e-stock", 1, 10),
        event("e-order", 2, order("ord-1", "prd-1", 7)),
        event("e-cancel", 3, OrderCancelled { order_id: "ord-1".into(), reason: "r".into() }),
        event("e-order-2", 4, order("ord-2", "prd-1", 12)),
        stock("e-more", 5, 20),
    ];
    let alerts = |epochs: Vec<Vec<Envelope>>| {
        let mut all: Vec<(String, String, Option<i64>, i64)> = changes(epochs, |views| {
            views.derived.clone().flat_map(|derived| match derived {
                Derived::InventoryAlert(a) => Some((format!("{:?}", a.kind), a.step, a.previous, a.available)),
                _ => None,
            })
        })
        // What is left once every epoch is in: the alerts of the history.
        .into_iter()
        .fold(std::collections::BTreeMap::new(), |mut sum, (alert, _, diff)| {
            *sum.entry(alert).or_insert(0isize) += diff;
            sum
        })
        .into_iter()
        .filter(|(_, count)| *count != 0)
        .map(|(alert, count)| {
            assert_eq!(count, 1);
            alert
        })
        .collect();
        all.sort();
        all
    };
    let in_order = alerts(events.iter().map(|e| vec![e.clone()]).collect());
    let reversed = alerts(events.iter().rev().map(|e| vec![e.clone()]).collect());
    let alert = |kind: &str, step: &str, previous: Option<i64>, available: i64| {
        (kind.to_string(), step.to_string(), previous, available)
    };
    let expected = vec![
        alert("BackInStock", "e-more", Some(-2), 18),
        alert("LowStock", "ord-1#0000", Some(10), 3),
        alert("LowStock", "ord-2#0000", Some(10), -2),
        alert("Oversold", "ord-2#0000", Some(10), -2),
    ];
    assert_eq!(in_order, expected);
    assert_eq!(reversed, expected, "read backwards, the same transitions of the same timeline");
}

#[test]
fn a_cart_is_repriced_with_its_product_and_emptied_at_checkout() {
    let epochs = vec![
        vec![
            event("e-product", 1, product("prd-1", 500)),
            event("e-add", 2, CartItemAdded { user_id: "usr-1".into(), product_id: "prd-1".into(), quantity: 2 }),
        ],
        vec![event(
            "e-price",
            3,
            ProductUpdated {
                product_id: "prd-1".into(),
                name: None,
                description: None,
                category_id: None,
                price: Some(600),
                attributes: None,
                images: None,
            },
        )],
        vec![event("e-more", 4, CartItemAdded { user_id: "usr-1".into(), product_id: "prd-1".into(), quantity: 1 })],
        vec![event("e-checkout", 5, CartCheckedOut { user_id: "usr-1".into(), order_id: "ord-1".into() })],
    ];
    let rows = changes(epochs, |views| {
        views.carts.clone().map(|(user, cart)| {
            let lines: Vec<(String, i64, i64)> =
                cart.items.iter().map(|l| (l.product_id.clone(), l.quantity, l.unit_price)).collect();
            (user, lines, cart.subtotal)
        })
    });
    let cart = |quantity: i64, price: i64| {
        ("usr-1".to_string(), vec![("prd-1".to_string(), quantity, price)], quantity * price)
    };
    assert_eq!(
        rows,
        vec![
            (cart(2, 500), 1, 1),
            (cart(2, 500), 2, -1),
            (cart(2, 600), 2, 1),
            (cart(2, 600), 3, -1),
            (cart(3, 600), 3, 1),
            (cart(3, 600), 4, -1),
        ]
    );
}

#[test]
fn a_wallet_moves_with_top_ups_wallet_payments_and_their_refunds_only() {
    use shopflow_topics::events::{PaymentInitiated, PaymentMethod, PaymentRefunded, WalletToppedUp};
    let initiated = |payment: &str, method| PaymentInitiated {
        payment_id: payment.into(),
        order_id: "ord-1".into(),
        user_id: "usr-1".into(),
        amount: 300,
        currency: "USD".into(),
        method,
    };
    let completed =
        |payment: &str| PaymentCompleted { payment_id: payment.into(), order_id: "ord-1".into(), amount: 300 };
    let refunded =
        |payment: &str, amount| PaymentRefunded { payment_id: payment.into(), order_id: "ord-1".into(), amount };
    let epochs = vec![
        vec![event("e-top", 1, WalletToppedUp { user_id: "usr-1".into(), amount: 1_000, currency: "USD".into() })],
        // The completion before its initiation (in arrival): the method is known once both are in.
        vec![event("e-done", 3, completed("pay-w"))],
        vec![event("e-init", 2, initiated("pay-w", PaymentMethod::Wallet))],
        // A card payment moves no wallet; an over-refund of the wallet payment is not applied.
        vec![
            event("e-card", 4, initiated("pay-c", PaymentMethod::Card)),
            event("e-card-done", 5, completed("pay-c")),
            event("e-refund", 6, refunded("pay-w", 100)),
            event("e-over", 7, refunded("pay-w", 250)),
        ],
    ];
    let rows =
        changes(epochs, |views| views.wallets.clone().map(|(user, wallet)| (user, wallet.balance, wallet.items.len())));
    let user = || "usr-1".to_string();
    assert_eq!(
        rows,
        vec![
            ((user(), 1_000, 1), 1, 1),
            ((user(), 700, 2), 3, 1),
            ((user(), 1_000, 1), 3, -1),
            ((user(), 700, 2), 4, -1),
            ((user(), 800, 3), 4, 1),
        ]
    );
}
