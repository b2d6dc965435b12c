//! A worker's neighbour cache (IP → MAC per interface): filled from static
//! config and from ARP, read for every forwarded packet's next hop. Fixed
//! size, never allocates after creation; a full probe window evicts.

use crate::iface::{IFACE_COUNT, Iface, NetConfig};
use crate::wire::ethernet::MacAddr;
use std::net::IpAddr;

const SLOTS: usize = 1024;
const PROBE: usize = 8;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum State {
    #[default]
    Empty,
    /// Asked, no answer yet; `last` is when the last request went out.
    Incomplete,
    /// Learned from ARP.
    Dynamic,
    /// From config; never replaced by ARP.
    Static,
}

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    ip: u128,
    iface: u8,
    state: State,
    mac: MacAddr,
    last: u64,
}

/// The cache.
#[derive(Debug)]
pub struct NeighborCache {
    slots: Box<[Slot]>,
}

impl Default for NeighborCache {
    fn default() -> Self {
        Self::new()
    }
}

fn key(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(a.to_ipv6_mapped()),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn home(ip: u128, iface: u8) -> usize {
    let h = (ip as u64 ^ (ip >> 64) as u64 ^ u64::from(iface)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (h >> 54) as usize % SLOTS
}

impl NeighborCache {
    /// An empty cache.
    #[must_use]
    pub fn new() -> Self {
        Self {
            slots: vec![Slot::default(); SLOTS].into_boxed_slice(),
        }
    }

    fn find(&self, ip: u128, iface: u8) -> Option<usize> {
        let h = home(ip, iface);
        (0..PROBE).map(|i| (h + i) % SLOTS).find(|&i| {
            let s = &self.slots[i];
            s.state != State::Empty && s.ip == ip && s.iface == iface
        })
    }

    fn slot_for(&mut self, ip: u128, iface: u8) -> usize {
        if let Some(i) = self.find(ip, iface) {
            return i;
        }
        let h = home(ip, iface);
        let i = (0..PROBE)
            .map(|i| (h + i) % SLOTS)
            .find(|&i| self.slots[i].state == State::Empty)
            .or_else(|| {
                (0..PROBE)
                    .map(|i| (h + i) % SLOTS)
                    .find(|&i| self.slots[i].state != State::Static)
            })
            .unwrap_or(h);
        self.slots[i] = Slot {
            ip,
            iface,
            state: State::Empty,
            mac: MacAddr::ZERO,
            last: 0,
        };
        i
    }

    /// The MAC of `ip` on `iface`, if known.
    #[inline]
    #[must_use]
    pub fn lookup(&self, iface: Iface, ip: IpAddr) -> Option<MacAddr> {
        let i = self.find(key(ip), iface as u8)?;
        let s = &self.slots[i];
        matches!(s.state, State::Dynamic | State::Static).then_some(s.mac)
    }

    /// Records an ARP-learned mapping; returns `true` if it is new or changed.
    pub fn learn(&mut self, iface: Iface, ip: IpAddr, mac: MacAddr, now: u64) -> bool {
        let i = self.slot_for(key(ip), iface as u8);
        let s = &mut self.slots[i];
        if s.state == State::Static {
            return false;
        }
        let changed = s.state != State::Dynamic || s.mac != mac;
        s.state = State::Dynamic;
        s.mac = mac;
        s.last = now;
        changed
    }

    /// `true` (and the time is recorded) when an ARP request for `ip` may go
    /// out now: none was sent in the last `interval` ticks.
    pub fn should_request(&mut self, iface: Iface, ip: IpAddr, now: u64, interval: u64) -> bool {
        let i = self.slot_for(key(ip), iface as u8);
        let s = &mut self.slots[i];
        match s.state {
            State::Dynamic | State::Static => false,
            State::Empty => {
                s.state = State::Incomplete;
                s.last = now;
                true
            }
            State::Incomplete => {
                if now.saturating_sub(s.last) >= interval {
                    s.last = now;
                    true
                } else {
                    false
                }
            }
        }
    }

    /// Replaces the static entries with those of `net`.
    pub fn load_static(&mut self, net: &NetConfig) {
        for s in self.slots.iter_mut().filter(|s| s.state == State::Static) {
            s.state = State::Empty;
        }
        for (idx, cfg) in net.ifaces.iter().enumerate().take(IFACE_COUNT) {
            let Some(cfg) = cfg else { continue };
            for &(ip, mac) in &cfg.neighbors {
                let iface = u8::try_from(idx).unwrap_or(0);
                let i = self.slot_for(key(ip), iface);
                self.slots[i] = Slot {
                    ip: key(ip),
                    iface,
                    state: State::Static,
                    mac,
                    last: 0,
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iface::IfaceConfig;
    use std::net::Ipv4Addr;

    #[test]
    fn learn_request_and_static() {
        let mut c = NeighborCache::new();
        let ip: IpAddr = Ipv4Addr::new(10, 0, 0, 1).into();
        assert_eq!(c.lookup(Iface::N6, ip), None);
        assert!(c.should_request(Iface::N6, ip, 100, 50));
        assert!(!c.should_request(Iface::N6, ip, 120, 50), "rate limited");
        assert!(c.should_request(Iface::N6, ip, 150, 50));
        let mac = MacAddr([2, 0, 0, 0, 0, 1]);
        assert!(c.learn(Iface::N6, ip, mac, 200));
        assert_eq!(c.lookup(Iface::N6, ip), Some(mac));
        assert_eq!(c.lookup(Iface::N3, ip), None, "per interface");
        let mut net = NetConfig::default();
        let mut cfg = IfaceConfig::v4(MacAddr([2; 6]), Ipv4Addr::new(10, 0, 0, 2), 24);
        let smac = MacAddr([2, 0, 0, 0, 0, 0xfe]);
        cfg.neighbors.push((ip, smac));
        net.ifaces[1] = Some(cfg);
        c.load_static(&net);
        assert_eq!(c.lookup(Iface::N6, ip), Some(smac));
        assert!(
            !c.learn(Iface::N6, ip, mac, 300),
            "ARP does not override static entries"
        );
        // Filling far beyond capacity never fails, it evicts.
        for i in 0..5000u32 {
            c.learn(Iface::N3, Ipv4Addr::from(i).into(), mac, 1);
        }
        assert_eq!(c.lookup(Iface::N6, ip), Some(smac));
    }
}
