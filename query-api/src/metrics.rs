//! `/metrics`: projection lag per projector and HTTP request counters, in Prometheus text.

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use loh_projections::ProjectionMetrics;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::time::Instant;

/// Labels of a served request.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    /// The route template (`/v1/players/{player_id}/position`), `unmatched` for a 404 path.
    pub route: String,
    pub status: u16,
}

/// Labels of a request's duration.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub route: String,
}

fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 14))
}

/// Labels of a response-cache lookup.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CacheLabels {
    /// `hit`, `miss` (computed and stored) or `bypass` (the range is not final yet).
    pub result: String,
}

/// HTTP metrics of the query API. Clones share the values.
#[derive(Debug, Clone)]
pub struct HttpMetrics {
    requests: Family<RequestLabels, Counter>,
    duration: Family<RouteLabels, Histogram, fn() -> Histogram>,
    cache: Family<CacheLabels, Counter>,
}

impl HttpMetrics {
    /// New metrics, registered into `registry`.
    pub fn register(registry: &mut Registry) -> HttpMetrics {
        let m = HttpMetrics {
            requests: Family::default(),
            duration: Family::new_with_constructor(duration_histogram),
            cache: Family::default(),
        };
        registry.register(
            "loh_query_http_requests",
            "HTTP requests served by the query API",
            m.requests.clone(),
        );
        registry.register(
            "loh_query_http_request_duration_seconds",
            "Time to serve a query API request",
            m.duration.clone(),
        );
        registry.register(
            "loh_query_cache_lookups",
            "Economy answers looked up in the Redis response cache, by result",
            m.cache.clone(),
        );
        m
    }

    /// Counts a response-cache lookup (`hit`, `miss` or `bypass`).
    pub fn cache_lookup(&self, result: &str) {
        self.cache
            .get_or_create(&CacheLabels {
                result: result.to_owned(),
            })
            .inc();
    }

    /// Response-cache lookups so far with this result.
    pub fn cache_lookups(&self, result: &str) -> u64 {
        self.cache
            .get_or_create(&CacheLabels {
                result: result.to_owned(),
            })
            .get()
    }

    /// Requests served so far with these labels.
    pub fn requests(&self, method: &str, route: &str, status: u16) -> u64 {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .get()
    }
}

/// The registry served on `/metrics`, with the projection and HTTP metrics in it. Clones share
/// everything.
#[derive(Clone)]
pub struct ApiMetrics {
    registry: Arc<Registry>,
    projections: ProjectionMetrics,
    http: HttpMetrics,
}

impl Default for ApiMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl ApiMetrics {
    /// A fresh registry holding projection and HTTP metrics.
    pub fn new() -> ApiMetrics {
        let mut registry = Registry::default();
        let projections = ProjectionMetrics::register(&mut registry);
        Self::from_registry(registry, projections)
    }

    /// Serves `registry`, which already holds `projections` (registered by the caller, e.g.
    /// shared with the runners of `loh up`); the HTTP metrics are registered into it here.
    pub fn from_registry(mut registry: Registry, projections: ProjectionMetrics) -> ApiMetrics {
        let http = HttpMetrics::register(&mut registry);
        ApiMetrics {
            registry: Arc::new(registry),
            projections,
            http,
        }
    }

    /// The projection metrics (hand clones to runners in the same process).
    pub fn projections(&self) -> &ProjectionMetrics {
        &self.projections
    }

    /// The HTTP metrics.
    pub fn http(&self) -> &HttpMetrics {
        &self.http
    }

    /// The registry in Prometheus (OpenMetrics) text.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "encoding metrics failed");
        }
        out
    }
}

/// A request method as a label: the standard methods by name, any other (a client may send any
/// token) as `other`, so that no client can grow the label set without bound.
pub fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    const KNOWN: [(Method, &str); 9] = [
        (Method::GET, "GET"),
        (Method::HEAD, "HEAD"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::DELETE, "DELETE"),
        (Method::PATCH, "PATCH"),
        (Method::OPTIONS, "OPTIONS"),
        (Method::CONNECT, "CONNECT"),
        (Method::TRACE, "TRACE"),
    ];
    KNOWN
        .iter()
        .find(|(known, _)| known == method)
        .map_or("other", |(_, name)| name)
}

/// Middleware counting every request by method, route template and status.
pub async fn track(State(metrics): State<ApiMetrics>, request: Request, next: Next) -> Response {
    let method = method_label(request.method()).to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let start = Instant::now();
    let response = next.run(request).await;
    let http = &metrics.http;
    http.duration
        .get_or_create(&RouteLabels {
            method: method.clone(),
            route: route.clone(),
        })
        .observe(start.elapsed().as_secs_f64());
    http.requests
        .get_or_create(&RequestLabels {
            method,
            route,
            status: response.status().as_u16(),
        })
        .inc();
    response
}
