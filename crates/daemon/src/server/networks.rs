//! `/networks`: list (filters name, id, label, driver, type), inspect, create (dual-stack with
//! `EnableIPv6`), delete, connect, disconnect and prune, decoded into `networks` calls and
//! encoded as Docker's `NetworkResource`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_api::network::{
    Ipam, IpamConfig, NetworkConnectRequest, NetworkContainer, NetworkCreateRequest,
    NetworkCreateResponse, NetworkDisconnectRequest, NetworkPruneResponse, NetworkResource,
};

use super::error::ApiError;
use super::params::{JsonBody, Params};
use super::time::rfc3339_nanos;
use super::AppState;
use crate::error::DaemonError;
use crate::networks::manage::{CreateNetwork, NetworkFilter, PoolConfig};
use crate::networks::model::{Driver, Network};

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, DaemonError> + Send + 'static,
) -> Result<T, ApiError> {
    Ok(tokio::task::spawn_blocking(f)
        .await
        .map_err(DaemonError::join)??)
}

/// Docker's `NetworkResource` of `n`.
pub fn resource(n: &Network) -> NetworkResource {
    // As Docker does: a given subnet's config echoes the request, an allocated one shows the
    // subnet and gateway the IPAM chose.
    let given = &n.ipam;
    let config6 = n.pool6.as_ref().map(|p| IpamConfig {
        subnet: p.subnet.to_string(),
        ip_range: p
            .ip_range
            .filter(|_| given.subnet6)
            .map(|r| r.to_string())
            .unwrap_or_default(),
        gateway: if given.gateway6 || !given.subnet6 {
            p.gateway.to_string()
        } else {
            String::new()
        },
        auxiliary_addresses: None,
    });
    let config = n.pool.as_ref().map(|p| {
        vec![IpamConfig {
            subnet: p.subnet.to_string(),
            ip_range: p
                .ip_range
                .filter(|_| given.subnet)
                .map(|r| r.to_string())
                .unwrap_or_default(),
            gateway: if given.gateway || !given.subnet {
                p.gateway.to_string()
            } else {
                String::new()
            },
            auxiliary_addresses: (!given.aux_addresses.is_empty()).then(|| {
                given
                    .aux_addresses
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_string()))
                    .collect()
            }),
        }]
    });
    // Only running members, as Docker lists them (a stopped one has no endpoint there).
    let containers = n
        .endpoints
        .iter()
        .filter(|(_, e)| e.active)
        .map(|(id, e)| {
            let prefix = n.pool.as_ref().map(|p| p.subnet.prefix()).unwrap_or(32);
            let prefix6 = n.pool6.as_ref().map(|p| p.subnet.prefix()).unwrap_or(128);
            (
                id.clone(),
                NetworkContainer {
                    name: e.container_name.clone(),
                    endpoint_id: e.id.clone(),
                    mac_address: e.mac.clone(),
                    ipv4_address: format!("{}/{prefix}", e.ip),
                    ipv6_address: e
                        .ip6
                        .map(|ip| format!("{ip}/{prefix6}"))
                        .unwrap_or_default(),
                },
            )
        })
        .collect();
    // The predefined bridge shows its Linux bridge as Docker's shows docker0; a user network
    // shows only the options it was given (compose compares them with its file).
    let mut options = n.options.clone();
    if n.driver == Driver::Bridge && n.predefined {
        options
            .entry("com.docker.network.bridge.name".into())
            .or_insert_with(|| n.bridge.clone());
    }
    NetworkResource {
        name: n.name.clone(),
        id: n.id.clone(),
        created: rfc3339_nanos(n.created),
        scope: "local".into(),
        driver: n.driver.name().into(),
        enable_ipv4: true,
        enable_ipv6: n.ipv6(),
        ipam: Ipam {
            driver: "default".into(),
            config: Some(
                config
                    .unwrap_or_default()
                    .into_iter()
                    .chain(config6)
                    .collect(),
            ),
            options: n.ipam.options.clone(),
        },
        internal: n.internal,
        attachable: n.attachable,
        ingress: false,
        config_only: false,
        containers,
        options,
        labels: n.labels.clone(),
    }
}

/// `GET /networks`.
pub async fn list(State(s): State<AppState>, params: Params) -> Result<Response, ApiError> {
    let f = params.filters()?;
    f.allow_only(&["name", "id", "label", "driver", "type", "scope", "dangling"])?;
    let filter = NetworkFilter {
        name: f.get("name").to_vec(),
        id: f.get("id").to_vec(),
        label: f.get("label").to_vec(),
        driver: f.get("driver").to_vec(),
        kind: f.get("type").to_vec(),
        scope: f.get("scope").to_vec(),
        dangling: match f.get("dangling").first().map(String::as_str) {
            None => None,
            Some("true" | "1") => Some(true),
            Some("false" | "0") => Some(false),
            Some(v) => {
                return Err(ApiError::bad_request(format!(
                    "invalid filter 'dangling={v}': use true or false"
                )))
            }
        },
    };
    let list: Vec<NetworkResource> = s
        .engine
        .networks
        .list(&filter)
        .iter()
        .map(resource)
        .collect();
    Ok(Json(list).into_response())
}

/// `GET /networks/{id}`.
pub async fn inspect(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(resource(&s.engine.networks.inspect(&id)?)).into_response())
}

/// `POST /networks/create`.
pub async fn create(
    State(s): State<AppState>,
    JsonBody(req): JsonBody<NetworkCreateRequest>,
) -> Result<Response, ApiError> {
    refuse_unsupported(&req)?;
    let nonempty = |s: String| Some(s).filter(|s| !s.is_empty());
    let ipam = req.ipam.unwrap_or_default();
    let pools = ipam
        .config
        .unwrap_or_default()
        .into_iter()
        .map(|c| PoolConfig {
            subnet: nonempty(c.subnet),
            gateway: nonempty(c.gateway),
            ip_range: nonempty(c.ip_range),
            aux_addresses: c.auxiliary_addresses.unwrap_or_default(),
        })
        .collect();
    let create = CreateNetwork {
        name: req.name,
        driver: req.driver.unwrap_or_default(),
        internal: req.internal.unwrap_or(false),
        attachable: req.attachable.unwrap_or(false),
        enable_ipv6: req.enable_ipv6.unwrap_or(false),
        ipam_driver: ipam.driver,
        ipam_options: ipam.options,
        pools,
        labels: req.labels.unwrap_or_default(),
        options: req.options.unwrap_or_default(),
    };
    let net = s.engine.networks.clone();
    let id = blocking(move || net.create(&create)).await?;
    Ok((
        StatusCode::CREATED,
        Json(NetworkCreateResponse {
            id,
            warning: String::new(),
        }),
    )
        .into_response())
}

/// Fields of a create request Berth does not support, refused by name rather than ignored.
fn refuse_unsupported(req: &NetworkCreateRequest) -> Result<(), ApiError> {
    let refuse = |what: &str| {
        Err(ApiError::bad_request(format!(
            "{what} is not supported: berth makes local bridge networks only"
        )))
    };
    if req.enable_ipv4 == Some(false) {
        return refuse("EnableIPv4=false (an IPv6-only network)");
    }
    if req.ingress == Some(true) {
        return refuse("Ingress (a swarm routing-mesh network)");
    }
    if req.config_only == Some(true) {
        return refuse("ConfigOnly (a swarm config-only network)");
    }
    if req.config_from.as_ref().is_some_and(|v| !v.is_null()) {
        return refuse("ConfigFrom (a network from a swarm config-only network)");
    }
    if let Some(scope) = req.scope.as_deref().filter(|s| !matches!(*s, "" | "local")) {
        return refuse(&format!("Scope {scope:?}"));
    }
    Ok(())
}

/// `DELETE /networks/{id}`.
pub async fn remove(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let net = s.engine.networks.clone();
    blocking(move || net.remove(&id)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /networks/{id}/connect`.
pub async fn connect(
    State(s): State<AppState>,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<NetworkConnectRequest>,
) -> Result<Response, ApiError> {
    let entry = s.engine.containers.lookup(&req.container)?;
    let _op = entry.op.lock().await;
    let c = entry.snapshot();
    let netns = c
        .state
        .status
        .is_active()
        .then(|| s.engine.containers.netns_path(&c.id));
    let cfg = req
        .endpoint_config
        .as_ref()
        .map(super::endpoint_request::endpoint)
        .transpose()?;
    let net = s.engine.networks.clone();
    blocking(move || net.connect(&id, &c, cfg.as_ref(), netns.as_deref())).await?;
    Ok(StatusCode::OK.into_response())
}

/// `POST /networks/{id}/disconnect`.
pub async fn disconnect(
    State(s): State<AppState>,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<NetworkDisconnectRequest>,
) -> Result<Response, ApiError> {
    let (cid, netns) = match s.engine.containers.lookup(&req.container) {
        Ok(e) => {
            let c = e.snapshot();
            let netns = c
                .state
                .status
                .is_active()
                .then(|| s.engine.containers.netns_path(&c.id));
            (c.id, netns)
        }
        Err(_) if req.force => (req.container.clone(), None),
        Err(e) => return Err(e.into()),
    };
    let net = s.engine.networks.clone();
    blocking(move || net.disconnect(&id, &cid, req.force, netns.as_deref())).await?;
    Ok(StatusCode::OK.into_response())
}

/// `POST /networks/prune`.
pub async fn prune(State(s): State<AppState>, params: Params) -> Result<Response, ApiError> {
    let f = params.filters()?;
    f.allow_only(&["label", "until"])?;
    let labels = f.get("label").to_vec();
    let net = s.engine.networks.clone();
    let deleted = blocking(move || Ok(net.prune(&labels))).await?;
    Ok(Json(NetworkPruneResponse {
        networks_deleted: deleted,
    })
    .into_response())
}
