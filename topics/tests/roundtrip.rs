//! Encode-then-decode gives back the same value, for generated events of every type.

use proptest::prelude::*;
use shopflow_topics::events::*;
use shopflow_topics::{Envelope, Event, EventTime};
use std::collections::BTreeMap;

fn id() -> impl Strategy<Value = String> {
    "[A-Za-z0-9._:-]{1,64}"
}

/// Free text: any Unicode, quotes and control characters included.
fn text() -> impl Strategy<Value = String> {
    any::<String>()
}

fn money() -> impl Strategy<Value = i64> {
    0..i64::MAX
}

fn qty() -> impl Strategy<Value = i64> {
    1..i64::MAX
}

fn time() -> impl Strategy<Value = EventTime> {
    // 1970..2200, any nanosecond.
    (0..7_258_118_400_000_000_000i64).prop_map(EventTime)
}

fn currency() -> impl Strategy<Value = String> {
    "[A-Z]{3}"
}

fn address() -> impl Strategy<Value = Address> {
    (text(), text(), proptest::option::of(text()), text(), text())
        .prop_map(|(street, city, state, zipcode, country)| Address { street, city, state, zipcode, country })
}

fn attributes() -> impl Strategy<Value = BTreeMap<String, String>> {
    proptest::collection::btree_map(text(), text(), 0..4)
}

fn strings() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec(text(), 0..4)
}

fn of<T: Clone + std::fmt::Debug>(values: &'static [T]) -> impl Strategy<Value = T> {
    proptest::sample::select(values)
}

fn user_events() -> impl Strategy<Value = Event> {
    prop_oneof![
        (id(), text(), text(), of(Role::ALL), proptest::option::of(address()), proptest::option::of(text())).prop_map(
            |(user_id, email, name, role, address, phone)| UserRegistered {
                user_id,
                email,
                name,
                role,
                address,
                phone
            }
            .into()
        ),
        (
            id(),
            proptest::option::of(text()),
            proptest::option::of(text()),
            proptest::option::of(address()),
            proptest::option::of(text())
        )
            .prop_map(|(user_id, name, email, address, phone)| UserProfileUpdated {
                user_id,
                name,
                email,
                address,
                phone
            }
            .into()),
        (id(), any::<bool>(), any::<bool>(), any::<bool>())
            .prop_map(|(user_id, email, sms, push)| UserPreferencesUpdated { user_id, email, sms, push }.into()),
        id().prop_map(|user_id| UserDeleted { user_id }.into()),
    ]
}

fn catalog_events() -> impl Strategy<Value = Event> {
    prop_oneof![
        (id(), text(), proptest::option::of(id())).prop_map(|(category_id, name, parent_id)| CategoryUpserted {
            category_id,
            name,
            parent_id
        }
        .into()),
        ((id(), id(), text(), text(), id()), (money(), currency(), attributes(), strings())).prop_map(
            |((product_id, vendor_id, name, description, category_id), (price, currency, attributes, images))| {
                ProductCreated {
                    product_id,
                    vendor_id,
                    name,
                    description,
                    category_id,
                    price,
                    currency,
                    attributes,
                    images,
                }
                .into()
            }
        ),
        (
            id(),
            proptest::option::of(text()),
            proptest::option::of(text()),
            proptest::option::of(id()),
            proptest::option::of(money()),
            proptest::option::of(attributes()),
            proptest::option::of(strings())
        )
            .prop_map(|(product_id, name, description, category_id, price, attributes, images)| {
                ProductUpdated { product_id, name, description, category_id, price, attributes, images }.into()
            }),
        id().prop_map(|product_id| ProductDeleted { product_id }.into()),
        (id(), id(), qty()).prop_map(|(product_id, warehouse_id, quantity)| StockReceived {
            product_id,
            warehouse_id,
            quantity
        }
        .into()),
        (id(), id(), any::<i64>(), text()).prop_map(|(product_id, warehouse_id, delta, reason)| InventoryAdjusted {
            product_id,
            warehouse_id,
            delta,
            reason
        }
        .into()),
    ]
}

fn cart_and_order_events() -> impl Strategy<Value = Event> {
    let item = (id(), id(), qty(), money()).prop_map(|(product_id, vendor_id, quantity, unit_price)| OrderItem {
        product_id,
        vendor_id,
        quantity,
        unit_price,
    });
    prop_oneof![
        (id(), id(), qty())
            .prop_map(|(user_id, product_id, quantity)| CartItemAdded { user_id, product_id, quantity }.into()),
        (id(), id(), 0..i64::MAX).prop_map(|(user_id, product_id, quantity)| CartItemUpdated {
            user_id,
            product_id,
            quantity
        }
        .into()),
        (id(), id()).prop_map(|(user_id, product_id)| CartItemRemoved { user_id, product_id }.into()),
        (id(), id()).prop_map(|(user_id, order_id)| CartCheckedOut { user_id, order_id }.into()),
        (
            (id(), id(), proptest::collection::vec(item, 1..4)),
            (money(), money(), money(), money(), currency(), proptest::option::of(id()), address())
        )
            .prop_map(
                |(
                    (order_id, user_id, items),
                    (subtotal, discount, shipping, total, currency, promo_code, shipping_address),
                )| OrderCreated {
                    order_id,
                    user_id,
                    items,
                    subtotal,
                    discount,
                    shipping,
                    total,
                    currency,
                    promo_code,
                    shipping_address
                }
                .into()
            ),
        (id(), text()).prop_map(|(order_id, reason)| OrderCancelled { order_id, reason }.into()),
        (id(), text()).prop_map(|(order_id, reason)| OrderReturnRequested { order_id, reason }.into()),
    ]
}

fn payment_and_shipment_events() -> impl Strategy<Value = Event> {
    prop_oneof![
        (id(), id(), id(), money(), currency(), of(PaymentMethod::ALL)).prop_map(
            |(payment_id, order_id, user_id, amount, currency, method)| PaymentInitiated {
                payment_id,
                order_id,
                user_id,
                amount,
                currency,
                method
            }
            .into()
        ),
        (id(), id(), money()).prop_map(|(payment_id, order_id, amount)| PaymentCompleted {
            payment_id,
            order_id,
            amount
        }
        .into()),
        (id(), id(), text())
            .prop_map(|(payment_id, order_id, reason)| PaymentFailed { payment_id, order_id, reason }.into()),
        (id(), id(), money()).prop_map(|(payment_id, order_id, amount)| PaymentRefunded {
            payment_id,
            order_id,
            amount
        }
        .into()),
        (id(), money(), currency()).prop_map(|(user_id, amount, currency)| WalletToppedUp {
            user_id,
            amount,
            currency
        }
        .into()),
        (id(), id(), id(), text(), text()).prop_map(
            |(shipment_id, order_id, warehouse_id, carrier, tracking_number)| {
                ShipmentCreated { shipment_id, order_id, warehouse_id, carrier, tracking_number }.into()
            }
        ),
        (id(), id(), of(TransitStatus::ALL), proptest::option::of(text())).prop_map(
            |(shipment_id, order_id, status, location)| ShipmentStatusUpdated {
                shipment_id,
                order_id,
                status,
                location
            }
            .into()
        ),
        (id(), id()).prop_map(|(shipment_id, order_id)| ShipmentDelivered { shipment_id, order_id }.into()),
        (id(), text(), strings(), qty()).prop_map(|(partner_id, name, service_areas, capacity)| {
            DeliveryPartnerRegistered { partner_id, name, service_areas, capacity }.into()
        }),
        (id(), any::<bool>()).prop_map(|(partner_id, available)| DeliveryPartnerAvailabilityChanged {
            partner_id,
            available
        }
        .into()),
    ]
}

fn other_events() -> impl Strategy<Value = Event> {
    prop_oneof![
        (id(), id(), id(), 1..=5i64, text(), text()).prop_map(
            |(review_id, product_id, user_id, rating, title, body)| ReviewPosted {
                review_id,
                product_id,
                user_id,
                rating,
                title,
                body
            }
            .into()
        ),
        (id(), id(), of(ModerationAction::ALL)).prop_map(|(review_id, product_id, action)| ReviewModerated {
            review_id,
            product_id,
            action
        }
        .into()),
        (id(), id(), text()).prop_map(|(vendor_id, user_id, store_name)| VendorApplied {
            vendor_id,
            user_id,
            store_name
        }
        .into()),
        (id(), 0..=10_000i64)
            .prop_map(|(vendor_id, commission_bps)| VendorApproved { vendor_id, commission_bps }.into()),
        (id(), text()).prop_map(|(vendor_id, reason)| VendorSuspended { vendor_id, reason }.into()),
        (id(), id(), money()).prop_map(|(vendor_id, payout_id, amount)| PayoutRequested {
            vendor_id,
            payout_id,
            amount
        }
        .into()),
        (id(), id(), money()).prop_map(|(vendor_id, payout_id, amount)| PayoutProcessed {
            vendor_id,
            payout_id,
            amount
        }
        .into()),
        (proptest::option::of(id()), id(), id()).prop_map(|(user_id, session_id, product_id)| ProductViewed {
            user_id,
            session_id,
            product_id
        }
        .into()),
        (proptest::option::of(id()), id(), text(), 0..i64::MAX).prop_map(
            |(user_id, session_id, query, result_count)| SearchPerformed { user_id, session_id, query, result_count }
                .into()
        ),
        (proptest::option::of(id()), id(), text(), id(), 0..i64::MAX).prop_map(
            |(user_id, session_id, query, product_id, position)| {
                SearchResultClicked { user_id, session_id, query, product_id, position }.into()
            }
        ),
        (
            id(),
            prop_oneof![(1..=100i64).prop_map(|p| (Some(p), None)), money().prop_map(|a| (None, Some(a)))],
            money(),
            time(),
            time(),
            proptest::option::of(id())
        )
            .prop_map(|(code, (percent_off, amount_off), min_subtotal, starts_at, ends_at, category_id)| {
                PromotionCreated { code, percent_off, amount_off, min_subtotal, starts_at, ends_at, category_id }.into()
            }),
        id().prop_map(|code| PromotionEnded { code }.into()),
    ]
}

fn derived_events() -> impl Strategy<Value = Event> {
    prop_oneof![
        (id(), id(), proptest::option::of(of(OrderStatus::ALL)), of(OrderStatus::ALL)).prop_map(
            |(order_id, user_id, previous_status, new_status)| OrderStatusChanged {
                order_id,
                user_id,
                previous_status,
                new_status
            }
            .into()
        ),
        (id(), any::<i64>()).prop_map(|(product_id, available)| ProductBackInStock { product_id, available }.into()),
        (id(), any::<i64>(), any::<i64>()).prop_map(|(product_id, available, threshold)| InventoryLowStock {
            product_id,
            available,
            threshold
        }
        .into()),
        (id(), any::<i64>()).prop_map(|(product_id, available)| InventoryOversold { product_id, available }.into()),
        (id(), proptest::option::of(id()), text(), text())
            .prop_map(|(user_id, order_id, rule, detail)| FraudSuspected { user_id, order_id, rule, detail }.into()),
        (id(), id(), of(Channel::ALL), text(), text(), text()).prop_map(
            |(notification_id, user_id, channel, template, subject, body)| {
                NotificationRequested { notification_id, user_id, channel, template, subject, body }.into()
            }
        ),
        (
            id(),
            0..i32::MAX,
            0..i64::MAX,
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..8)),
            proptest::collection::vec(any::<u8>(), 0..64),
            text()
        )
            .prop_map(|(topic, partition, offset, key, value, reason)| DeadLetter::new(
                &topic,
                partition,
                offset,
                key.as_deref(),
                &value,
                reason
            )
            .into()),
    ]
}

fn credential_events() -> impl Strategy<Value = Event> {
    prop_oneof![
        (id(), text(), text()).prop_map(|(user_id, email, password_hash)| UserCredentialsSet {
            user_id,
            email,
            password_hash
        }
        .into()),
        (id(), proptest::option::of(text())).prop_map(|(user_id, totp_secret_sealed)| UserMfaSet {
            user_id,
            totp_secret_sealed
        }
        .into()),
        (id(), text()).prop_map(|(user_id, reason)| UserSuspended { user_id, reason }.into()),
    ]
}

fn any_event() -> impl Strategy<Value = Event> {
    prop_oneof![
        credential_events(),
        user_events(),
        catalog_events(),
        cart_and_order_events(),
        payment_and_shipment_events(),
        other_events(),
        derived_events()
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn encode_then_decode_is_the_identity(event in any_event(), event_id in id(), source in "[ -~]{1,20}", at in time()) {
        let envelope = Envelope::new(event_id, source, at, event);
        let bytes = envelope.to_json();
        let topic = envelope.topic().name();
        let decoded = Envelope::decode_record(topic, Some(envelope.key().as_bytes()), &bytes);
        prop_assert_eq!(decoded, Ok(envelope));
    }
}

#[test]
fn every_type_is_generated() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = any_event();
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..20_000 {
        seen.insert(strategy.new_tree(&mut runner).unwrap().current().type_name());
    }
    assert_eq!(
        seen.len(),
        Event::TYPE_NAMES.len(),
        "missing: {:?}",
        Event::TYPE_NAMES.iter().filter(|t| !seen.contains(*t)).collect::<Vec<_>>()
    );
}
