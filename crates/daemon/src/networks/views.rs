//! What the network service tells about one container: its endpoints with their network's
//! gateway and prefix ([`EndpointView`]) and its published ports. Docker's shapes of them
//! (inspect's `NetworkSettings`, the `Ports` and `Networks` of list entries) are built in
//! `server::network_views`.

use std::net::{Ipv4Addr, Ipv6Addr};

use berth_network::ports::PortMapping;

use super::model::Endpoint;
use super::NetworkService;

/// One endpoint of a container, with what its network adds.
#[derive(Debug, Clone)]
pub struct EndpointView {
    pub network_name: String,
    pub network_id: String,
    pub endpoint: Endpoint,
    pub gateway: Ipv4Addr,
    pub prefix: u8,
    /// The network's IPv6 gateway and prefix length (dual-stack networks).
    pub ipv6: Option<(Ipv6Addr, u8)>,
    pub predefined: bool,
}

impl EndpointView {
    /// On the predefined `bridge` network (whose endpoint inspect also shows at top level).
    pub fn is_default_bridge(&self) -> bool {
        self.predefined && self.network_name == "bridge"
    }
}

impl NetworkService {
    /// The container's endpoints, primary network first.
    pub fn endpoints_of(&self, id: &str) -> Vec<EndpointView> {
        let st = self.state();
        st.networks
            .iter()
            .filter_map(|n| {
                let ep = n.endpoints.get(id)?;
                let pool = n.pool.as_ref()?;
                Some(EndpointView {
                    network_name: n.name.clone(),
                    network_id: n.id.clone(),
                    endpoint: ep.clone(),
                    gateway: pool.gateway,
                    prefix: pool.subnet.prefix(),
                    ipv6: n.pool6.as_ref().map(|p| (p.gateway, p.subnet.prefix())),
                    predefined: n.predefined,
                })
            })
            .collect()
    }

    /// The container's published ports (while it runs).
    pub fn ports_of(&self, id: &str) -> Vec<PortMapping> {
        self.state()
            .ports
            .get(id)
            .map(|r| r.mappings.clone())
            .unwrap_or_default()
    }
}
