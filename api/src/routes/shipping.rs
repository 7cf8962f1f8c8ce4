//! Shipping (admins): delivery partners and their availability; shipments,
//! their status and delivery.

use super::Route;
use crate::write::table::{route, Spec, Verb, Who};
use shopflow_topics::events::{
    DeliveryPartnerAvailabilityChanged, DeliveryPartnerRegistered, ShipmentCreated, ShipmentDelivered,
    ShipmentStatusUpdated,
};

/// The routes of this family.
pub fn routes() -> Vec<Route> {
    use Verb::{Post, Put};
    use Who::Admin;
    vec![
        route(
            Spec::new(Post, "/api/v1/admin/delivery-partners", DeliveryPartnerRegistered::TYPE_NAME, Admin)
                .generated("partnerId", "dlp"),
            DeliveryPartnerRegistered::TYPE_NAME,
        ),
        route(
            Spec::new(
                Put,
                "/api/v1/admin/delivery-partners/{id}/availability",
                DeliveryPartnerAvailabilityChanged::TYPE_NAME,
                Admin,
            )
            .path_field("partnerId"),
            DeliveryPartnerAvailabilityChanged::TYPE_NAME,
        ),
        route(
            Spec::new(Post, "/api/v1/admin/shipments", ShipmentCreated::TYPE_NAME, Admin)
                .generated("shipmentId", "shp"),
            ShipmentCreated::TYPE_NAME,
        ),
        route(
            Spec::new(Post, "/api/v1/admin/shipments/{id}/status", ShipmentStatusUpdated::TYPE_NAME, Admin)
                .path_field("shipmentId"),
            ShipmentStatusUpdated::TYPE_NAME,
        ),
        route(
            Spec::new(Post, "/api/v1/admin/shipments/{id}/delivered", ShipmentDelivered::TYPE_NAME, Admin)
                .path_field("shipmentId"),
            ShipmentDelivered::TYPE_NAME,
        ),
    ]
}
