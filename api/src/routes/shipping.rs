//! Shipping (admins): delivery partners and their availability, and
//! `GET /admin/delivery-partners` (each with its open assignments against its
//! capacity); shipments, their status and delivery.

use super::{paged, read_doc, read_list, with_as_of, PageQuery, Route};
use crate::auth::Caller;
use crate::error::AppError;
use crate::openapi::{Access, Doc};
use crate::write::table::{route, Spec, Verb, Who};
use crate::AppState;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::Json;
use serde_json::Value;
use shopflow_topics::events::{
    DeliveryPartnerAvailabilityChanged, DeliveryPartnerRegistered, ShipmentCreated, ShipmentDelivered,
    ShipmentStatusUpdated,
};
use shopflow_views::shipping::PartnerView;
use shopflow_views::Family;

/// The routes of this family.
pub fn routes() -> Vec<Route> {
    use Verb::{Post, Put};
    use Who::Admin;
    let partners = Doc {
        query: &[("page", "1-based"), ("pageSize", "1-500, default 50")],
        ..read_doc(
            "/api/v1/admin/delivery-partners",
            "delivery partners with their open assignments and capacity",
            Access::Admin,
        )
    };
    vec![
        (partners, get(partners_list)),
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

/// `GET /admin/delivery-partners?page=&pageSize=`: `{items: [{partnerId, name,
/// serviceAreas, capacity, available, openAssignments}], total, page, pageSize, asOf}`, by partnerId.
pub async fn partners_list(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<PageQuery>,
) -> Result<Json<Value>, AppError> {
    caller.require_admin()?;
    let page = query.get(50, 500)?;
    let (as_of, mut items) = read_list::<PartnerView>(&state, Family::DeliveryPartners, "all").await?;
    items.sort_by(|a, b| a.partner_id.cmp(&b.partner_id));
    Ok(Json(with_as_of(paged(items, page), as_of)))
}
