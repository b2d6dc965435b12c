//! The PFCP-level session state machine: turns the Create/Update/Remove
//! IEs of a Session Establishment or Modification Request into a complete,
//! validated rule set ([`Session`]), allocating on CHOOSE. Nothing is
//! changed until the whole message has been validated: the caller gets the
//! new rule set and a [`Pending`] claim to commit or roll back, or a
//! [`Rejection`] with the cause, Offending IE and Failed Rule ID.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use smallvec::SmallVec;

use crate::HashMap;

type HashSet<T> = std::collections::HashSet<T, foldhash::fast::RandomState>;

use crate::alloc::{AddrPool, TeidPool};
use crate::codec::grouped as g;
use crate::codec::ie_type as t;
use crate::codec::ies::{
    ApplyAction, Cause, FTeid, FailedRuleId, Name, ReportingTriggers, RuleType, SourceInterface,
    UeIpAddress,
};
use crate::config::{Config, GtpuEndpoint};
use crate::flow::FlowDescription;
use crate::rules::{
    Bar, Far, Forwarding, LocalFTeid, Pdi, Pdr, Qer, RuleRef, SdfFilter, Session, UeIp, Urr,
};

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejection {
    pub cause: Cause,
    pub offending_ie: Option<u16>,
    pub failed_rule: Option<FailedRuleId>,
}

impl Rejection {
    pub(crate) fn ie(cause: Cause, ie: u16) -> Self {
        Self {
            cause,
            offending_ie: Some(ie),
            failed_rule: None,
        }
    }
    pub(crate) fn cause(cause: Cause) -> Self {
        Self {
            cause,
            offending_ie: None,
            failed_rule: None,
        }
    }
    /// Cause 73 for a rule, with the IE that made it fail.
    pub(crate) fn rule(rule: RuleRef, ie: u16) -> Self {
        Self::ie(Cause::RULE_CREATION_MODIFICATION_FAILURE, ie).on(rule)
    }
    /// Attach the Failed Rule ID.
    pub(crate) fn on(mut self, rule: RuleRef) -> Self {
        let (rule_type, id) = match rule {
            RuleRef::Pdr(i) => (RuleType::Pdr, u32::from(i)),
            RuleRef::Far(i) => (RuleType::Far, i),
            RuleRef::Qer(i) => (RuleType::Qer, i),
            RuleRef::Urr(i) => (RuleType::Urr, i),
            RuleRef::Bar(i) => (RuleType::Bar, u32::from(i)),
        };
        self.failed_rule = Some(FailedRuleId { rule_type, id });
        self
    }
}

/// Address → session, IPv4 keys apart: 16-byte entries instead of 32 for
/// the common case (a million sessions: 33 MB less).
#[derive(Default)]
struct IpOwners {
    v4: HashMap<u32, u64>,
    v6: HashMap<u128, u64>,
}

impl IpOwners {
    fn get(&self, ip: &IpAddr) -> Option<&u64> {
        match ip {
            IpAddr::V4(a) => self.v4.get(&u32::from(*a)),
            IpAddr::V6(a) => self.v6.get(&u128::from(*a)),
        }
    }
    fn contains_key(&self, ip: &IpAddr) -> bool {
        self.get(ip).is_some()
    }
    fn insert(&mut self, ip: IpAddr, seid: u64) {
        match ip {
            IpAddr::V4(a) => self.v4.insert(u32::from(a), seid),
            IpAddr::V6(a) => self.v6.insert(u128::from(a), seid),
        };
    }
    fn remove(&mut self, ip: &IpAddr) {
        match ip {
            IpAddr::V4(a) => self.v4.remove(&u32::from(*a)),
            IpAddr::V6(a) => self.v6.remove(&u128::from(*a)),
        };
    }
}

/// Node-wide resources: what CHOOSE allocates from, who owns which TEID
/// and UE address, and interned names and flow descriptions (many
/// sessions share them: one copy each).
pub(crate) struct Resources {
    teids: TeidPool,
    pools: Vec<AddrPool>,
    gtpu: Vec<GtpuEndpoint>,
    /// Every local TEID in use → session.
    teid_owner: HashMap<u32, u64>,
    /// Every downlink UE address (IPv4 address or IPv6 prefix) → session.
    ue_owner: IpOwners,
    /// Remote TEID of every GTP-U tunnel a FAR creates → the sessions
    /// forwarding there (an Error Indication names the TEID).
    tunnels: HashMap<u32, u64>,
    /// Further sessions per remote TEID (rare: TEIDs of different peers
    /// that are equal), so that `tunnels` has 16-byte buckets.
    tunnels_more: HashMap<u32, SmallVec<[u64; 2]>>,
    names: HashMap<Box<str>, Arc<str>>,
    flows: HashMap<Box<str>, Arc<FlowDescription>>,
    intern_gc_at: usize,
    /// Rules shared between sessions (see [`Resources::intern_rules`]).
    shared_fars: HashSet<Arc<Far>>,
    shared_qers: HashSet<Arc<Qer>>,
    shared_urrs: HashSet<Arc<Urr>>,
    /// Most recently used names (raw bytes) and flows.
    recent_names: SmallVec<[(Vec<u8>, Arc<str>); 4]>,
    recent_flows: SmallVec<[Arc<FlowDescription>; 4]>,
    recent_next: usize,
    /// Where the TEID allocator and the UE pools were before the last
    /// reloads (most recent first, a few): a rebuilt allocator goes on
    /// from the first its range holds (see [`Resources::reconfigure`]).
    teid_marks: SmallVec<[u64; MARKS]>,
    pool_marks: SmallVec<[IpAddr; MARKS]>,
}

/// Allocator positions remembered across reloads.
const MARKS: usize = 8;

/// `at` first in `marks`, once, at most [`MARKS`] kept.
fn remember<T: PartialEq + Copy>(
    marks: &mut SmallVec<[T; MARKS]>,
    at: impl IntoIterator<Item = T>,
) {
    for a in at {
        marks.retain(|m| *m != a);
        marks.insert(0, a);
    }
    marks.truncate(MARKS);
}

impl Resources {
    pub(crate) fn new(cfg: &Config) -> Self {
        let mut pools: Vec<AddrPool> = cfg.ue_pools.iter().cloned().map(AddrPool::new).collect();
        for ip in &cfg.reserved_ue_ips {
            if let Some(p) = pools.iter_mut().find(|p| p.contains(*ip)) {
                p.reserve(*ip);
            }
        }
        Self {
            teids: TeidPool::new(cfg.teid_first, cfg.teid_last),
            pools,
            gtpu: cfg.gtpu.clone(),
            teid_owner: HashMap::default(),
            ue_owner: IpOwners::default(),
            tunnels: HashMap::default(),
            tunnels_more: HashMap::default(),
            names: HashMap::default(),
            flows: HashMap::default(),
            intern_gc_at: 1024,
            shared_fars: HashSet::default(),
            shared_qers: HashSet::default(),
            shared_urrs: HashSet::default(),
            recent_names: SmallVec::new(),
            recent_flows: SmallVec::new(),
            recent_next: 0,
            teid_marks: SmallVec::new(),
            pool_marks: SmallVec::new(),
        }
    }

    /// New TEID range and UE pools (a reload): the allocators are rebuilt
    /// with everything `sessions` use and `reserved` marked taken, so no
    /// value in use is handed out again. Addresses in use outside the new
    /// pools stay valid; they are simply not the pools' to give. Each new
    /// allocator goes on from where the latest allocator whose position
    /// its range holds left off (the one it replaces, or one of a few
    /// before: a pool removed and added again, a TEID range moved away and
    /// back), so that what sessions freed before the reload is not handed
    /// out again at once; a range never seen starts at its beginning.
    pub(crate) fn reconfigure<'s>(
        &mut self,
        cfg: &Config,
        sessions: impl Iterator<Item = &'s Session>,
    ) {
        remember(&mut self.teid_marks, [self.teids.cursor()]);
        let pools_at: SmallVec<[IpAddr; 4]> = self.pools.iter().map(AddrPool::cursor).collect();
        remember(&mut self.pool_marks, pools_at.into_iter().rev());
        self.teids = TeidPool::new(cfg.teid_first, cfg.teid_last);
        if let Some(at) = self.teid_marks.iter().find(|t| self.teids.holds(**t)) {
            self.teids.resume_at(*at);
        }
        self.pools = cfg.ue_pools.iter().cloned().map(AddrPool::new).collect();
        for p in &mut self.pools {
            if let Some(at) = self.pool_marks.iter().find(|a| p.contains(**a)) {
                p.resume_at(*at);
            }
        }
        for s in sessions {
            let (teids, addrs, _) = keys(s);
            for (t, _) in teids {
                self.teids.reserve(t);
            }
            for (a, _) in addrs {
                if let Some(p) = self.pool_of(a) {
                    p.reserve(a);
                }
            }
        }
        for ip in &cfg.reserved_ue_ips {
            if let Some(p) = self.pool_of(*ip) {
                p.reserve(*ip);
            }
        }
        self.gtpu = cfg.gtpu.clone();
    }

    /// Keep `ip` from CHOOSE (a static session took it). False when a
    /// PFCP session uses it.
    pub(crate) fn reserve_ue_ip(&mut self, ip: IpAddr) -> bool {
        if self.ue_owner.contains_key(&ip) {
            return false;
        }
        self.pool_of(ip).is_none_or(|p| p.reserve(ip))
    }

    /// Undo [`Resources::reserve_ue_ip`].
    pub(crate) fn release_ue_ip(&mut self, ip: IpAddr) {
        if !self.ue_owner.contains_key(&ip)
            && let Some(p) = self.pool_of(ip)
        {
            p.free(ip);
        }
    }

    /// TEIDs and UE addresses in use (for /status).
    pub(crate) fn usage(&self) -> (u64, Vec<(String, u64, u64)>) {
        let pools = self
            .pools
            .iter()
            .map(|p| {
                (
                    format!("{}/{}", p.config.prefix, p.config.prefix_len),
                    p.used(),
                    p.size(),
                )
            })
            .collect();
        (self.teids.used(), pools)
    }

    fn intern_name(&mut self, n: &Name<'_>) -> Arc<str> {
        // Messages repeat the same few names ("access", "internet"): a
        // byte comparison finds them without decoding or hashing.
        if let Some((_, a)) = self.recent_names.iter().find(|(raw, _)| raw[..] == *n.0) {
            return a.clone();
        }
        let a = self.intern_name_slow(n);
        if self.recent_names.len() < 4 {
            self.recent_names.push((n.0.to_vec(), a.clone()));
        } else {
            self.recent_names[self.recent_next % 4] = (n.0.to_vec(), a.clone());
            self.recent_next = self.recent_next.wrapping_add(1);
        }
        a
    }

    fn intern_name_slow(&mut self, n: &Name<'_>) -> Arc<str> {
        let text = n.to_text();
        if let Some(a) = self.names.get(&*text) {
            return a.clone();
        }
        let a: Arc<str> = Arc::from(&*text);
        self.names.insert(Box::from(&*text), a.clone());
        a
    }

    fn intern_flow(&mut self, text: &str) -> Result<Arc<FlowDescription>, crate::flow::FlowError> {
        if let Some(f) = self.recent_flows.iter().find(|f| f.text == text) {
            return Ok(f.clone());
        }
        if let Some(f) = self.flows.get(text) {
            let f = f.clone();
            self.remember_flow(&f);
            return Ok(f);
        }
        let f = Arc::new(text.parse::<FlowDescription>()?);
        self.flows.insert(Box::from(text), f.clone());
        self.remember_flow(&f);
        Ok(f)
    }

    fn remember_flow(&mut self, f: &Arc<FlowDescription>) {
        if self.recent_flows.len() < 4 {
            self.recent_flows.push(f.clone());
        } else {
            self.recent_flows[self.recent_next % 4] = f.clone();
            self.recent_next = self.recent_next.wrapping_add(1);
        }
    }

    /// Forget interned values no session uses any more, when the tables
    /// have doubled since the last sweep.
    /// Make `s` share equal FARs, QERs and URRs with other sessions: one
    /// copy of a profile's rules for all its sessions. FARs with a tunnel
    /// (one per session) are left alone.
    pub(crate) fn intern_rules(&mut self, s: &mut Session) {
        fn share<T: Eq + std::hash::Hash>(set: &mut HashSet<Arc<T>>, v: &mut Arc<T>) {
            match set.get(&**v) {
                Some(c) => {
                    if !Arc::ptr_eq(c, v) {
                        *v = c.clone();
                    }
                }
                None => {
                    set.insert(v.clone());
                }
            }
        }
        for f in &mut s.fars {
            if f.forwarding
                .as_ref()
                .is_none_or(|x| x.outer_header_creation.is_none())
            {
                share(&mut self.shared_fars, f);
            }
        }
        for q in &mut s.qers {
            share(&mut self.shared_qers, q);
        }
        for u in &mut s.urrs {
            share(&mut self.shared_urrs, u);
        }
    }

    /// Sizes of the owner tables: (local TEIDs, UE addresses, remote
    /// tunnels incl. the overflow table, interned names/flows/rules).
    pub(crate) fn owners(&self) -> (usize, usize, usize, usize) {
        (
            self.teid_owner.len(),
            self.ue_owner.v4.len() + self.ue_owner.v6.len(),
            self.tunnels.len() + self.tunnels_more.len(),
            self.interned(),
        )
    }

    /// Local TEIDs handed out or reserved.
    pub(crate) fn usage_teids(&self) -> u64 {
        self.teids.used()
    }

    /// UE addresses handed out or reserved, over all pools.
    pub(crate) fn ue_ips_used(&self) -> u64 {
        self.pools.iter().map(AddrPool::used).sum()
    }

    fn interned(&self) -> usize {
        self.names.len()
            + self.flows.len()
            + self.shared_fars.len()
            + self.shared_qers.len()
            + self.shared_urrs.len()
    }

    pub(crate) fn maybe_gc(&mut self) {
        if self.interned() < self.intern_gc_at {
            return;
        }
        self.recent_names.clear();
        self.recent_flows.clear();
        self.names.retain(|_, a| Arc::strong_count(a) > 1);
        self.flows.retain(|_, a| Arc::strong_count(a) > 1);
        self.shared_fars.retain(|a| Arc::strong_count(a) > 1);
        self.shared_qers.retain(|a| Arc::strong_count(a) > 1);
        self.shared_urrs.retain(|a| Arc::strong_count(a) > 1);
        self.intern_gc_at = 2 * self.interned().max(512);
    }

    fn endpoint(&self, src: SourceInterface, ni: Option<&str>) -> Option<&GtpuEndpoint> {
        let ni_ok = |e: &&GtpuEndpoint| {
            e.network_instance
                .as_deref()
                .is_none_or(|n| ni.is_none_or(|x| x == n))
        };
        self.gtpu
            .iter()
            .filter(ni_ok)
            .find(|e| e.interface == src)
            .or_else(|| self.gtpu.iter().find(ni_ok))
            .or_else(|| self.gtpu.first())
    }

    fn pick_pool(&self, v6: bool, dnn: Option<&str>, ni: Option<&str>) -> Option<usize> {
        let dnn = dnn.map(apn_network_identifier);
        let fits = |p: &AddrPool, exact: bool| {
            let c = &p.config;
            c.prefix.is_ipv6() == v6
                && match (&c.dnn, dnn) {
                    (Some(d), Some(x)) => d.eq_ignore_ascii_case(x),
                    (Some(_), None) => !exact,
                    (None, _) => !exact || dnn.is_none(),
                }
                && c.network_instance
                    .as_deref()
                    .is_none_or(|n| ni.is_none_or(|x| x == n))
        };
        self.pools
            .iter()
            .position(|p| fits(p, true))
            .or_else(|| self.pools.iter().position(|p| fits(p, false)))
    }

    fn pool_of(&mut self, ip: IpAddr) -> Option<&mut AddrPool> {
        self.pools.iter_mut().find(|p| p.contains(ip))
    }

    /// Check that the TEIDs and UE addresses `new` adds over `old` are
    /// free, and reserve those the SMF gave us inside our ranges.
    pub(crate) fn claim(
        &mut self,
        seid: u64,
        old: Option<&Session>,
        new: &Session,
        tentative: &Tentative,
    ) -> Result<Pending, Rejection> {
        let mut pending = Pending::default();
        let (old_teids, old_addrs, old_dl) = old.map(keys).unwrap_or_default();
        let (new_teids, new_addrs, new_dl) = keys(new);
        let mut fail = None;
        for (teid, pdr) in new_teids
            .iter()
            .filter(|(t, _)| !old_teids.iter().any(|(o, _)| o == t))
        {
            let taken = self.teid_owner.get(teid).is_some_and(|o| *o != seid);
            if taken || (!tentative.teids.contains(teid) && !self.teids.reserve(*teid)) {
                fail = Some(Rejection::rule(RuleRef::Pdr(*pdr), t::F_TEID));
                break;
            }
            if !tentative.teids.contains(teid) {
                pending.reserved_teids.push(*teid);
            }
        }
        if fail.is_none() {
            for (ip, pdr) in new_addrs
                .iter()
                .filter(|(a, _)| !old_addrs.iter().any(|(o, _)| o == a))
            {
                let reserved = tentative.addrs.contains(ip)
                    || self.pool_of(*ip).is_none_or(|p| p.reserve(*ip));
                if !reserved {
                    fail = Some(Rejection::rule(RuleRef::Pdr(*pdr), t::UE_IP_ADDRESS));
                    break;
                }
                if !tentative.addrs.contains(ip) && self.pool_of(*ip).is_some() {
                    pending.reserved_addrs.push(*ip);
                }
            }
        }
        if fail.is_none() {
            for (ip, pdr) in new_dl
                .iter()
                .filter(|(a, _)| !old_dl.iter().any(|(o, _)| o == a))
            {
                if self.ue_owner.get(ip).is_some_and(|o| *o != seid) {
                    fail = Some(Rejection::rule(RuleRef::Pdr(*pdr), t::UE_IP_ADDRESS));
                    break;
                }
            }
        }
        match fail {
            Some(r) => {
                self.release(&pending);
                Err(r)
            }
            None => Ok(pending),
        }
    }

    /// Undo a claim (the user plane refused the rules).
    pub(crate) fn release(&mut self, pending: &Pending) {
        for teid in &pending.reserved_teids {
            self.teids.free(*teid);
        }
        for ip in &pending.reserved_addrs {
            if let Some(p) = self.pool_of(*ip) {
                p.free(*ip);
            }
        }
    }

    /// Undo the allocations of a build that was not committed.
    pub(crate) fn rollback(&mut self, tentative: &Tentative) {
        for teid in &tentative.teids {
            self.teids.free(*teid);
        }
        for ip in &tentative.addrs {
            if let Some(p) = self.pool_of(*ip) {
                p.free(*ip);
            }
        }
    }

    /// Make `new` the owner of its keys and free what `old` no longer uses.
    /// Sessions with a FAR that tunnels to remote TEID `teid` (any peer).
    pub(crate) fn tunnel_users(&self, teid: u32) -> impl Iterator<Item = u64> + '_ {
        let more = self
            .tunnels_more
            .get(&teid)
            .map_or(&[][..], |v| v.as_slice());
        self.tunnels
            .get(&teid)
            .copied()
            .into_iter()
            .chain(more.iter().copied())
    }

    fn remove_tunnel_user(&mut self, teid: u32, seid: u64) {
        let more = self.tunnels_more.get_mut(&teid);
        if self.tunnels.get(&teid) == Some(&seid) {
            // Promote a further user, if any.
            match more.and_then(SmallVec::pop) {
                Some(next) => {
                    self.tunnels.insert(teid, next);
                }
                None => {
                    self.tunnels.remove(&teid);
                }
            }
        } else if let Some(v) = more {
            v.retain(|s| *s != seid);
        }
        if self.tunnels_more.get(&teid).is_some_and(SmallVec::is_empty) {
            self.tunnels_more.remove(&teid);
        }
    }

    fn add_tunnel_user(&mut self, teid: u32, seid: u64) {
        match self.tunnels.get(&teid) {
            None => {
                self.tunnels.insert(teid, seid);
            }
            Some(&first) if first == seid => {}
            Some(_) => {
                let v = self.tunnels_more.entry(teid).or_default();
                if !v.contains(&seid) {
                    v.push(seid);
                }
            }
        }
    }

    pub(crate) fn commit(&mut self, seid: u64, old: Option<&Session>, new: Option<&Session>) {
        let remote = |s: Option<&Session>| -> SmallVec<[u32; 2]> {
            let mut v = SmallVec::new();
            for f in s.into_iter().flat_map(|s| s.fars.iter()) {
                if let Some(t) = f
                    .forwarding
                    .as_ref()
                    .and_then(|x| x.outer_header_creation)
                    .and_then(|o| o.teid)
                    && !v.contains(&t)
                {
                    v.push(t);
                }
            }
            v
        };
        let (old_remote, new_remote) = (remote(old), remote(new));
        for t in old_remote.iter().filter(|t| !new_remote.contains(t)) {
            self.remove_tunnel_user(*t, seid);
        }
        for t in new_remote.iter().filter(|t| !old_remote.contains(t)) {
            self.add_tunnel_user(*t, seid);
        }
        let (old_teids, old_addrs, old_dl) = old.map(keys).unwrap_or_default();
        let (new_teids, new_addrs, new_dl) = new.map(keys).unwrap_or_default();
        for (teid, _) in &new_teids {
            self.teid_owner.insert(*teid, seid);
        }
        for (ip, _) in &new_dl {
            self.ue_owner.insert(*ip, seid);
        }
        for (teid, _) in old_teids
            .iter()
            .filter(|(o, _)| !new_teids.iter().any(|(n, _)| n == o))
        {
            if self.teid_owner.get(teid) == Some(&seid) {
                self.teid_owner.remove(teid);
            }
            self.teids.free(*teid);
        }
        for (ip, _) in old_dl
            .iter()
            .filter(|(o, _)| !new_dl.iter().any(|(n, _)| n == o))
        {
            if self.ue_owner.get(ip) == Some(&seid) {
                self.ue_owner.remove(ip);
            }
        }
        for (ip, _) in old_addrs
            .iter()
            .filter(|(o, _)| !new_addrs.iter().any(|(n, _)| n == o))
        {
            if let Some(p) = self.pool_of(*ip) {
                p.free(*ip);
            }
        }
    }
}

type Keys = (
    SmallVec<[(u32, u16); 4]>,
    SmallVec<[(IpAddr, u16); 2]>,
    SmallVec<[(IpAddr, u16); 2]>,
);

/// Local TEIDs, UE addresses, and downlink UE addresses of a session, each
/// with the first PDR that uses it.
fn keys(s: &Session) -> Keys {
    let mut k = Keys::default();
    for p in &s.pdrs {
        if let Some(f) = p.pdi.local_f_teid
            && !k.0.iter().any(|(t, _)| *t == f.teid)
        {
            k.0.push((f.teid, p.id));
        }
        if let Some(u) = p.pdi.ue_ip {
            for ip in [u.ipv4.map(IpAddr::V4), u.ipv6.map(IpAddr::V6)]
                .into_iter()
                .flatten()
            {
                if !k.1.iter().any(|(a, _)| *a == ip) {
                    k.1.push((ip, p.id));
                }
                if u.is_destination && !k.2.iter().any(|(a, _)| *a == ip) {
                    k.2.push((ip, p.id));
                }
            }
        }
    }
    k
}

/// Allocations made while building a rule set, undone if it is refused.
#[derive(Debug, Default)]
pub(crate) struct Tentative {
    teids: SmallVec<[u32; 2]>,
    addrs: SmallVec<[IpAddr; 2]>,
}

/// Reservations of SMF-given values made by [`Resources::claim`].
#[derive(Debug, Default)]
pub(crate) struct Pending {
    reserved_teids: SmallVec<[u32; 2]>,
    reserved_addrs: SmallVec<[IpAddr; 2]>,
}

/// A session's CHOOSE IDs and the TEIDs they stand for.
pub(crate) type ChooseIds = SmallVec<[(u8, u32); 1]>;

/// What a finished build leaves to commit.
pub(crate) struct Finished {
    pub(crate) tentative: Tentative,
    /// CHOOSE IDs still in use by the session, with their TEID (the
    /// rest of the F-TEID is in the PDRs).
    pub(crate) choose_ids: ChooseIds,
    /// End Markers to send once the rules are installed.
    pub(crate) end_markers: SmallVec<[(IpAddr, u32); 1]>,
    pub(crate) created_pdrs: SmallVec<[u16; 4]>,
}

/// Builds a session's new rule set from Create/Update/Remove IEs.
pub(crate) struct Builder<'r> {
    res: &'r mut Resources,
    dnn: Option<Arc<str>>,
    /// CHOOSE ID → F-TEID, shared inside the session.
    pub(crate) choose_ids: SmallVec<[(u8, LocalFTeid); 2]>,
    ue_v4: Option<Ipv4Addr>,
    ue_v6: Option<(Ipv6Addr, u8)>,
    pub(crate) tentative: Tentative,
    /// End Markers to send after the new rules are in place (SNDEM).
    pub(crate) end_markers: SmallVec<[(IpAddr, u32); 1]>,
    /// PDRs created in this message (for Created PDR).
    pub(crate) created_pdrs: SmallVec<[u16; 4]>,
}

/// The DNN without an APN Operator Identifier ("internet.mnc001.mcc001.gprs"
/// → "internet", TS 23.003 §9.1.2): SMFs combined with a PGW-C send the full
/// APN, pools are configured by network identifier.
pub(crate) fn apn_network_identifier(dnn: &str) -> &str {
    let mut labels = dnn.rsplitn(4, '.');
    let (Some(gprs), Some(mcc), Some(mnc), Some(ni)) =
        (labels.next(), labels.next(), labels.next(), labels.next())
    else {
        return dnn;
    };
    let coded = |l: &str, tag: &str| {
        l.len() == 6
            && l.as_bytes().split_at_checked(3).is_some_and(|(t, d)| {
                t.eq_ignore_ascii_case(tag.as_bytes()) && d.iter().all(u8::is_ascii_digit)
            })
    };
    if gprs.eq_ignore_ascii_case("gprs") && coded(mcc, "mcc") && coded(mnc, "mnc") {
        ni
    } else {
        dnn
    }
}

impl<'r> Builder<'r> {
    pub(crate) fn new(
        res: &'r mut Resources,
        dnn: Option<&Name<'_>>,
        base: Option<(&Session, &[(u8, u32)])>,
    ) -> Self {
        let dnn = match (dnn, base) {
            (Some(n), _) => Some(res.intern_name(n)),
            (None, Some((s, _))) => s.dnn.clone(),
            (None, None) => None,
        };
        Self {
            dnn,
            choose_ids: base
                .map(|(s, c)| {
                    c.iter()
                        .filter_map(|&(id, teid)| {
                            s.pdrs
                                .iter()
                                .find_map(|p| p.pdi.local_f_teid.filter(|f| f.teid == teid))
                                .map(|f| (id, f))
                        })
                        .collect()
                })
                .unwrap_or_default(),
            ue_v4: base.and_then(|(s, _)| s.ue_ipv4()),
            ue_v6: base.and_then(|(s, _)| s.ue_ipv6()),
            res,
            tentative: Tentative::default(),
            end_markers: SmallVec::new(),
            created_pdrs: SmallVec::new(),
        }
    }

    pub(crate) fn dnn(&self) -> Option<Arc<str>> {
        self.dnn.clone()
    }

    /// Give back what this build allocated (the message was refused).
    pub(crate) fn abandon(self) {
        self.res.rollback(&self.tentative);
    }

    /// Split into the tentative allocations (to commit or roll back) and
    /// the CHOOSE IDs still in use by `s`.
    pub(crate) fn finish(self, s: &Session) -> Finished {
        let used = |f: &LocalFTeid| {
            s.pdrs
                .iter()
                .any(|p| p.pdi.local_f_teid.is_some_and(|l| l.teid == f.teid))
        };
        let choose = self
            .choose_ids
            .into_iter()
            .filter(|(_, f)| used(f))
            .map(|(id, f)| (id, f.teid))
            .collect();
        Finished {
            tentative: self.tentative,
            choose_ids: choose,
            end_markers: self.end_markers,
            created_pdrs: self.created_pdrs,
        }
    }

    // ---- create ------------------------------------------------------------------

    pub(crate) fn create_pdr(
        &mut self,
        s: &mut Session,
        c: &g::CreatePdr<'_>,
    ) -> Result<(), Rejection> {
        let rule = RuleRef::Pdr(c.pdr_id);
        if s.pdr(c.pdr_id).is_some() {
            return Err(Rejection::rule(rule, t::PDR_ID));
        }
        unsupported_pdr(
            c.activate_predefined_rules,
            c.activation_time,
            c.deactivation_time,
        )
        .map_err(|r| r.on(rule))?;
        let far_id = c
            .far_id
            .ok_or(Rejection::ie(Cause::CONDITIONAL_IE_MISSING, t::FAR_ID).on(rule))?;
        let pdi = self.pdi(&c.pdi).map_err(|r| r.on(rule))?;
        let mut pdr = Pdr {
            id: c.pdr_id,
            precedence: c.precedence,
            pdi,
            outer_header_removal: c.outer_header_removal,
            far_id,
            ids: SmallVec::new(),
            n_urrs: 0,
        };
        if !pdr.set_rule_ids(&c.urr_ids, &c.qer_ids) {
            return Err(Rejection::rule(rule, t::URR_ID));
        }
        s.pdrs.push(pdr);
        self.created_pdrs.push(c.pdr_id);
        Ok(())
    }

    pub(crate) fn create_far(
        &mut self,
        s: &mut Session,
        c: &g::CreateFar<'_>,
    ) -> Result<(), Rejection> {
        let rule = RuleRef::Far(c.far_id);
        if s.far(c.far_id).is_some() {
            return Err(Rejection::rule(rule, t::FAR_ID));
        }
        if c.duplicating_parameters {
            return Err(
                Rejection::ie(Cause::SERVICE_NOT_SUPPORTED, t::DUPLICATING_PARAMETERS).on(rule),
            );
        }
        check_apply_action(c.apply_action).map_err(|r| r.on(rule))?;
        let forwarding = match &c.forwarding_parameters {
            Some(fp) => Some(self.forwarding(fp).map_err(|r| r.on(rule))?),
            None => None,
        };
        s.fars.push(Arc::new(Far {
            id: c.far_id,
            apply_action: c.apply_action,
            forwarding,
            bar_id: c.bar_id,
        }));
        Ok(())
    }

    pub(crate) fn create_qer(s: &mut Session, c: &g::CreateQer) -> Result<(), Rejection> {
        let rule = RuleRef::Qer(c.qer_id);
        if s.qer(c.qer_id).is_some() {
            return Err(Rejection::rule(rule, t::QER_ID));
        }
        unsupported_qer(c.packet_rate, c.dl_flow_level_marking).map_err(|r| r.on(rule))?;
        s.qers.push(Arc::new(Qer {
            id: c.qer_id,
            correlation_id: c.qer_correlation_id,
            gate: c.gate_status,
            mbr: c.mbr,
            gbr: c.gbr,
            qfi: c.qfi.map(|q| q.0),
            rqi: c
                .rqi
                .is_some_and(|r| r.contains(crate::codec::ies::Rqi::RQI)),
            paging_policy_indicator: c.paging_policy_indicator,
            averaging_window_ms: c.averaging_window,
        }));
        Ok(())
    }

    pub(crate) fn create_urr(s: &mut Session, c: &g::CreateUrr) -> Result<(), Rejection> {
        let rule = RuleRef::Urr(c.urr_id);
        if s.urr(c.urr_id).is_some() {
            return Err(Rejection::rule(rule, t::URR_ID));
        }
        if c.dropped_dl_traffic_threshold {
            return Err(Rejection::ie(
                Cause::SERVICE_NOT_SUPPORTED,
                t::DROPPED_DL_TRAFFIC_THRESHOLD,
            )
            .on(rule));
        }
        let urr = Urr {
            id: c.urr_id,
            measurement_method: c.measurement_method,
            reporting_triggers: c.reporting_triggers,
            measurement_period: c.measurement_period,
            volume_threshold: c.volume_threshold,
            volume_quota: c.volume_quota,
            time_threshold: c.time_threshold,
            time_quota: c.time_quota,
            quota_holding_time: c.quota_holding_time,
            monitoring_time: c.monitoring_time,
            subsequent_volume_threshold: c.subsequent_volume_threshold,
            subsequent_time_threshold: c.subsequent_time_threshold,
            inactivity_detection_time: c.inactivity_detection_time,
            linked_urr_ids: c.linked_urr_ids.iter().copied().collect(),
            measurement_information: c.measurement_information,
            far_id_for_quota_action: c.far_id_for_quota_action,
            quota_exhausted: false,
        };
        check_urr(&urr).map_err(|r| r.on(rule))?;
        s.urrs.push(Arc::new(urr));
        Ok(())
    }

    pub(crate) fn create_bar(s: &mut Session, c: &g::CreateBar) -> Result<(), Rejection> {
        // One BAR per session (TS 29.244 §5.2.5).
        if s.bar.is_some() {
            return Err(Rejection::rule(RuleRef::Bar(c.bar_id), t::BAR_ID));
        }
        s.bar = Some(Bar {
            id: c.bar_id,
            downlink_data_notification_delay: c.downlink_data_notification_delay,
            suggested_buffering_packets_count: c.suggested_buffering_packets_count,
        });
        Ok(())
    }

    // ---- remove ----------------------------------------------------------------------

    pub(crate) fn remove(s: &mut Session, rule: RuleRef) -> Result<(), Rejection> {
        let found = match rule {
            RuleRef::Pdr(id) => remove_where(&mut s.pdrs, |p| p.id == id),
            RuleRef::Far(id) => remove_where_sv(&mut s.fars, |f| f.id == id),
            RuleRef::Qer(id) => remove_where_sv(&mut s.qers, |q| q.id == id),
            RuleRef::Urr(id) => remove_where_sv(&mut s.urrs, |u| u.id == id),
            RuleRef::Bar(id) => s.bar.take_if(|b| b.id == id).is_some(),
        };
        if found {
            Ok(())
        } else {
            let ie = match rule {
                RuleRef::Pdr(_) => t::PDR_ID,
                RuleRef::Far(_) => t::FAR_ID,
                RuleRef::Qer(_) => t::QER_ID,
                RuleRef::Urr(_) => t::URR_ID,
                RuleRef::Bar(_) => t::BAR_ID,
            };
            Err(Rejection::rule(rule, ie))
        }
    }

    // ---- update ------------------------------------------------------------------------

    pub(crate) fn update_pdr(
        &mut self,
        s: &mut Session,
        u: &g::UpdatePdr<'_>,
    ) -> Result<(), Rejection> {
        let rule = RuleRef::Pdr(u.pdr_id);
        unsupported_pdr(
            u.activate_predefined_rules || u.deactivate_predefined_rules,
            u.activation_time,
            u.deactivation_time,
        )
        .map_err(|r| r.on(rule))?;
        let pdi = match &u.pdi {
            Some(p) => Some(self.pdi(p).map_err(|r| r.on(rule))?),
            None => None,
        };
        let pdr = s
            .pdrs
            .iter_mut()
            .find(|p| p.id == u.pdr_id)
            .ok_or(Rejection::rule(rule, t::PDR_ID))?;
        if let Some(p) = pdi {
            pdr.pdi = p;
        }
        if let Some(o) = u.outer_header_removal {
            pdr.outer_header_removal = Some(o);
        }
        if let Some(p) = u.precedence {
            pdr.precedence = p;
        }
        if let Some(f) = u.far_id {
            pdr.far_id = f;
        }
        if !u.urr_ids.is_empty() || !u.qer_ids.is_empty() {
            let urrs: SmallVec<[u32; 2]> = if u.urr_ids.is_empty() {
                pdr.urr_ids().into()
            } else {
                u.urr_ids.iter().copied().collect()
            };
            let qers: SmallVec<[u32; 2]> = if u.qer_ids.is_empty() {
                pdr.qer_ids().into()
            } else {
                u.qer_ids.iter().copied().collect()
            };
            if !pdr.set_rule_ids(&urrs, &qers) {
                return Err(Rejection::rule(rule, t::URR_ID));
            }
        }
        Ok(())
    }

    pub(crate) fn update_far(
        &mut self,
        s: &mut Session,
        u: &g::UpdateFar<'_>,
    ) -> Result<(), Rejection> {
        let rule = RuleRef::Far(u.far_id);
        let ni = match u
            .update_forwarding_parameters
            .as_ref()
            .and_then(|p| p.network_instance.as_ref())
        {
            Some(n) => Some(self.res.intern_name(n)),
            None => None,
        };
        let far = s
            .fars
            .iter_mut()
            .find(|f| f.id == u.far_id)
            .map(Arc::make_mut)
            .ok_or(Rejection::rule(rule, t::FAR_ID))?;
        if let Some(a) = u.apply_action {
            check_apply_action(a).map_err(|r| r.on(rule))?;
            far.apply_action = a;
        }
        if let Some(b) = u.bar_id {
            far.bar_id = Some(b);
        }
        if let Some(p) = &u.update_forwarding_parameters {
            unsupported_forwarding(
                p.redirect_information,
                p.forwarding_policy,
                p.header_enrichment,
                p.linked_traffic_endpoint_id,
            )
            .map_err(|r| r.on(rule))?;
            let old_ohc = far
                .forwarding
                .as_ref()
                .and_then(|f| f.outer_header_creation);
            let fwd = match far.forwarding.as_mut() {
                Some(f) => f,
                None => {
                    let d = p.destination_interface.ok_or(
                        Rejection::ie(Cause::CONDITIONAL_IE_MISSING, t::DESTINATION_INTERFACE)
                            .on(rule),
                    )?;
                    far.forwarding.insert(Forwarding {
                        destination_interface: d,
                        network_instance: None,
                        outer_header_creation: None,
                        transport_level_marking: None,
                        destination_interface_type: None,
                    })
                }
            };
            if let Some(d) = p.destination_interface {
                fwd.destination_interface = d;
            }
            if ni.is_some() {
                fwd.network_instance = ni;
            }
            if let Some(o) = p.outer_header_creation {
                fwd.outer_header_creation = Some(o);
            }
            if let Some(m) = p.transport_level_marking {
                fwd.transport_level_marking = Some(split_tos(m));
            }
            if let Some(d) = p.destination_interface_type {
                fwd.destination_interface_type = Some(d);
            }
            let sndem = p
                .pfcpsmreq_flags
                .is_some_and(|f| f.contains(crate::codec::ies::PfcpsmReqFlags::SNDEM));
            if sndem
                && let Some(old) = old_ohc.filter(|o| Some(*o) != fwd.outer_header_creation)
                && let (Some(teid), Some(ip)) = (
                    old.teid,
                    old.ipv4.map(IpAddr::V4).or(old.ipv6.map(IpAddr::V6)),
                )
            {
                self.end_markers.push((ip, teid));
            }
        }
        Ok(())
    }

    pub(crate) fn update_qer(s: &mut Session, u: &g::UpdateQer) -> Result<(), Rejection> {
        let rule = RuleRef::Qer(u.qer_id);
        unsupported_qer(u.packet_rate, u.dl_flow_level_marking).map_err(|r| r.on(rule))?;
        let q = s
            .qers
            .iter_mut()
            .find(|q| q.id == u.qer_id)
            .map(Arc::make_mut)
            .ok_or(Rejection::rule(rule, t::QER_ID))?;
        if let Some(v) = u.qer_correlation_id {
            q.correlation_id = Some(v);
        }
        if let Some(v) = u.gate_status {
            q.gate = v;
        }
        if let Some(v) = u.mbr {
            q.mbr = Some(v);
        }
        if let Some(v) = u.gbr {
            q.gbr = Some(v);
        }
        if let Some(v) = u.qfi {
            q.qfi = Some(v.0);
        }
        if let Some(v) = u.rqi {
            q.rqi = v.contains(crate::codec::ies::Rqi::RQI);
        }
        if let Some(v) = u.paging_policy_indicator {
            q.paging_policy_indicator = Some(v);
        }
        if let Some(v) = u.averaging_window {
            q.averaging_window_ms = Some(v);
        }
        Ok(())
    }

    /// Apply an Update URR; returns whether a new quota was provided.
    pub(crate) fn update_urr(s: &mut Session, u: &g::UpdateUrr) -> Result<bool, Rejection> {
        let rule = RuleRef::Urr(u.urr_id);
        if u.dropped_dl_traffic_threshold {
            return Err(Rejection::ie(
                Cause::SERVICE_NOT_SUPPORTED,
                t::DROPPED_DL_TRAFFIC_THRESHOLD,
            )
            .on(rule));
        }
        let r = s
            .urrs
            .iter_mut()
            .find(|r| r.id == u.urr_id)
            .map(Arc::make_mut)
            .ok_or(Rejection::rule(rule, t::URR_ID))?;
        macro_rules! set {
            ($($f:ident <- $g:ident),*) => { $( if let Some(v) = u.$g { r.$f = Some(v); } )* };
        }
        if let Some(v) = u.measurement_method {
            r.measurement_method = v;
        }
        if let Some(v) = u.reporting_triggers {
            r.reporting_triggers = v;
        }
        if let Some(v) = u.measurement_information {
            r.measurement_information = Some(v);
        }
        set!(measurement_period <- measurement_period, volume_threshold <- volume_threshold,
            volume_quota <- volume_quota, time_threshold <- time_threshold, time_quota <- time_quota,
            quota_holding_time <- quota_holding_time, monitoring_time <- monitoring_time,
            subsequent_volume_threshold <- subsequent_volume_threshold,
            subsequent_time_threshold <- subsequent_time_threshold,
            inactivity_detection_time <- inactivity_detection_time,
            far_id_for_quota_action <- far_id_for_quota_action);
        if !u.linked_urr_ids.is_empty() {
            r.linked_urr_ids = u.linked_urr_ids.iter().copied().collect();
        }
        let new_quota = u.volume_quota.is_some() || u.time_quota.is_some();
        if new_quota {
            r.quota_exhausted = false;
        }
        check_urr(r).map_err(|x| x.on(rule))?;
        Ok(new_quota)
    }

    pub(crate) fn update_bar(s: &mut Session, u: &g::UpdateBar) -> Result<(), Rejection> {
        let b = s
            .bar
            .as_mut()
            .filter(|b| b.id == u.bar_id)
            .ok_or(Rejection::rule(RuleRef::Bar(u.bar_id), t::BAR_ID))?;
        if let Some(d) = u.downlink_data_notification_delay {
            b.downlink_data_notification_delay = Some(d);
        }
        if let Some(c) = u.suggested_buffering_packets_count {
            b.suggested_buffering_packets_count = Some(c);
        }
        Ok(())
    }

    // ---- pieces -----------------------------------------------------------------------------

    fn pdi(&mut self, p: &g::Pdi<'_>) -> Result<Pdi, Rejection> {
        let unsupported = [
            (p.traffic_endpoint_id, t::TRAFFIC_ENDPOINT_ID),
            (
                p.ethernet_pdu_session_information,
                t::ETHERNET_PDU_SESSION_INFORMATION,
            ),
            (p.ethernet_packet_filter, t::ETHERNET_PACKET_FILTER),
            (p.framed_route, t::FRAMED_ROUTE),
            (p.framed_routing, t::FRAMED_ROUTING),
            (p.framed_ipv6_route, t::FRAMED_IPV6_ROUTE),
        ];
        if let Some((_, ie)) = unsupported.iter().find(|(present, _)| *present) {
            return Err(Rejection::ie(Cause::SERVICE_NOT_SUPPORTED, *ie));
        }
        if !p.source_interface.is_known() {
            return Err(Rejection::ie(
                Cause::MANDATORY_IE_INCORRECT,
                t::SOURCE_INTERFACE,
            ));
        }
        let ni = p.network_instance.as_ref().map(|n| self.res.intern_name(n));
        let local_f_teid = match &p.local_f_teid {
            Some(f) => Some(self.local_f_teid(f, p.source_interface, ni.as_deref())?),
            None => None,
        };
        let ue_ip = match p.ue_ip_address.first() {
            Some(u) => Some(self.ue_ip(u, p.source_interface, ni.as_deref())?),
            None => None,
        };
        let mut sdf_filters = Vec::with_capacity(p.sdf_filters.len());
        for f in &p.sdf_filters {
            let flow = match f.flow_description {
                Some(text) => {
                    let text = std::str::from_utf8(text).map_err(|_| {
                        Rejection::ie(Cause::RULE_CREATION_MODIFICATION_FAILURE, t::SDF_FILTER)
                    })?;
                    Some(self.res.intern_flow(text).map_err(|_| {
                        Rejection::ie(Cause::RULE_CREATION_MODIFICATION_FAILURE, t::SDF_FILTER)
                    })?)
                }
                None => None,
            };
            sdf_filters.push(SdfFilter {
                flow,
                tos_traffic_class: f.tos_traffic_class.map(split_tos),
                security_parameter_index: f.security_parameter_index,
                flow_label: f.flow_label,
                filter_id: f.filter_id,
            });
        }
        let application_id = p.application_id.map(|a| self.res.intern_name(&Name(a)));
        let rare = (application_id.is_some() || p.source_interface_type.is_some()).then(|| {
            Box::new(crate::rules::PdiRare {
                application_id,
                source_interface_type: p.source_interface_type,
            })
        });
        Ok(Pdi {
            source_interface: p.source_interface,
            local_f_teid,
            network_instance: ni,
            ue_ip,
            sdf_filters: sdf_filters.into_boxed_slice(),
            qfis: p.qfis.iter().map(|q| q.0).collect(),
            rare,
        })
    }

    fn local_f_teid(
        &mut self,
        f: &FTeid,
        src: SourceInterface,
        ni: Option<&str>,
    ) -> Result<LocalFTeid, Rejection> {
        let incorrect = Rejection::ie(Cause::MANDATORY_IE_INCORRECT, t::F_TEID);
        match *f {
            FTeid::Assigned { teid, ipv4, ipv6 } => {
                if teid == 0 {
                    return Err(incorrect);
                }
                let (ipv4, ipv6) = if ipv4.is_none() && ipv6.is_none() {
                    // No address: ours on that interface is the only meaning.
                    let e = self.res.endpoint(src, ni).ok_or(incorrect)?;
                    (e.ipv4, e.ipv6)
                } else {
                    (ipv4, ipv6)
                };
                Ok(LocalFTeid {
                    teid,
                    ipv4,
                    ipv6,
                    chosen: false,
                })
            }
            FTeid::Choose { v4, v6, choose_id } => {
                if let Some(id) = choose_id
                    && let Some((_, f)) = self.choose_ids.iter().find(|(c, _)| *c == id)
                {
                    return Ok(*f);
                }
                let bad_option = Rejection::ie(Cause::INVALID_F_TEID_ALLOCATION_OPTION, t::F_TEID);
                let e = self.res.endpoint(src, ni).ok_or(bad_option)?;
                let (want4, want6) = match (v4, v6) {
                    // CHOOSE without a family flag: the interface's family.
                    (false, false) => (e.ipv4.is_some(), e.ipv4.is_none()),
                    // Both (Open5GS with a dual-stack GTP-U address): the
                    // families the interface has (TS 29.244 8.2.3: IPv4
                    // and/or IPv6).
                    (true, true) => (e.ipv4.is_some(), e.ipv6.is_some()),
                    one => one,
                };
                if (want4 && e.ipv4.is_none()) || (want6 && e.ipv6.is_none()) || !(want4 || want6) {
                    return Err(bad_option);
                }
                let (ipv4, ipv6) = (e.ipv4.filter(|_| want4), e.ipv6.filter(|_| want6));
                let teid = self
                    .res
                    .teids
                    .alloc()
                    .ok_or(Rejection::ie(Cause::NO_RESOURCES_AVAILABLE, t::F_TEID))?;
                self.tentative.teids.push(teid);
                let f = LocalFTeid {
                    teid,
                    ipv4,
                    ipv6,
                    chosen: true,
                };
                if let Some(id) = choose_id {
                    self.choose_ids.push((id, f));
                }
                Ok(f)
            }
        }
    }

    fn ue_ip(
        &mut self,
        u: &UeIpAddress,
        src: SourceInterface,
        ni: Option<&str>,
    ) -> Result<UeIp, Rejection> {
        let mut ipv4 = u.ipv4;
        let mut ipv6 = u.ipv6;
        let mut prefix_len = u.ipv6_prefix_length.unwrap_or(64);
        if u.choose_v4 && ipv4.is_none() {
            ipv4 = Some(match self.ue_v4 {
                Some(a) => a,
                None => {
                    let ip = self.alloc_ue(false, ni)?;
                    let IpAddr::V4(a) = ip else {
                        return Err(Rejection::ie(
                            Cause::NO_RESOURCES_AVAILABLE,
                            t::UE_IP_ADDRESS,
                        ));
                    };
                    self.ue_v4 = Some(a);
                    a
                }
            });
        }
        if u.choose_v6 && ipv6.is_none() {
            let (a, l) = match self.ue_v6 {
                Some(x) => x,
                None => {
                    let (ip, len) = (self.alloc_ue(true, ni)?, self.v6_len(ni));
                    let IpAddr::V6(a) = ip else {
                        return Err(Rejection::ie(
                            Cause::NO_RESOURCES_AVAILABLE,
                            t::UE_IP_ADDRESS,
                        ));
                    };
                    self.ue_v6 = Some((a, len));
                    (a, len)
                }
            };
            ipv6 = Some(a);
            prefix_len = l;
        }
        if ipv4.is_none() && ipv6.is_none() {
            return Err(Rejection::ie(
                Cause::MANDATORY_IE_INCORRECT,
                t::UE_IP_ADDRESS,
            ));
        }
        Ok(UeIp {
            ipv4,
            ipv6,
            ipv6_prefix_len: prefix_len,
            is_destination: u.is_destination || src != SourceInterface::ACCESS,
            chosen: u.choose_v4 || u.choose_v6,
        })
    }

    fn v6_len(&self, ni: Option<&str>) -> u8 {
        self.res
            .pick_pool(true, self.dnn.as_deref(), ni)
            .map_or(64, |i| self.res.pools[i].config.ue_prefix_len)
    }

    fn alloc_ue(&mut self, v6: bool, ni: Option<&str>) -> Result<IpAddr, Rejection> {
        let i = self
            .res
            .pick_pool(v6, self.dnn.as_deref(), ni)
            .ok_or(Rejection::ie(
                Cause::NO_RESOURCES_AVAILABLE,
                t::UE_IP_ADDRESS,
            ))?;
        let ip = self.res.pools[i].alloc().ok_or(Rejection::ie(
            Cause::ALL_DYNAMIC_ADDRESSES_OCCUPIED,
            t::UE_IP_ADDRESS,
        ))?;
        self.tentative.addrs.push(ip);
        Ok(ip)
    }

    fn forwarding(&mut self, fp: &g::ForwardingParameters<'_>) -> Result<Forwarding, Rejection> {
        unsupported_forwarding(
            fp.redirect_information,
            fp.forwarding_policy,
            fp.header_enrichment,
            fp.linked_traffic_endpoint_id,
        )?;
        if !fp.destination_interface.is_known() {
            return Err(Rejection::ie(
                Cause::MANDATORY_IE_INCORRECT,
                t::DESTINATION_INTERFACE,
            ));
        }
        Ok(Forwarding {
            destination_interface: fp.destination_interface,
            network_instance: fp
                .network_instance
                .as_ref()
                .map(|n| self.res.intern_name(n)),
            outer_header_creation: fp.outer_header_creation,
            transport_level_marking: fp.transport_level_marking.map(split_tos),
            destination_interface_type: fp.destination_interface_type,
        })
    }
}

/// Forwarding parameters we do not implement: cause 76 naming the first.
fn unsupported_forwarding(
    redirect: bool,
    policy: bool,
    enrichment: bool,
    linked_endpoint: bool,
) -> Result<(), Rejection> {
    let ie = if redirect {
        t::REDIRECT_INFORMATION
    } else if policy {
        t::FORWARDING_POLICY
    } else if enrichment {
        t::HEADER_ENRICHMENT
    } else if linked_endpoint {
        t::TRAFFIC_ENDPOINT_ID
    } else {
        return Ok(());
    };
    Err(Rejection::ie(Cause::SERVICE_NOT_SUPPORTED, ie))
}

fn unsupported_pdr(
    predefined: bool,
    activation: bool,
    deactivation: bool,
) -> Result<(), Rejection> {
    let ie = if predefined {
        t::ACTIVATE_PREDEFINED_RULES
    } else if activation {
        t::ACTIVATION_TIME
    } else if deactivation {
        t::DEACTIVATION_TIME
    } else {
        return Ok(());
    };
    Err(Rejection::ie(Cause::SERVICE_NOT_SUPPORTED, ie))
}

fn unsupported_qer(packet_rate: bool, dl_flow_level_marking: bool) -> Result<(), Rejection> {
    if packet_rate {
        return Err(Rejection::ie(Cause::SERVICE_NOT_SUPPORTED, t::PACKET_RATE));
    }
    if dl_flow_level_marking {
        return Err(Rejection::ie(
            Cause::SERVICE_NOT_SUPPORTED,
            t::DL_FLOW_LEVEL_MARKING,
        ));
    }
    Ok(())
}

fn split_tos(v: u16) -> (u8, u8) {
    let [a, b] = v.to_be_bytes();
    (a, b)
}

fn remove_where<T>(v: &mut Vec<T>, f: impl Fn(&T) -> bool) -> bool {
    match v.iter().position(f) {
        Some(i) => {
            v.remove(i);
            true
        }
        None => false,
    }
}

fn remove_where_sv<A: smallvec::Array>(v: &mut SmallVec<A>, f: impl Fn(&A::Item) -> bool) -> bool {
    match v.iter().position(f) {
        Some(i) => {
            v.remove(i);
            true
        }
        None => false,
    }
}

/// Exactly one of DROP, FORW, BUFF (NOCP goes with BUFF or FORW); no DUPL.
fn check_apply_action(a: ApplyAction) -> Result<(), Rejection> {
    if a.contains(ApplyAction::DUPL) {
        return Err(Rejection::ie(Cause::SERVICE_NOT_SUPPORTED, t::APPLY_ACTION));
    }
    let n = [ApplyAction::DROP, ApplyAction::FORW, ApplyAction::BUFF]
        .iter()
        .filter(|f| a.contains(**f))
        .count();
    if n != 1 {
        return Err(Rejection::ie(
            Cause::MANDATORY_IE_INCORRECT,
            t::APPLY_ACTION,
        ));
    }
    Ok(())
}

/// A trigger needs its parameter (TS 29.244 Table 7.5.2.4-1: conditional).
fn check_urr(u: &Urr) -> Result<(), Rejection> {
    let tr = u.reporting_triggers;
    let missing = |ie| Err(Rejection::ie(Cause::CONDITIONAL_IE_MISSING, ie));
    if tr.contains(ReportingTriggers::PERIO) && u.measurement_period.is_none_or(|p| p == 0) {
        return missing(t::MEASUREMENT_PERIOD);
    }
    if tr.contains(ReportingTriggers::VOLTH) && u.volume_threshold.is_none() {
        return missing(t::VOLUME_THRESHOLD);
    }
    if tr.contains(ReportingTriggers::VOLQU) && u.volume_quota.is_none() {
        return missing(t::VOLUME_QUOTA);
    }
    if tr.contains(ReportingTriggers::TIMTH) && u.time_threshold.is_none() {
        return missing(t::TIME_THRESHOLD);
    }
    if tr.contains(ReportingTriggers::TIMQU) && u.time_quota.is_none() {
        return missing(t::TIME_QUOTA);
    }
    Ok(())
}

/// Whole-session checks once every operation of a message is applied:
/// every reference resolves, forwarding FARs have parameters; then PDRs
/// are ordered by precedence.
pub(crate) fn validate(s: &mut Session) -> Result<(), Rejection> {
    for f in &s.fars {
        let rule = RuleRef::Far(f.id);
        if f.forwards() && f.forwarding.is_none() {
            return Err(
                Rejection::ie(Cause::CONDITIONAL_IE_MISSING, t::FORWARDING_PARAMETERS).on(rule),
            );
        }
        if let Some(b) = f.bar_id
            && s.bar.is_none_or(|x| x.id != b)
        {
            return Err(Rejection::rule(rule, t::BAR_ID));
        }
    }
    for p in &s.pdrs {
        let rule = RuleRef::Pdr(p.id);
        if s.far(p.far_id).is_none() {
            return Err(Rejection::rule(rule, t::FAR_ID));
        }
        if p.qer_ids().iter().any(|q| s.qer(*q).is_none()) {
            return Err(Rejection::rule(rule, t::QER_ID));
        }
        if p.urr_ids().iter().any(|u| s.urr(*u).is_none()) {
            return Err(Rejection::rule(rule, t::URR_ID));
        }
    }
    for u in &s.urrs {
        if let Some(f) = u.far_id_for_quota_action
            && s.far(f).is_none()
        {
            return Err(Rejection::rule(RuleRef::Urr(u.id), t::FAR_ID));
        }
    }
    s.pdrs.sort_by_key(|p| (p.precedence, p.id));
    Ok(())
}

/// A `Created PDR` entry for each new PDR whose F-TEID or UE address we
/// chose.
pub(crate) fn created_pdrs(s: &Session, ids: &[u16]) -> Vec<g::CreatedPdr> {
    s.pdrs
        .iter()
        .filter(|p| ids.contains(&p.id))
        .filter(|p| {
            p.pdi.local_f_teid.is_some_and(|f| f.chosen) || p.pdi.ue_ip.is_some_and(|u| u.chosen)
        })
        .map(|p| g::CreatedPdr {
            pdr_id: p.id,
            local_f_teid: p
                .pdi
                .local_f_teid
                .filter(|f| f.chosen)
                .map(|f| FTeid::Assigned {
                    teid: f.teid,
                    ipv4: f.ipv4,
                    ipv6: f.ipv6,
                }),
            ue_ip_address: p.pdi.ue_ip.filter(|u| u.chosen).map(|u| UeIpAddress {
                ipv4: u.ipv4,
                ipv6: u.ipv6,
                is_destination: u.is_destination,
                ipv6_prefix_length: (u.ipv6.is_some() && u.ipv6_prefix_len != 64)
                    .then_some(u.ipv6_prefix_len),
                ..UeIpAddress::default()
            }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::apn_network_identifier as ni;

    /// Commercial PGW-C+SMF combos send the APN with its Operator
    /// Identifier; the pool is configured by the network identifier.
    #[test]
    fn apn_operator_identifier_is_ignored_for_pools() {
        assert_eq!(ni("internet.mnc001.mcc001.gprs"), "internet");
        assert_eq!(ni("ims.apn.MNC015.MCC234.GPRS"), "ims.apn");
        assert_eq!(ni("internet"), "internet");
        assert_eq!(ni("a.b.c.d"), "a.b.c.d");
        assert_eq!(ni("x.mnc01.mcc001.gprs"), "x.mnc01.mcc001.gprs");
        assert_eq!(ni("x.mncééé.mcc001.gprs"), "x.mncééé.mcc001.gprs");
        assert_eq!(ni("mnc001.mcc001.gprs"), "mnc001.mcc001.gprs");
    }
}
