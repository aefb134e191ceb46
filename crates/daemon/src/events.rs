//! The event bus: every engine service publishes what it did (`image tag`, `container start`, ...);
//! `/events` subscribers get the past events still in a bounded ring (for `since`) followed by live
//! ones from a broadcast channel. Publishing and subscribing take the same lock, so a subscriber never
//! misses or duplicates an event between the ring and the live channel.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

/// How many past events are kept for `since`.
pub const RING_CAPACITY: usize = 1024;

/// What an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Container,
    Image,
    Volume,
    Network,
    Daemon,
}

impl EventType {
    /// Docker's name of the type.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Container => "container",
            EventType::Image => "image",
            EventType::Volume => "volume",
            EventType::Network => "network",
            EventType::Daemon => "daemon",
        }
    }
}

/// One event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub kind: EventType,
    /// `tag`, `untag`, `delete`, `import`, `load`, `save`, `prune`, `start`, ...
    pub action: String,
    /// The ID of the object (image ID, container ID, ...).
    pub actor: String,
    /// `name`, `image`, labels, ...
    pub attributes: BTreeMap<String, String>,
    /// Nanoseconds since the epoch.
    pub time_nano: i64,
}

/// Which events a subscriber wants; an empty list matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// `container`, `image`, ...
    pub types: Vec<String>,
    /// Actions (`start`; `exec_start` also matches `exec_start: sh -c ...`).
    pub actions: Vec<String>,
    /// Image IDs or names (image events by actor or name, container events by image).
    pub images: Vec<String>,
    /// Container IDs or names.
    pub containers: Vec<String>,
    /// `key` or `key=value` against the attributes.
    pub labels: Vec<String>,
    /// Volume names (volume events only).
    pub volumes: Vec<String>,
}

impl EventFilter {
    pub fn matches(&self, e: &Event) -> bool {
        let any = |list: &[String], f: &dyn Fn(&str) -> bool| {
            list.is_empty() || list.iter().any(|x| f(x))
        };
        let attr = |k: &str| e.attributes.get(k).map(String::as_str).unwrap_or("");
        any(&self.types, &|t| t == e.kind.as_str())
            && any(&self.actions, &|a| {
                e.action == a || e.action.split(':').next() == Some(a)
            })
            && any(&self.images, &|i| match e.kind {
                EventType::Image => e.actor == i || attr("name") == i || short_id_is(&e.actor, i),
                EventType::Container => attr("image") == i,
                _ => false,
            })
            && any(&self.containers, &|c| {
                e.kind == EventType::Container
                    && (e.actor == c || attr("name") == c || short_id_is(&e.actor, c))
            })
            && any(&self.volumes, &|v| {
                e.kind == EventType::Volume && e.actor == v
            })
            && crate::filter::labels_match(&self.labels, &e.attributes)
    }
}

fn short_id_is(id: &str, prefix: &str) -> bool {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    let p = prefix.strip_prefix("sha256:").unwrap_or(prefix);
    !p.is_empty() && hex.starts_with(p)
}

/// A subscription: past events (oldest first) and the live receiver.
pub struct Subscription {
    pub past: Vec<Event>,
    pub live: broadcast::Receiver<Event>,
}

/// The event bus. Cheap to clone (shared).
#[derive(Clone)]
pub struct Events {
    inner: Arc<Inner>,
}

struct Inner {
    tx: broadcast::Sender<Event>,
    ring: Mutex<VecDeque<Event>>,
}

impl Default for Events {
    fn default() -> Self {
        Self::new()
    }
}

impl Events {
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(256);
        Events {
            inner: Arc::new(Inner {
                tx,
                ring: Mutex::new(VecDeque::with_capacity(RING_CAPACITY)),
            }),
        }
    }

    fn ring(&self) -> std::sync::MutexGuard<'_, VecDeque<Event>> {
        // A panic while holding the lock leaves a consistent ring (push/pop only).
        self.inner.ring.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Publishes an event now.
    pub fn publish(
        &self,
        kind: EventType,
        action: &str,
        actor: &str,
        attributes: BTreeMap<String, String>,
    ) {
        let event = Event {
            kind,
            action: action.to_string(),
            actor: actor.to_string(),
            attributes,
            time_nano: now_nanos(),
        };
        let mut ring = self.ring();
        if ring.len() == RING_CAPACITY {
            ring.pop_front();
        }
        ring.push_back(event.clone());
        // No subscribers is fine.
        let _ = self.inner.tx.send(event);
    }

    /// Subscribes: the past events at or after `since_nano` and every event published afterwards.
    pub fn subscribe(&self, since_nano: Option<i64>) -> Subscription {
        let ring = self.ring();
        let past = match since_nano {
            Some(since) => ring
                .iter()
                .filter(|e| e.time_nano >= since)
                .cloned()
                .collect(),
            None => Vec::new(),
        };
        let live = self.inner.tx.subscribe();
        drop(ring);
        Subscription { past, live }
    }

    /// How many subscribers are listening (`docker info`'s `NEventsListener`).
    pub fn listeners(&self) -> usize {
        self.inner.tx.receiver_count()
    }
}

/// Nanoseconds since the epoch.
pub use berth_oci::time::now_nanos;

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn since_replays_the_ring_then_live() {
        let bus = Events::new();
        bus.publish(
            EventType::Image,
            "tag",
            "sha256:aa",
            attrs(&[("name", "a:1")]),
        );
        let mut sub = bus.subscribe(Some(0));
        assert_eq!(sub.past.len(), 1);
        bus.publish(EventType::Image, "untag", "sha256:aa", attrs(&[]));
        assert_eq!(
            sub.live.try_recv().map(|e| e.action).ok(),
            Some("untag".to_string())
        );
        assert!(bus.subscribe(None).past.is_empty());
    }

    #[test]
    fn ring_is_bounded() {
        let bus = Events::new();
        for _ in 0..RING_CAPACITY + 5 {
            bus.publish(EventType::Daemon, "reload", "x", attrs(&[]));
        }
        assert_eq!(bus.subscribe(Some(0)).past.len(), RING_CAPACITY);
    }

    #[test]
    fn filters_match_like_docker() {
        let e = Event {
            kind: EventType::Container,
            action: "exec_start: sh -c true".into(),
            actor: "abcdef".into(),
            attributes: attrs(&[("name", "web"), ("image", "busybox"), ("l", "v")]),
            time_nano: 0,
        };
        let f = |t: &[&str], a: &[&str], c: &[&str], l: &[&str]| EventFilter {
            types: t.iter().map(|s| s.to_string()).collect(),
            actions: a.iter().map(|s| s.to_string()).collect(),
            containers: c.iter().map(|s| s.to_string()).collect(),
            labels: l.iter().map(|s| s.to_string()).collect(),
            images: Vec::new(),
            volumes: Vec::new(),
        };
        assert!(f(&[], &[], &[], &[]).matches(&e));
        assert!(f(&["container"], &["exec_start"], &["web"], &["l=v"]).matches(&e));
        assert!(f(&[], &[], &["abc"], &[]).matches(&e));
        assert!(!f(&["image"], &[], &[], &[]).matches(&e));
        assert!(!f(&[], &["start"], &[], &[]).matches(&e));
        assert!(!f(&[], &[], &[], &["l=w"]).matches(&e));
        let vol = Event {
            kind: EventType::Volume,
            action: "mount".into(),
            actor: "data".into(),
            attributes: attrs(&[("driver", "local")]),
            time_nano: 0,
        };
        let by_volume = |v: &str| EventFilter {
            volumes: vec![v.to_string()],
            ..Default::default()
        };
        assert!(by_volume("data").matches(&vol));
        assert!(!by_volume("other").matches(&vol));
        assert!(!by_volume("web").matches(&e));
    }
}
