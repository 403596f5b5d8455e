//! The service: the frontend at `/` with an SPA fallback for app routes, the dataset
//! folders under `/data/`, and what a static host must add around the files.
//!
//! Files are served by tower-http's `ServeDir` (ranges, precompressed `.br`/`.gz`
//! variants, strong ETags, `Last-Modified`, `If-None-Match`/`If-Modified-Since` 304s)
//! over [`RootedBackend`], which keeps symlinks inside the folders. Around it
//! [`StaticHost`] does, in order: the access log entry; [`check_request_path`], which
//! refuses hostile paths first; the choice of folder by the `/data` prefix;
//! [`handle_range_requests`], which adds `If-Range` and identity-only ranges; and
//! [`add_response_headers`]: content types, `Cache-Control`, cross-origin isolation
//! and `Vary` on 304s.
//!
//! One hand-written service rather than an axum router with `from_fn` layers: each
//! layer and the nested router cost boxed futures, service clones and request
//! extensions on every request, a fifth of the CPU time of a small file.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, Uri, Version, header};
use axum::response::{IntoResponse, Response};
use tower::util::BoxCloneSyncService;
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::services::ServeDir;

use crate::access_log::AccessEntry;
use crate::config::{Config, CorsOrigin};
use crate::file_policy::{NO_CACHE, cache_control_for, content_type_for};
use crate::range_requests::handle_range_requests;
use crate::request_path::check_request_path;
use crate::rooted_backend::RootedBackend;

/// How long browsers may cache a CORS preflight answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// Builds the router for `config`: `/` serves `config.dist()`, `/data/` serves
/// `config.data()`.
pub fn app(config: &Config) -> Router {
    Router::new().fallback_service(StaticHost::new(config))
}

/// A file service with axum's request and response types.
type FileService = BoxCloneSyncService<Request, Response, Infallible>;

/// The whole site as one service; [`app`] puts it in a router, [`crate::serve`] uses it
/// directly. Cloned for every connection and request, so a clone only counts a
/// reference; a request clones the one file service it calls.
#[derive(Clone)]
pub(crate) struct StaticHost {
    services: Arc<Services>,
}

struct Services {
    /// `config.data()`, with CORS when configured.
    data: FileService,
    /// `config.dist()` with the SPA fallback.
    app: FileService,
    cross_origin_isolation: bool,
}

impl StaticHost {
    pub(crate) fn new(config: &Config) -> Self {
        let data_files = ServiceExt::<Request>::map_response(
            file_service(config.data())
                .append_index_html_on_directories(false)
                .redirect_to_trailing_slash(false),
            |response| response.map(Body::new),
        );
        let data = match &config.cors {
            None => FileService::new(data_files),
            Some(origin) => FileService::new(
                ServiceBuilder::new()
                    .map_response(allow_cross_origin_embedding)
                    .layer(cors_layer(origin))
                    .service(data_files),
            ),
        };

        let app_files = file_service(config.dist());
        let index = app_files.clone();
        let app_routes = app_files.fallback(tower::service_fn(move |request: Request| {
            serve_index_for_app_route(index.clone(), request)
        }));
        let app_routes =
            ServiceExt::<Request>::map_response(app_routes, |response| response.map(Body::new));
        let app = match (&config.cors, config.cors_app) {
            (Some(origin), true) => FileService::new(
                ServiceBuilder::new()
                    .map_response(allow_cross_origin_embedding)
                    .layer(cors_layer(origin))
                    .service(app_routes),
            ),
            _ => FileService::new(app_routes),
        };
        Self {
            services: Arc::new(Services {
                data,
                app,
                cross_origin_isolation: config.cross_origin_isolation,
            }),
        }
    }
}

impl Service<Request> for StaticHost {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // Both file services are always ready; each request calls a clone.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let access = AccessEntry::start(&request);
        let path = request.uri().path();
        // The headers that depend on the file name, worked out before the request is
        // handed on (so the name need not be copied).
        let file_name = path.rsplit('/').next().unwrap_or_default();
        let file_headers = (!file_name.is_empty()).then(|| FileHeaders {
            cache_control: cache_control_for(file_name),
            content_type: content_type_for(file_name),
        });
        let cross_origin_isolation = self.services.cross_origin_isolation;
        // A refused request never reaches a file system call.
        let files = match host_header_fault(&request) {
            Some(fault) => Err((StatusCode::BAD_REQUEST, fault.to_owned())),
            None => {
                check_request_path(path).map_err(|refusal| (refusal.status(), refusal.to_string()))
            }
        }
        .map(|()| match data_path(request.uri()) {
            Some(inside_data) => {
                *request.uri_mut() = inside_data;
                self.services.data.clone()
            }
            None => self.services.app.clone(),
        });
        Box::pin(async move {
            let mut response = match files {
                Ok(files) => handle_range_requests(files, request).await,
                Err((status, refusal)) => {
                    tracing::debug!(path = request.uri().path(), %refusal, "refused request");
                    (status, refusal).into_response()
                }
            };
            add_response_headers(&mut response, file_headers, cross_origin_isolation);
            if let Some(access) = access {
                access.finish(&response);
            }
            Ok(response)
        })
    }
}

/// What makes the `Host` header fields of `request` a bad request (RFC 9112 §3.2): none
/// in an HTTP/1.1 request, or more than one in any.
fn host_header_fault(request: &Request) -> Option<&'static str> {
    let mut hosts = request.headers().get_all(header::HOST).iter();
    match (hosts.next(), hosts.next()) {
        (Some(_), Some(_)) => Some("more than one Host header"),
        (None, _) if request.version() == Version::HTTP_11 => {
            Some("an HTTP/1.1 request needs a Host header")
        }
        _ => None,
    }
}

/// The URI inside the data folder of a URI under `/data` (`/data/ds/a.shard` ->
/// `/ds/a.shard`, query kept), or `None` for the frontend's URIs.
fn data_path(uri: &Uri) -> Option<Uri> {
    let rest = uri.path().strip_prefix("/data")?;
    if !rest.is_empty() && !rest.starts_with('/') {
        return None;
    }
    let path = if rest.is_empty() { "/" } else { rest };
    let path_and_query = match uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    // A suffix of a valid path plus its valid query is valid; fall back to the data
    // root (a 404) rather than panic should that ever not hold.
    Some(Uri::try_from(path_and_query).unwrap_or_else(|_| Uri::from_static("/")))
}

fn file_service(
    root: &std::path::Path,
) -> ServeDir<tower_http::services::fs::DefaultServeDirFallback, RootedBackend> {
    ServeDir::with_backend(root, RootedBackend::new(root))
        .precompressed_br()
        .precompressed_gzip()
        // RFC 9110 lets a server ignore a Range header; ServeDir's alternative is a 416
        // for any multi-range request, which is not what 416 means.
        .ignore_multi_range_requests(true)
}

/// The SPA fallback: a path whose last segment has no extension is an app route and
/// gets `index.html` (through the same file service, so it has validators too);
/// anything else that was not found, such as `/missing.js`, is a 404.
async fn serve_index_for_app_route(
    index: ServeDir<tower_http::services::fs::DefaultServeDirFallback, RootedBackend>,
    mut request: Request,
) -> Result<Response, Infallible> {
    let last_segment = request.uri().path().rsplit('/').next().unwrap_or_default();
    if last_segment.contains('.') {
        return Ok(StatusCode::NOT_FOUND.into_response());
    }
    *request.uri_mut() = Uri::from_static("/index.html");
    let response = index.oneshot(request).await?;
    Ok(response.map(Body::new))
}

fn cors_layer(origin: &CorsOrigin) -> CorsLayer {
    let allow_origin = match origin {
        CorsOrigin::Any => AllowOrigin::any(),
        // A list, not `exact`: other origins get no Access-Control-Allow-Origin at all,
        // and the answer carries `Vary: origin` for shared caches.
        CorsOrigin::Exact(origin) => AllowOrigin::list([origin.clone()]),
    };
    CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods([Method::GET, Method::HEAD])
        .allow_headers([
            header::RANGE,
            header::IF_NONE_MATCH,
            header::IF_MODIFIED_SINCE,
            header::IF_RANGE,
        ])
        .expose_headers([
            header::CONTENT_RANGE,
            header::CONTENT_LENGTH,
            header::ETAG,
            header::ACCEPT_RANGES,
            header::LAST_MODIFIED,
        ])
        .max_age(PREFLIGHT_MAX_AGE)
}

/// Lets cross-origin-isolated pages on other origins load `/data/*` (with `--cors`) and
/// the app's files (with `--cors-app`).
fn allow_cross_origin_embedding(mut response: Response) -> Response {
    response.headers_mut().insert(
        HeaderName::from_static("cross-origin-resource-policy"),
        HeaderValue::from_static("cross-origin"),
    );
    response
}

/// The headers a response gets for the file it names.
struct FileHeaders {
    cache_control: HeaderValue,
    content_type: Option<HeaderValue>,
}

/// Adds the headers that depend on the request path, the status and the configuration.
fn add_response_headers(
    response: &mut Response,
    file_headers: Option<FileHeaders>,
    cross_origin_isolation: bool,
) {
    let status = response.status();
    let headers = response.headers_mut();
    let answers_with_the_file = status.is_success() || status == StatusCode::NOT_MODIFIED;
    let (cache_control, content_type) = match file_headers {
        Some(file) if answers_with_the_file => (file.cache_control, file.content_type),
        _ => (HeaderValue::from_static(NO_CACHE), None),
    };
    headers.insert(header::CACHE_CONTROL, cache_control);

    // Only file answers carry a content type to correct; a CORS preflight has none.
    if matches!(status, StatusCode::OK | StatusCode::PARTIAL_CONTENT)
        && headers.contains_key(header::CONTENT_TYPE)
        && let Some(content_type) = content_type
    {
        headers.insert(header::CONTENT_TYPE, content_type);
    }
    // A 304 must carry the Vary its 200 would have had (RFC 9110 §15.4.5).
    if status == StatusCode::NOT_MODIFIED && !headers.contains_key(header::VARY) {
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if cross_origin_isolation {
        headers.insert(
            HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        );
        headers.insert(
            HeaderName::from_static("cross-origin-embedder-policy"),
            HeaderValue::from_static("require-corp"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_paths_lose_their_prefix_and_keep_their_query() {
        let inside =
            |uri: &'static str| data_path(&Uri::from_static(uri)).map(|uri| uri.to_string());
        assert_eq!(inside("/data/ds/a.shard").as_deref(), Some("/ds/a.shard"));
        assert_eq!(
            inside("/data/ds/a.shard?v=2").as_deref(),
            Some("/ds/a.shard?v=2")
        );
        assert_eq!(inside("/data").as_deref(), Some("/"));
        assert_eq!(inside("/data/").as_deref(), Some("/"));
        assert_eq!(inside("/data?x").as_deref(), Some("/?x"));
        assert_eq!(inside("/database.json"), None);
        assert_eq!(inside("/index.html"), None);
        assert_eq!(inside("/"), None);
    }
}
