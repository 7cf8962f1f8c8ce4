//! Promotions (admins): `POST /admin/promotions`, `POST /admin/promotions/{code}/end`.

use super::Route;
use crate::write::table::{route, Spec, Verb, Who};
use shopflow_topics::events::{PromotionCreated, PromotionEnded};

/// The routes of this family.
pub fn routes() -> Vec<Route> {
    vec![
        route(
            Spec::new(Verb::Post, "/api/v1/admin/promotions", PromotionCreated::TYPE_NAME, Who::Admin),
            PromotionCreated::TYPE_NAME,
        ),
        route(
            Spec::new(Verb::Post, "/api/v1/admin/promotions/{id}/end", PromotionEnded::TYPE_NAME, Who::Admin)
                .path_field("code"),
            PromotionEnded::TYPE_NAME,
        ),
    ]
}
