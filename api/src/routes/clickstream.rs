//! Clickstream: `POST /events/view`, `/events/search`, `/events/click`, for
//! anyone (the token's user when there is one).

use super::Route;
use crate::write::table::clickstream_route;
use shopflow_topics::events::{ProductViewed, SearchPerformed, SearchResultClicked};

/// The routes of this family.
pub fn routes() -> Vec<Route> {
    vec![
        clickstream_route(
            "/api/v1/events/view",
            ProductViewed::TYPE_NAME,
            &[("productId", "string", true), ("sessionId", "string", true)],
        ),
        clickstream_route(
            "/api/v1/events/search",
            SearchPerformed::TYPE_NAME,
            &[("query", "string", true), ("sessionId", "string", true), ("resultCount", "integer", true)],
        ),
        clickstream_route(
            "/api/v1/events/click",
            SearchResultClicked::TYPE_NAME,
            &[
                ("query", "string", true),
                ("sessionId", "string", true),
                ("productId", "string", true),
                ("position", "integer", true),
            ],
        ),
    ]
}
