//! The OpenAPI document: its frame (info, security scheme), filled with the paths of the routers, served at
//! `/openapi.json` and rendered at `/docs`.

use std::sync::Arc;

use axum::Router;
use utoipa::OpenApi;

/// The OpenAPI document's frame; paths are collected from the routes.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "whatsapi",
        description = "WhatsApp Business messaging gateway: send text and template messages through Meta's \
                       WhatsApp Cloud API, track their delivery, and receive status webhooks.\n\n\
                       **Sandbox mode** (`whatsapi --sandbox`): messages go to an emulator of Meta's Cloud API. As on \
                       Meta, free-form text to a customer who has not written in during the last 24 hours fails with \
                       131047; templates always work; `POST /sandbox/inbound` simulates the customer writing in. \
                       Magic recipients:\n\n\
                       | recipient | behaviour |\n|---|---|\n\
                       | 15550000001 | accepted, then `failed` with 131026 |\n\
                       | 15550000002 | first 2 sends: HTTP 400, 130429; then success |\n\
                       | 15550000003 | text: 131047 until it writes in; templates succeed |\n\
                       | 15550000004 | sent, delivered, never read |\n\
                       | 15550000005 | first 3 sends: HTTP 500, 131000; then success |\n\
                       | 15550000006 | statuses arrive read, delivered, sent |\n\
                       | 15550000007 | first send: HTTP 400, 131056; then success |\n\
                       | 15550000008 | templates other than hello_world/en_US: 132001 |\n\
                       | 15550000009 | answered after 2 s |\n\
                       | any other | sent, delivered, read; text needs the 24-hour window |",
        version = env!("CARGO_PKG_VERSION")
    ),
    modifiers(&SecurityAddon),
    components(schemas(crate::views::ErrorView, crate::views::FieldErrorView))
)]
pub struct ApiDoc;

struct SecurityAddon;

impl utoipa::Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("sk_live_ + 48 hex characters")
                    .build(),
            ),
        );
    }
}

/// `/openapi.json` and the Swagger UI at `/docs`, serving `doc`.
pub fn docs_router<S: Clone + Send + Sync + 'static>(doc: utoipa::openapi::OpenApi) -> Router<S> {
    let doc = Arc::new(doc);
    let json = doc.clone();
    Router::new()
        .route(
            "/openapi.json",
            axum::routing::get(move || {
                let doc = json.clone();
                async move { axum::Json(doc.as_ref().clone()) }
            }),
        )
        .merge(
            utoipa_swagger_ui::SwaggerUi::new("/docs")
                .url("/docs/openapi.json", doc.as_ref().clone()),
        )
}
