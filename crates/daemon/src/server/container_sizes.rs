//! Container sizes in Docker's shape: `SizeRw` and `SizeRootFs` of inspect (`-s`), of list
//! entries (`?size=1`) and of `GET /system/df`'s containers; the engine's `Sizer` measures.

use super::AppState;
use crate::containers::now_nanos;
use crate::system::disk_usage::{ContainerSizes, ContainerUsage, Sizer};

/// Docker's `(SizeRw, SizeRootFs)` of the engine's sizes.
fn docker_sizes(z: ContainerSizes) -> (i64, i64) {
    let int = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    (int(z.rw), int(z.root_fs))
}

/// `(SizeRw, SizeRootFs)` of container `id` made from image `image_id` (`docker inspect -s`).
pub async fn sizes(s: &AppState, id: &str, image_id: &str) -> (i64, i64) {
    docker_sizes(Sizer::new(&s.engine).sizes(id, image_id).await)
}

/// Fills the sizes of listed containers (`GET /containers/json?size=1`, `docker ps --size`).
pub async fn fill_sizes(s: &AppState, list: &mut [berth_api::container::ContainerSummary]) {
    let mut sizer = Sizer::new(&s.engine);
    for c in list {
        let (rw, root) = docker_sizes(sizer.sizes(&c.id, &c.image_id).await);
        c.size_rw = Some(rw);
        c.size_root_fs = Some(root);
    }
}

/// The containers of `GET /system/df`: each as `GET /containers/json` lists it, with its sizes.
pub fn disk_usage(
    s: &AppState,
    containers: &[ContainerUsage],
) -> Vec<berth_api::container::ContainerSummary> {
    let now = now_nanos();
    containers
        .iter()
        .map(|u| {
            let c = &u.container;
            let mut entry = super::containers::summary(c, now);
            super::network_views::fill_summary(
                &s.engine.networks,
                &mut entry,
                c.config.exposed_ports.as_ref(),
            );
            let (rw, root) = docker_sizes(u.sizes);
            entry.size_rw = Some(rw);
            entry.size_root_fs = Some(root);
            entry
        })
        .collect()
}
