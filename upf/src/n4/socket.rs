//! The N4 UDP socket on the control thread's tokio runtime: wait until a
//! datagram is ready or the node's next timer is due, then take every
//! datagram waiting (up to a batch) without waiting again, feed them to
//! [`N4`], and send what the node queued, in order, each to its
//! destination (the request's source address and port). Large kernel
//! buffers absorb SMF bursts while the control thread is busy.
//!
//! [`DataplaneSocket`] is the other endpoint, for `pfcp.listen` on an
//! address DPDK owns: datagrams come from the workers as events and leave
//! as packets the workers send; [`N4Endpoint`] is either.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use dataplane::control::{Control, MAX_INJECT};
use dataplane::counters::Event as DpEvent;
use dataplane::iface::Iface;
use log::warn;
use pfcp::Transmit;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;

use super::{BUSY_TICK, N4};

/// Kernel receive and send buffer asked for (the kernel may cap it at
/// `net.core.rmem_max` / `wmem_max`).
pub const SOCKET_BUFFER: usize = 16 << 20;
/// Most datagrams handled per wake-up before timers and sending get a turn.
pub const BATCH: usize = 256;
/// Largest PFCP datagram accepted (UDP maximum).
const MAX_DATAGRAM: usize = 65_535;
/// Housekeeping (reclaim, worker events) at least this often in [`serve`].
pub const HOUSEKEEPING: Duration = Duration::from_millis(10);

/// The N4 socket.
#[derive(Debug)]
pub struct N4Socket {
    sock: UdpSocket,
    buf: Vec<u8>,
    /// Datagrams the kernel did not take yet (send buffer full).
    backlog: VecDeque<Transmit>,
    /// Datagrams received and sent, send errors.
    pub received: u64,
    pub sent: u64,
    pub send_errors: u64,
}

impl N4Socket {
    /// Binds `addr` (`pfcp.listen`) with large buffers. Must be called
    /// inside a tokio runtime.
    ///
    /// # Errors
    /// If the address cannot be bound.
    pub fn bind(addr: SocketAddr) -> io::Result<Self> {
        let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
        if let Err(e) = s.set_recv_buffer_size(SOCKET_BUFFER) {
            warn!("N4 socket: receive buffer of {SOCKET_BUFFER} bytes refused: {e}");
        }
        if let Err(e) = s.set_send_buffer_size(SOCKET_BUFFER) {
            warn!("N4 socket: send buffer of {SOCKET_BUFFER} bytes refused: {e}");
        }
        s.set_nonblocking(true)?;
        s.bind(&addr.into())?;
        let sock = UdpSocket::from_std(s.into())?;
        Ok(Self {
            sock,
            buf: vec![0; MAX_DATAGRAM],
            backlog: VecDeque::new(),
            received: 0,
            sent: 0,
            send_errors: 0,
        })
    }

    /// The bound address (port 0 picks one).
    ///
    /// # Errors
    /// From the OS.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.local_addr()
    }

    /// The kernel's receive buffer size (after its cap).
    #[must_use]
    pub fn recv_buffer_size(&self) -> Option<usize> {
        socket2::SockRef::from(&self.sock).recv_buffer_size().ok()
    }

    /// Resolves when a datagram can be read, the backlog can be sent, or
    /// `deadline` has passed (never, for `None`). Cancel-safe: use it as a
    /// `tokio::select!` branch of the control loop.
    pub async fn ready(&self, deadline: Option<Instant>) {
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d.into()).await,
                None => std::future::pending().await,
            }
        };
        let writable = async {
            if self.backlog.is_empty() {
                std::future::pending::<()>().await;
            } else {
                let _ = self.sock.writable().await;
            }
        };
        tokio::select! {
            _ = self.sock.readable() => {}
            () = writable => {}
            () = sleep => {}
        }
    }

    /// Receives up to [`BATCH`] datagrams without waiting and hands each
    /// to `n4`; then sends what the node queued. Returns the number
    /// received.
    ///
    /// # Errors
    /// Only on socket failures other than "nothing to read" (a datagram
    /// that fails to send is counted and dropped: the SMF retransmits).
    pub fn service(&mut self, now: Instant, n4: &mut N4, ctl: &mut Control) -> io::Result<usize> {
        let mut n = 0;
        while n < BATCH {
            match self.sock.try_recv_from(&mut self.buf) {
                Ok((len, from)) => {
                    n += 1;
                    n4.on_datagram(now, from, &self.buf[..len], ctl);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                // ICMP port unreachable from an earlier send, on Linux.
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {}
                Err(e) => return Err(e),
            }
        }
        self.received += n as u64;
        self.flush(n4, ctl);
        Ok(n)
    }

    /// Publishes what the datagrams staged, then sends what the node
    /// queued (after timers, events, or `service`).
    pub fn flush(&mut self, n4: &mut N4, ctl: &mut Control) {
        n4.flush(ctl);
        while let Some(t) = self.backlog.pop_front() {
            if !self.send(t) {
                return;
            }
        }
        while let Some(t) = n4.poll_transmit(ctl) {
            if !self.send(t) {
                return;
            }
        }
    }

    /// Sends one datagram; `false` (keeping it) when the kernel is full.
    fn send(&mut self, t: Transmit) -> bool {
        match self.sock.try_send_to(&t.payload, t.dst) {
            Ok(_) => {
                self.sent += 1;
                true
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.backlog.push_front(t);
                false
            }
            Err(e) => {
                self.send_errors += 1;
                warn!("N4: sending {} bytes to {}: {e}", t.payload.len(), t.dst);
                true
            }
        }
    }
}

/// N4 through the DPDK port (`pfcp.listen` on an address only DPDK has):
/// the workers hand datagrams to `pfcp.listen` to the control thread as
/// [`DpEvent::N4Datagram`] events, and the node's answers leave as IPv4/IPv6
/// UDP packets from `pfcp.listen` that a worker sends
/// ([`Control::inject`]). No kernel socket: the control loop polls the
/// worker events every [`BUSY_TICK`] instead of waiting on a descriptor.
#[derive(Debug)]
pub struct DataplaneSocket {
    iface: Iface,
    local: SocketAddr,
    /// Largest IP packet sent: the interface's MTU, at most [`MAX_INJECT`].
    mtu: usize,
    /// Datagrams received, sent, and not sent (inject ring full, another
    /// address family), and answers longer than the MTU (dropped: no
    /// fragmentation; the SMF sees a timeout, the log says why).
    pub received: u64,
    pub sent: u64,
    pub send_errors: u64,
    pub too_long: u64,
}

impl DataplaneSocket {
    /// N4 on `local` (`pfcp.listen`), an address of `iface` whose IP MTU
    /// is `mtu` (capped at [`MAX_INJECT`]).
    #[must_use]
    pub fn new(iface: Iface, local: SocketAddr, mtu: u16) -> Self {
        Self {
            iface,
            local,
            mtu: usize::from(mtu).min(MAX_INJECT),
            received: 0,
            sent: 0,
            send_errors: 0,
            too_long: 0,
        }
    }

    /// The interface N4 is served on.
    #[must_use]
    pub fn iface(&self) -> Iface {
        self.iface
    }

    /// Hands the N4 datagrams among `events` to `n4` (the others stay, in
    /// order); returns how many.
    pub fn take(
        &mut self,
        now: Instant,
        events: &mut Vec<DpEvent>,
        n4: &mut N4,
        ctl: &mut Control,
    ) -> usize {
        let mut n = 0;
        events.retain_mut(|e| match e {
            DpEvent::N4Datagram { src, data, .. } => {
                n += 1;
                n4.on_datagram(now, *src, data, ctl);
                false
            }
            _ => true,
        });
        self.received += n as u64;
        n
    }

    /// Publishes what the datagrams staged, then sends what the node
    /// queued through the dataplane.
    pub fn flush(&mut self, n4: &mut N4, ctl: &mut Control) {
        n4.flush(ctl);
        while let Some(t) = n4.poll_transmit(ctl) {
            self.send(&t, ctl);
        }
    }

    fn send(&mut self, t: &Transmit, ctl: &Control) {
        let Some(p) = dataplane::pipeline::udp_datagram(self.local, t.dst, &t.payload) else {
            self.send_errors += 1;
            warn!(
                "N4: cannot send {} bytes from {} to {}",
                t.payload.len(),
                self.local,
                t.dst
            );
            return;
        };
        if p.len() > self.mtu {
            self.too_long += 1;
            warn!(
                "N4: dropping a {}-byte PFCP message to {}: {} bytes with IP and UDP headers exceed the {}-byte MTU of N4 through the DPDK port (no fragmentation)",
                t.payload.len(),
                t.dst,
                p.len(),
                self.mtu
            );
            return;
        }
        match ctl.inject(self.iface, &p) {
            Ok(()) => self.sent += 1,
            Err(e) => {
                self.send_errors += 1;
                warn!("N4: sending {} bytes to {}: {e}", t.payload.len(), t.dst);
            }
        }
    }
}

/// Where N4's datagrams come from and go: a kernel UDP socket, or the
/// DPDK port that owns `pfcp.listen`.
#[derive(Debug)]
pub enum N4Endpoint {
    /// A kernel UDP socket on `pfcp.listen`.
    Kernel(N4Socket),
    /// Served through the dataplane.
    Dataplane(DataplaneSocket),
}

impl N4Endpoint {
    /// Resolves when there may be N4 work: a datagram on the kernel socket
    /// (or its backlog can leave), `deadline`, or, through the dataplane,
    /// [`BUSY_TICK`] from now (the worker events are polled).
    pub async fn ready(&self, deadline: Option<Instant>) {
        match self {
            Self::Kernel(s) => s.ready(deadline).await,
            Self::Dataplane(_) => {
                let tick = Instant::now() + BUSY_TICK;
                tokio::time::sleep_until(earliest(deadline, tick).into()).await;
            }
        }
    }

    /// Whether the control loop must run [`N4::housekeeping`] at every
    /// wake-up (that is where the dataplane's datagrams arrive).
    #[must_use]
    pub fn polled(&self) -> bool {
        matches!(self, Self::Dataplane(_))
    }

    /// The kernel socket: receive and hand datagrams to `n4` (see
    /// [`N4Socket::service`]); through the dataplane the datagrams come
    /// with the worker events ([`N4Endpoint::take`]), so it only flushes.
    ///
    /// # Errors
    /// From the kernel socket.
    pub fn service(&mut self, now: Instant, n4: &mut N4, ctl: &mut Control) -> io::Result<usize> {
        match self {
            Self::Kernel(s) => s.service(now, n4, ctl),
            Self::Dataplane(d) => {
                d.flush(n4, ctl);
                Ok(0)
            }
        }
    }

    /// Hands the N4 datagrams among worker `events` to `n4` (nothing for a
    /// kernel socket: the dataplane sends it none).
    pub fn take(
        &mut self,
        now: Instant,
        events: &mut Vec<DpEvent>,
        n4: &mut N4,
        ctl: &mut Control,
    ) -> usize {
        match self {
            Self::Kernel(_) => 0,
            Self::Dataplane(d) => d.take(now, events, n4, ctl),
        }
    }

    /// Publishes staged changes and sends what the node queued.
    pub fn flush(&mut self, n4: &mut N4, ctl: &mut Control) {
        match self {
            Self::Kernel(s) => s.flush(n4, ctl),
            Self::Dataplane(d) => d.flush(n4, ctl),
        }
    }
}

fn earliest(a: Option<Instant>, b: Instant) -> Instant {
    a.map_or(b, |a| a.min(b))
}

/// Runs N4 on `sock` until `stop` completes: the control loop of a
/// process that does nothing else (tests, benchmarks). `upf run` puts the
/// same steps into its own loop.
///
/// # Errors
/// On socket failures.
pub async fn serve(
    sock: &mut N4Socket,
    n4: &mut N4,
    ctl: &mut Control,
    stop: impl Future<Output = ()>,
) -> io::Result<()> {
    let mut stop = std::pin::pin!(stop);
    let mut next_housekeeping = Instant::now() + HOUSEKEEPING;
    loop {
        let tick = if n4.busy() {
            Instant::now() + BUSY_TICK
        } else {
            next_housekeeping
        };
        let deadline = earliest(n4.poll_timeout(), tick);
        tokio::select! {
            () = sock.ready(Some(deadline)) => {}
            () = &mut stop => return Ok(()),
        }
        let now = Instant::now();
        sock.service(now, n4, ctl)?;
        if now >= deadline || n4.busy() || now >= next_housekeeping {
            n4.housekeeping(now, ctl);
            next_housekeeping = now + HOUSEKEEPING;
        }
        sock.flush(n4, ctl);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PFCP message that fits the MTU with its IPv4 and UDP headers goes
    /// to the inject ring; one byte more is dropped and counted, not
    /// fragmented.
    #[test]
    fn answers_over_the_mtu_are_dropped_and_counted() {
        let (ctl, _ports) = dataplane::testkit::dataplane(1, true);
        let local = SocketAddr::new(dataplane::testkit::N3_IP.into(), 8805);
        let dst = SocketAddr::new(dataplane::testkit::GNB_IP.into(), 8805);
        let mut d = DataplaneSocket::new(Iface::N3, local, 9000);
        let fits = MAX_INJECT - 28;
        d.send(
            &Transmit {
                dst,
                payload: vec![0; fits],
            },
            &ctl,
        );
        assert_eq!((d.sent, d.too_long), (1, 0));
        d.send(
            &Transmit {
                dst,
                payload: vec![0; fits + 1],
            },
            &ctl,
        );
        assert_eq!((d.sent, d.too_long, d.send_errors), (1, 1, 0));
        let v6: SocketAddr = "[2001:db8::2]:8805".parse().unwrap();
        d.send(
            &Transmit {
                dst: v6,
                payload: vec![0; 8],
            },
            &ctl,
        );
        assert_eq!(
            (d.sent, d.send_errors),
            (1, 1),
            "no IPv4 source for an IPv6 SMF"
        );
        // A smaller interface MTU is the limit.
        let mut d = DataplaneSocket::new(Iface::N3, local, 1280);
        d.send(
            &Transmit {
                dst,
                payload: vec![0; 1252],
            },
            &ctl,
        );
        d.send(
            &Transmit {
                dst,
                payload: vec![0; 1253],
            },
            &ctl,
        );
        assert_eq!((d.sent, d.too_long), (1, 1));
    }
}
