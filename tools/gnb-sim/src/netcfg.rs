//! Kernel set-up around a UE TUN: the UE addresses on it, and policy routing
//! so that packets *from* a UE address go into the TUN (toward the UPF) while
//! the gNB's own N3 traffic keeps using the main table.
//!
//! Done with iproute2 (`ip`) commands, not a netlink crate: a handful of
//! calls at start and stop, the exact commands are logged (so a user can
//! reproduce or undo them by hand), and it keeps the tool free of an async
//! netlink stack.

use std::fs;
use std::net::Ipv4Addr;
use std::process::Command;

use anyhow::{Context, Result, bail};
use log::{debug, info, warn};

/// Where UE traffic is steered.
#[derive(Debug, Clone)]
pub struct Routing {
    /// Routing table that holds the routes into the TUN.
    pub table: u32,
    /// Priority of the `from <ue> lookup <table>` rules (below main's 32766).
    pub priority: u32,
    /// Destinations routed into the TUN, e.g. `0.0.0.0/0` or `10.200.0.0/24`.
    pub routes: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct NetConfig {
    pub tun: String,
    pub ues: Vec<Ipv4Addr>,
    pub routing: Option<Routing>,
}

/// Runs `ip ARGS`, failing with ip's own message.
pub fn ip(args: &[&str]) -> Result<()> {
    debug!("ip {}", args.join(" "));
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("running ip (iproute2)")?;
    if !out.status.success() {
        bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn sysctl(path: &str, value: &str) {
    if let Err(e) = fs::write(path, value) {
        warn!("cannot set {path} = {value}: {e}");
    }
}

impl NetConfig {
    /// Brings the TUN up with the UE addresses and (optionally) the policy
    /// routing. Stale rules of an earlier run with the same table and
    /// priority are removed first, so a restart after a crash works.
    pub fn apply(&self) -> Result<()> {
        let t = &self.tun;
        // No IPv6 on the TUN: router solicitations would only be counted as
        // UL drops. No reverse-path filter: DL sources are any DN host.
        sysctl(&format!("/proc/sys/net/ipv6/conf/{t}/disable_ipv6"), "1");
        sysctl(&format!("/proc/sys/net/ipv4/conf/{t}/rp_filter"), "0");
        ip(&["link", "set", "dev", t, "up"])?;
        for ue in &self.ues {
            ip(&["addr", "replace", &format!("{ue}/32"), "dev", t])?;
        }
        if let Some(r) = &self.routing {
            let table = r.table.to_string();
            for dst in &r.routes {
                ip(&["route", "replace", dst, "dev", t, "table", &table])?;
            }
            for ue in &self.ues {
                self.del_rules(*ue, r);
                let prio = r.priority.to_string();
                ip(&[
                    "rule",
                    "add",
                    "from",
                    &format!("{ue}/32"),
                    "lookup",
                    &table,
                    "priority",
                    &prio,
                ])?;
            }
            info!(
                "policy routing: from <ue> lookup table {table} (priority {}) -> {} via dev {t}",
                r.priority,
                r.routes.join(", ")
            );
        }
        Ok(())
    }

    fn del_rules(&self, ue: Ipv4Addr, r: &Routing) {
        let (from, table, prio) = (
            format!("{ue}/32"),
            r.table.to_string(),
            r.priority.to_string(),
        );
        // Bounded: a rule that cannot be deleted must not hang start-up.
        for _ in 0..16 {
            if ip(&[
                "rule", "del", "from", &from, "lookup", &table, "priority", &prio,
            ])
            .is_err()
            {
                break;
            }
        }
    }

    /// Removes the rules (routes and addresses go away with the TUN).
    pub fn remove(&self) {
        if let Some(r) = &self.routing {
            for ue in &self.ues {
                self.del_rules(*ue, r);
            }
        }
    }
}

/// Grows a socket's receive and send buffers to `bytes`: with the `*FORCE`
/// options as root (beyond `net.core.rmem_max`, which is global and not ours
/// to change), else as far as the limit allows. A burst of TCP from iperf3
/// otherwise overflows the default ~200 KiB and shows up as loss.
pub fn grow_socket_buffers(sock: &std::net::UdpSocket, bytes: usize) {
    use nix::sys::socket::{getsockopt, setsockopt, sockopt};
    if setsockopt(sock, sockopt::RcvBufForce, &bytes).is_err() {
        let _ = setsockopt(sock, sockopt::RcvBuf, &bytes);
    }
    if setsockopt(sock, sockopt::SndBufForce, &bytes).is_err() {
        let _ = setsockopt(sock, sockopt::SndBuf, &bytes);
    }
    debug!(
        "socket buffers: rcv {:?} snd {:?}",
        getsockopt(sock, sockopt::RcvBuf),
        getsockopt(sock, sockopt::SndBuf)
    );
}
