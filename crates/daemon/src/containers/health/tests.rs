use serde_json::json;

use super::*;

fn hc(v: Value) -> Option<Healthcheck> {
    of_image(Some(&v))
}

fn check(v: Value) -> Option<Check> {
    Check::of(hc(v).as_ref())
}

fn result(code: i64, start: i64) -> ProbeResult {
    ProbeResult {
        start,
        end: start + 1,
        exit_code: code,
        output: String::new(),
    }
}

#[test]
fn tests_and_defaults() {
    let c = check(json!({"Test": ["CMD", "true"]})).unwrap();
    assert_eq!(c.test, Test::Exec(vec!["true".into()]));
    assert_eq!(c.interval, DEFAULT_INTERVAL);
    assert_eq!(c.timeout, DEFAULT_TIMEOUT);
    assert_eq!(c.start_period, Duration::ZERO);
    assert_eq!(c.start_interval, DEFAULT_START_INTERVAL);
    assert_eq!(c.retries, 3);
    let c = check(
        json!({"Test": ["CMD-SHELL", "exit 1"], "Interval": 500_000_000,
        "Retries": 2}),
    )
    .unwrap();
    assert_eq!(c.interval, Duration::from_millis(500));
    assert_eq!(c.retries, 2);
    assert_eq!(c.command(None), ["/bin/sh", "-c", "exit 1"]);
    let shell = vec!["/bin/ash".to_string(), "-ec".to_string()];
    assert_eq!(c.command(Some(&shell)), ["/bin/ash", "-ec", "exit 1"]);
    assert!(check(json!({"Test": ["NONE"]})).is_none());
    assert!(check(json!({"Test": []})).is_none());
    assert!(check(json!({"Test": ["WHAT", "x"]})).is_none());
    assert!(check(json!({"Test": ["CMD"]})).is_none());
    assert!(Check::of(None).is_none());
    // docker-py sends null for what the user left out.
    let c = check(json!({"Test": ["CMD", "x"], "Timeout": null, "StartPeriod": null})).unwrap();
    assert_eq!(c.timeout, DEFAULT_TIMEOUT);
}

#[test]
fn merge_field_by_field() {
    let image = hc(json!({"Test": ["CMD", "img"], "Interval": 5, "Timeout": 6, "Retries": 7}));
    assert_eq!(merge(None, image.as_ref()), image);
    let user = hc(json!({"Interval": 1}));
    let m = merge(user.as_ref(), image.as_ref());
    assert_eq!(
        m,
        hc(json!({"Test": ["CMD", "img"], "Interval": 1, "Timeout": 6, "Retries": 7}))
    );
    let none = hc(json!({"Test": ["NONE"]}));
    let m = merge(none.as_ref(), image.as_ref());
    assert!(Check::of(m.as_ref()).is_none());
    assert_eq!(merge(user.as_ref(), None), user);
}

#[test]
fn successes_and_failures_move_the_status() {
    let mut h = Health::starting(None);
    assert_eq!(h.record(result(1, 0), 2, false), None);
    assert_eq!(h.failing_streak, 1);
    assert_eq!(h.record(result(0, 1), 2, false), Some(Status::Healthy));
    assert_eq!(h.failing_streak, 0);
    assert_eq!(h.record(result(1, 2), 2, false), None);
    assert_eq!(h.record(result(-1, 3), 2, false), Some(Status::Unhealthy));
    assert_eq!(h.failing_streak, 2);
    assert_eq!(h.record(result(1, 4), 2, false), None);
    assert_eq!(h.failing_streak, 3);
    assert_eq!(h.log.len(), MAX_LOG);
    assert_eq!(h.log[0].start, 0);
    assert_eq!(h.record(result(0, 5), 2, false), Some(Status::Healthy));
    assert_eq!(h.log.len(), MAX_LOG);
    assert_eq!(h.log[0].start, 1, "the oldest probe goes");
    let restarted = Health::starting(Some(&h));
    assert_eq!(restarted.status, Status::Starting);
    assert_eq!(restarted.failing_streak, 0);
    assert_eq!(restarted.log, h.log);
}

#[test]
fn start_period_failures_do_not_count_while_starting() {
    let mut h = Health::starting(None);
    for i in 0..5 {
        assert_eq!(h.record(result(1, i), 1, true), None);
    }
    assert_eq!((h.status, h.failing_streak), (Status::Starting, 0));
    assert_eq!(h.record(result(1, 9), 1, false), Some(Status::Unhealthy));
    // Once healthy, failures count even within the start period.
    let mut h = Health::starting(None);
    h.record(result(0, 0), 1, true);
    assert_eq!(h.record(result(1, 1), 1, true), Some(Status::Unhealthy));
}

#[test]
fn delays_follow_docker() {
    let c = check(json!({"Test": ["CMD", "x"], "Interval": 10_000_000_000_i64,
        "StartPeriod": 60_000_000_000_i64, "StartInterval": 1_000_000_000}))
    .unwrap();
    let s = Duration::from_secs;
    assert_eq!(c.next_delay(s(0), Status::Starting), s(1));
    assert_eq!(c.next_delay(s(0), Status::Healthy), s(10));
    assert_eq!(c.next_delay(s(55), Status::Starting), s(5));
    assert_eq!(c.next_delay(s(61), Status::Starting), s(10));
}

#[test]
fn health_filter() {
    assert!(check_filter(&["healthy".into(), "none".into()]).is_ok());
    let e = check_filter(&["sick".into()]).unwrap_err();
    assert!(e
        .to_string()
        .contains("Unrecognised filter value for health: sick"));
}

#[test]
fn output_is_limited() {
    let mut o = LimitedOutput::default();
    o.push(b"ok\n");
    assert_eq!(o.text(), "ok\n");
    o.push(&vec![b'x'; MAX_OUTPUT]);
    let t = o.text();
    assert_eq!(t.len(), MAX_OUTPUT + 3);
    assert!(t.ends_with("x..."));
}

#[test]
fn durations_as_go_prints_them() {
    let ms = Duration::from_millis;
    assert_eq!(go_duration(ms(500)), "500ms");
    assert_eq!(go_duration(ms(1500)), "1.5s");
    assert_eq!(go_duration(ms(30_000)), "30s");
    assert_eq!(go_duration(ms(90_000)), "1m30s");
    assert_eq!(go_duration(ms(3_600_000)), "1h0m0s");
    assert_eq!(go_duration(Duration::from_micros(1500)), "1.5ms");
    assert_eq!(go_duration(Duration::ZERO), "0s");
}

#[test]
fn filter_by_status_or_none() {
    let mut c: Container = serde_json::from_value(json!({
        "id": "x", "name": "n", "created": 0, "image_name": "i", "image_id": "d",
        "config": {}, "host_config": {}, "path": "p", "args": [],
        "state": {"status": "running", "pid": 0, "exit_code": 0, "error": "", "oom_killed": false,
                  "started_at": 0, "finished_at": 0, "restart_count": 0,
                  "manually_stopped": false, "has_been_started": true}
    }))
    .unwrap();
    let v = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert!(c.state.health.is_none(), "old records load without health");
    assert!(filter_matches(&c, &v(&["none"])));
    assert!(filter_matches(&c, &[]));
    c.state.health = Some(Health::starting(None));
    assert!(filter_matches(&c, &v(&["healthy", "starting"])));
    assert!(!filter_matches(&c, &v(&["none", "unhealthy"])));
}
