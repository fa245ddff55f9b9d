//! The HTTP server: hyper's HTTP/1.1 connections over [`Service::handle`], nothing more.
//!
//! [`Service::handle`] does all routing, so no router sits in between: each request's parts are
//! read in place (no header map or URI is cloned) and the [`Reply`] becomes a response whose
//! header values are static, copied from inline text, or — for `ETag`, `Last-Modified` and
//! `Cache-Control`, which are the same on every answer — reused from a small per-thread cache.
//! Connections are kept alive and pipelined requests are answered in one write.

use crate::api::{HeaderText, IMMUTABLE_CACHE, Incoming, JSON, NO_STORE, Reply, Service, TEXT};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming as Body;
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use std::cell::RefCell;
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Serves `service` on `listener` until `shutdown` resolves, then lets open connections finish
/// their current request.
pub async fn serve(
    listener: tokio::net::TcpListener,
    service: Arc<Service>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.keep_alive(true).pipeline_flush(true);
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Per-connection failures (reset before accept) and resource exhaustion
                    // (too many open files) are not fatal: pause briefly and go on.
                    tracing::debug!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Answers are written whole; do not hold back the next one behind an unacknowledged one.
        let _ = stream.set_nodelay(true);
        let svc = service.clone();
        let conn = http.serve_connection(
            TokioIo::new(stream),
            hyper::service::service_fn(move |req: Request<Body>| {
                std::future::ready(Ok::<_, Infallible>(respond(&svc, &req)))
            }),
        );
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    // Idle keep-alive connections close now; busy ones finish their request (bounded wait).
    let _ = tokio::time::timeout(Duration::from_secs(5), graceful.shutdown()).await;
    Ok(())
}

/// Serves `service` on `threads` OS threads until `stop` resolves. Each thread runs its own
/// single-threaded runtime accepting from the same listening socket, so a connection lives on
/// one thread from accept to close: no work stealing, no cross-thread wake-ups on the request
/// path (measured faster than one multi-threaded runtime on this workload, see the README).
/// `background` (the updater) runs beside the first thread's connections.
pub fn serve_threads<B, S>(
    listener: std::net::TcpListener,
    service: Arc<Service>,
    threads: usize,
    background: Option<B>,
    stop: S,
) -> std::io::Result<()>
where
    B: Future<Output = ()> + Send + 'static,
    S: Future<Output = ()> + Send + 'static,
{
    listener.set_nonblocking(true)?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let runtime = |listener: std::net::TcpListener| -> std::io::Result<_> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let listener = {
            let _guard = rt.enter();
            tokio::net::TcpListener::from_std(listener)?
        };
        let mut rx = stop_rx.clone();
        let stopped = async move {
            let _ = rx.wait_for(|stop| *stop).await;
        };
        Ok((rt, listener, stopped))
    };
    let mut others = Vec::new();
    for _ in 1..threads.max(1) {
        let (rt, l, stopped) = runtime(listener.try_clone()?)?;
        let svc = service.clone();
        others.push(std::thread::spawn(move || {
            rt.block_on(serve(l, svc, stopped))
        }));
    }
    let (rt, l, stopped) = runtime(listener)?;
    let result = rt.block_on(async move {
        if let Some(task) = background {
            tokio::spawn(task);
        }
        tokio::spawn(async move {
            stop.await;
            let _ = stop_tx.send(true);
        });
        serve(l, service, stopped).await
    });
    for t in others {
        match t.join() {
            Ok(r) => r?,
            Err(_) => return Err(std::io::Error::other("a server thread panicked")),
        }
    }
    result
}

/// Answers one request: its parts are borrowed, never copied.
pub fn respond<B>(service: &Service, req: &Request<B>) -> Response<Full<Bytes>> {
    let headers = req.headers();
    let text = |name: HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let incoming = Incoming {
        method: req.method().as_str(),
        path: req.uri().path(),
        query: req.uri().query(),
        accept: text(header::ACCEPT),
        if_none_match: text(header::IF_NONE_MATCH),
        if_modified_since: text(header::IF_MODIFIED_SINCE),
    };
    to_response(service.handle(&incoming))
}

const X_RATE_DATE: HeaderName = HeaderName::from_static("x-rate-date");

fn header_name(name: &'static str) -> Option<HeaderName> {
    Some(match name {
        "X-Rate-Date" => X_RATE_DATE,
        "ETag" => header::ETAG,
        "Last-Modified" => header::LAST_MODIFIED,
        "Cache-Control" => header::CACHE_CONTROL,
        "Vary" => header::VARY,
        "Allow" => header::ALLOW,
        other => return HeaderName::from_bytes(other.as_bytes()).ok(),
    })
}

/// Slots of the per-thread value cache: the headers that repeat on every data answer.
const CACHED: [HeaderName; N_CACHED] = [header::ETAG, header::LAST_MODIFIED, header::CACHE_CONTROL];
const N_CACHED: usize = 3;

thread_local! {
    /// The last value built for each [`CACHED`] header on this thread. They change only when a
    /// new table is swapped in, so almost every answer reuses them (a reference-count bump on a
    /// buffer this thread owns instead of an allocation and a copy).
    static VALUES: RefCell<[Option<(HeaderText, HeaderValue)>; N_CACHED]> =
        const { RefCell::new([const { None }; N_CACHED]) };
}

/// Values checked at compile time for the static texts every answer uses.
fn static_value(text: &'static str) -> HeaderValue {
    const PLAIN: HeaderValue = HeaderValue::from_static(TEXT);
    const JSON_VALUE: HeaderValue = HeaderValue::from_static(JSON);
    const IMMUTABLE: HeaderValue = HeaderValue::from_static(IMMUTABLE_CACHE);
    const NO_STORE_VALUE: HeaderValue = HeaderValue::from_static(NO_STORE);
    match text {
        TEXT => PLAIN,
        JSON => JSON_VALUE,
        IMMUTABLE_CACHE => IMMUTABLE,
        NO_STORE => NO_STORE_VALUE,
        other => HeaderValue::from_static(other),
    }
}

fn header_value(name: &HeaderName, text: HeaderText) -> Option<HeaderValue> {
    match text {
        HeaderText::Static(s) => Some(static_value(s)),
        HeaderText::Owned(s) => HeaderValue::from_str(&s).ok(),
        HeaderText::Inline(inline) => {
            let build = || HeaderValue::from_str(inline.as_str()).ok();
            let Some(slot) = CACHED.iter().position(|n| n == name) else {
                return build();
            };
            VALUES.with_borrow_mut(|values| match &values[slot] {
                Some((t, v)) if *t == text => Some(v.clone()),
                _ => {
                    let v = build()?;
                    values[slot] = Some((text, v.clone()));
                    Some(v)
                }
            })
        }
    }
}

fn to_response(reply: Reply) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(reply.body)));
    *resp.status_mut() = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::BAD_REQUEST);
    let h = resp.headers_mut();
    h.reserve(1 + reply.extra.len());
    h.insert(header::CONTENT_TYPE, static_value(reply.content_type));
    for (name, value) in reply.extra {
        if let Some(name) = header_name(name)
            && let Some(v) = header_value(&name, value)
        {
            h.insert(name, v);
        }
    }
    resp
}
