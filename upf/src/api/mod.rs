//! The HTTP API of the appliance: `GET /metrics` (Prometheus) and
//! `GET /status` (JSON). Runs on the control thread's tokio runtime (axum
//! over hyper: no HTTP parsing of our own) and reads only the
//! [`Telemetry`] model, never dataplane state directly.

pub mod metrics;
pub mod status;
mod telemetry;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::registry::Registry;

pub use telemetry::{
    Association, BuildInfo, DataplaneOccupancy, Direction, FqCsidNode, InterfaceStats,
    PfcpOccupancy, PfdApplication, ReloadDetails, ReloadRecord, ReloadResult, RunState, Telemetry,
    TelemetryModel, WorkerStats,
};

struct ApiState {
    telemetry: Telemetry,
    registry: Registry,
}

async fn get_metrics(State(st): State<Arc<ApiState>>, headers: HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let format = metrics::Format::from_accept(accept);
    match metrics::render(&st.registry, format) {
        Ok(body) => ([(header::CONTENT_TYPE, format.content_type())], body).into_response(),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "metrics encoding failed\n",
        )
            .into_response(),
    }
}

async fn get_status(State(st): State<Arc<ApiState>>) -> Response {
    let model = st.telemetry.snapshot();
    let doc = status::StatusDoc::from_model(&st.telemetry, &model);
    let code = if model.state == RunState::Running {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, axum::Json(doc)).into_response()
}

async fn get_index() -> &'static str {
    "upf API\n  GET /metrics  Prometheus metrics\n  GET /status   JSON status (200 when running, 503 otherwise)\n"
}

/// The API's routes over `telemetry`.
pub fn router(telemetry: Telemetry) -> Router {
    let registry = metrics::registry(telemetry.clone());
    let state = Arc::new(ApiState {
        telemetry,
        registry,
    });
    Router::new()
        .route("/", get(get_index))
        .route("/metrics", get(get_metrics))
        .route("/status", get(get_status))
        .with_state(state)
}

/// Binds the API's TCP listener (port 0 picks a free port; see
/// `local_addr()` of the result).
///
/// # Errors
/// If the address cannot be bound (in use, not local, no permission).
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await
}

/// Serves the API on `listener` until `shutdown` completes; then stops
/// accepting and lets open requests finish.
///
/// # Errors
/// If accepting connections fails for good.
pub async fn serve(
    listener: tokio::net::TcpListener,
    telemetry: Telemetry,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(telemetry))
        .with_graceful_shutdown(shutdown)
        .await
}
