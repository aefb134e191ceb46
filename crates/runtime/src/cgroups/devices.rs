//! Device access rules: the spec's `linux.resources.devices` normalised into [`DeviceRule`]s, the
//! effective list a container gets (deny all, the spec's rules in order, then the devices every
//! container needs), and the v1 `devices.allow`/`devices.deny` line format. v2 compiles the same list
//! into a BPF program ([`super::bpf`]).

use super::validate::invalid_field;
use super::CgroupError;
use berth_oci::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

/// Access bits, as the kernel's `BPF_DEVCG_ACC_*`.
pub const ACC_MKNOD: u32 = 1;
pub const ACC_READ: u32 = 2;
pub const ACC_WRITE: u32 = 4;
pub const ACC_ALL: u32 = ACC_MKNOD | ACC_READ | ACC_WRITE;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    All,
    Char,
    Block,
}

/// One rule; `None` major/minor match any number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceRule {
    pub allow: bool,
    pub kind: DeviceKind,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    pub access: u32,
}

/// (major, minor) of the character devices every container may use, as the default `/dev` has
/// them: null, zero, full, random, urandom, tty, console, ptmx; plus every pty slave (136:*).
const DEFAULT_CHAR_DEVICES: &[(u32, Option<u32>)] = &[
    (1, Some(3)),
    (1, Some(5)),
    (1, Some(7)),
    (1, Some(8)),
    (1, Some(9)),
    (5, Some(0)),
    (5, Some(1)),
    (5, Some(2)),
    (136, None),
];

impl DeviceRule {
    /// Normalises rule `index` of the spec's list, naming the field when it is invalid.
    pub fn from_spec(rule: &LinuxDeviceCgroup, index: usize) -> Result<DeviceRule, CgroupError> {
        let field = |name: &str| format!("devices[{index}].{name}");
        let kind = match rule.typ().unwrap_or(LinuxDeviceType::A) {
            LinuxDeviceType::A => DeviceKind::All,
            LinuxDeviceType::C | LinuxDeviceType::U => DeviceKind::Char,
            LinuxDeviceType::B => DeviceKind::Block,
            LinuxDeviceType::P => {
                return Err(invalid_field(
                    &field("type"),
                    "\"p\" (fifo) is not a device cgroup type: use a, b or c".into(),
                ))
            }
        };
        let number = |name: &str, v: Option<i64>| match v {
            None | Some(-1) => Ok(None),
            Some(n) => u32::try_from(n).map(Some).map_err(|_| {
                invalid_field(
                    &field(name),
                    format!("{n} is invalid: use a device number, or -1 for any"),
                )
            }),
        };
        let mut access = 0;
        let text = rule.access().as_deref().unwrap_or("");
        for c in text.chars() {
            access |= match c {
                'r' => ACC_READ,
                'w' => ACC_WRITE,
                'm' => ACC_MKNOD,
                _ => {
                    return Err(invalid_field(
                        &field("access"),
                        format!("{text:?} is invalid: use letters from \"rwm\""),
                    ))
                }
            };
        }
        Ok(DeviceRule {
            allow: rule.allow(),
            kind,
            major: number("major", rule.major())?,
            minor: number("minor", rule.minor())?,
            access: if access == 0 { ACC_ALL } else { access },
        })
    }

    /// The v1 `devices.allow`/`devices.deny` line, e.g. `c 1:3 rwm`.
    pub fn v1_line(&self) -> String {
        let kind = match self.kind {
            DeviceKind::All => 'a',
            DeviceKind::Char => 'c',
            DeviceKind::Block => 'b',
        };
        let num = |n: Option<u32>| n.map_or_else(|| "*".to_string(), |n| n.to_string());
        let mut access = String::new();
        for (bit, c) in [(ACC_READ, 'r'), (ACC_WRITE, 'w'), (ACC_MKNOD, 'm')] {
            if self.access & bit != 0 {
                access.push(c);
            }
        }
        format!("{kind} {}:{} {access}", num(self.major), num(self.minor))
    }
}

/// The rules a container gets, in order (later rules win): deny everything, the spec's rules,
/// then mknod of any device and use of the default `/dev` character devices.
pub fn effective(spec: Option<&[LinuxDeviceCgroup]>) -> Result<Vec<DeviceRule>, CgroupError> {
    let any = |allow, kind, access| DeviceRule {
        allow,
        kind,
        major: None,
        minor: None,
        access,
    };
    let mut rules = vec![any(false, DeviceKind::All, ACC_ALL)];
    for (i, r) in spec.unwrap_or_default().iter().enumerate() {
        rules.push(DeviceRule::from_spec(r, i)?);
    }
    rules.push(any(true, DeviceKind::Char, ACC_MKNOD));
    rules.push(any(true, DeviceKind::Block, ACC_MKNOD));
    for &(major, minor) in DEFAULT_CHAR_DEVICES {
        rules.push(DeviceRule {
            allow: true,
            kind: DeviceKind::Char,
            major: Some(major),
            minor,
            access: ACC_ALL,
        });
    }
    Ok(rules)
}
