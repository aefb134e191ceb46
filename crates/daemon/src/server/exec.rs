//! Exec routes: `POST /containers/{id}/exec`, `POST /exec/{id}/start` (hijacked like attach:
//! `101 UPGRADED`, then the process's output raw for a tty and stdcopy-multiplexed otherwise, the
//! client's bytes as stdin and its write half-close as stdin EOF; `Detach` answers at once),
//! `POST /exec/{id}/resize` and `GET /exec/{id}/json`.
//!
//! The connection is closed once the process exited and its exit code is recorded, so a client
//! that inspects the instance right after EOF (the docker CLI does) reads the final code. A start
//! that fails after the upgrade (command not found...) is reported in-band, as Docker does.

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::header::{CONNECTION, CONTENT_TYPE, UPGRADE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_api::exec::{
    ExecCreateRequest, ExecInspect, ExecStartRequest, IdResponse, ProcessConfig,
};
use berth_api::ApiVersion;
use berth_shim::protocol::frame_header;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::attach::{parse_detach_keys, relay, EscapeScanner};
use super::error::ApiError;
use super::params::{JsonBody, Params, MAX_JSON_BODY};
use super::reframe::Reframe;
use super::AppState;
use crate::containers::exec::{ExecConfig, ExecStream};
use crate::containers::ContainerService;

/// `POST /containers/{id}/exec`.
pub async fn create(
    State(s): State<AppState>,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<ExecCreateRequest>,
) -> Result<Response, ApiError> {
    let cfg = ExecConfig {
        cmd: req.cmd.unwrap_or_default(),
        env: req.env.unwrap_or_default(),
        working_dir: req.working_dir.unwrap_or_default(),
        user: req.user.unwrap_or_default(),
        tty: req.tty,
        attach_stdin: req.attach_stdin,
        attach_stdout: req.attach_stdout,
        attach_stderr: req.attach_stderr,
        privileged: req.privileged,
        detach_keys: req.detach_keys.unwrap_or_default(),
        console_size: req.console_size,
    };
    let id = s.engine.containers.exec_create(&id, cfg).await?;
    Ok((StatusCode::CREATED, Json(IdResponse { id })).into_response())
}

/// `GET /exec/{id}/json`.
pub async fn inspect(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ExecInspect>, ApiError> {
    let i = s.engine.containers.exec_inspect(&id)?;
    let mut args = i.config.cmd.clone();
    let entrypoint = if args.is_empty() {
        String::new()
    } else {
        args.remove(0)
    };
    Ok(Json(ExecInspect {
        id: i.id,
        running: i.running,
        exit_code: i.exit_code,
        process_config: ProcessConfig {
            privileged: i.config.privileged,
            user: i.config.user.clone(),
            tty: i.config.tty,
            entrypoint,
            arguments: args,
        },
        open_stdin: i.config.attach_stdin,
        open_stderr: i.config.attach_stderr,
        open_stdout: i.config.attach_stdout,
        container_id: i.container_id,
        pid: i.pid,
        detach_keys: i.config.detach_keys,
        can_remove: false,
    }))
}

/// `POST /exec/{id}/resize?h=&w=`.
pub async fn resize(
    State(s): State<AppState>,
    Path(id): Path<String>,
    params: Params,
) -> Result<StatusCode, ApiError> {
    let (h, w) = params.tty_size()?;
    s.engine.containers.exec_resize(&id, h, w).await?;
    Ok(StatusCode::OK)
}

/// `POST /exec/{id}/start`.
pub async fn start(
    State(s): State<AppState>,
    Path(id): Path<String>,
    mut req: Request,
) -> Result<Response, ApiError> {
    let version = req
        .extensions()
        .get::<ApiVersion>()
        .copied()
        .unwrap_or(ApiVersion::CURRENT);
    let upgrade = req
        .headers()
        .get(UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("tcp"));
    let on_upgrade = hyper::upgrade::on(&mut req);
    let content_type = req
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let unseen = req.extensions().get::<super::authz::BodyUnseen>().is_some();
    let body = axum::body::to_bytes(req.into_body(), MAX_JSON_BODY)
        .await
        .map_err(|e| ApiError::bad_request(format!("reading the request body: {e}")))?;
    // Decoded as every JSON body is: never one the authorization plugins did not see.
    let start: ExecStartRequest = if body.iter().all(u8::is_ascii_whitespace) {
        ExecStartRequest::default()
    } else {
        super::params::json_body(content_type.as_deref(), unseen, &body)?
    };
    let containers = s.engine.containers.clone();
    let cfg = containers.exec_check(&id)?;
    let keys = parse_detach_keys(&cfg.detach_keys)?;
    if start.detach {
        let ExecStream { mut stream, .. } = containers.exec_start(&id, start.console_size).await?;
        // Nobody reads: the output goes nowhere, stdin is closed at once.
        let _ = stream.shutdown().await;
        tokio::spawn(async move {
            let mut sink = tokio::io::sink();
            let _ = tokio::io::copy(&mut stream, &mut sink).await;
        });
        return Ok(StatusCode::OK.into_response());
    }
    // The pty follows the exec's config; the stream's framing follows this request, as Docker's.
    let tty = cfg.tty;
    let client_tty = start.tty;
    let media = if !client_tty && version.at_least(1, 42) {
        "application/vnd.docker.multiplexed-stream"
    } else {
        "application/vnd.docker.raw-stream"
    };
    let console = start.console_size;
    let exec_id = id.clone();
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let session = Session {
                    exec_id,
                    console,
                    client_tty,
                    reframe: Reframe::new(tty, client_tty),
                    stdin: cfg.attach_stdin,
                    detach: tty.then(|| EscapeScanner::new(keys)),
                };
                run(TokioIo::new(upgraded), containers, session).await
            }
            Err(e) => tracing::debug!(error = %e, "exec upgrade failed"),
        }
    });
    let status = if upgrade {
        StatusCode::SWITCHING_PROTOCOLS
    } else {
        StatusCode::OK
    };
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(media));
    if upgrade {
        h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
        h.insert(UPGRADE, HeaderValue::from_static("tcp"));
    }
    Ok(r)
}

/// One exec session: the instance, its console size, how its output is framed for the client
/// (the start request's `Tty`), whether the client's input goes to stdin, and the detach keys.
struct Session {
    exec_id: String,
    console: Option<[u32; 2]>,
    client_tty: bool,
    reframe: Reframe,
    stdin: bool,
    detach: Option<EscapeScanner>,
}

/// Starts the process and copies between it and the client until it exited (or the client
/// detached: the process keeps running).
async fn run<C: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    client: C,
    containers: ContainerService,
    session: Session,
) {
    let Session {
        exec_id,
        console,
        client_tty,
        reframe,
        stdin,
        detach,
    } = session;
    let (client_rd, mut client_wr) = tokio::io::split(client);
    let stream = match containers.exec_start(&exec_id, console).await {
        Ok(s) => s.stream,
        Err(e) => {
            let text = format!("{e}\r\n");
            if !client_tty {
                let _ = client_wr.write_all(&frame_header(1, text.len())).await;
            }
            let _ = client_wr.write_all(text.as_bytes()).await;
            let _ = client_wr.shutdown().await;
            return;
        }
    };
    let (proc_rd, proc_wr) = stream.into_split();
    if !relay(
        client_rd,
        &mut client_wr,
        proc_rd,
        proc_wr,
        stdin,
        detach,
        reframe,
    )
    .await
    {
        let _ = containers.exec_exited(&exec_id).await;
    }
    let _ = client_wr.shutdown().await;
}
