//! `upf run`: the control thread's event loop. At this stage it serves the
//! API, handles signals (SIGTERM/SIGINT stop, SIGHUP reloads) and keeps the
//! telemetry model; the integrator adds EAL start, ports, workers and the
//! N4 socket here (see the `INTEGRATION` notes).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use log::{error, info, warn};
use tokio::signal::unix::{SignalKind, signal};

use crate::api::{self, BuildInfo, InterfaceStats, ReloadResult, RunState, Telemetry, WorkerStats};
use crate::config::{Config, HostInfo};
use crate::reload::{self, ReloadError};

/// How long open API requests may take to finish at shutdown.
const API_DRAIN: Duration = Duration::from_millis(500);

/// What `run` needs beyond the config.
#[derive(Debug)]
pub struct RunOptions {
    pub config_path: PathBuf,
    /// Set when `RUST_LOG` chose the log level: then `log.level` is ignored.
    pub log_level_from_env: bool,
    pub host: HostInfo,
}

/// Runs until SIGTERM or SIGINT. Blocks the calling thread, which becomes
/// the control thread.
///
/// # Errors
/// If start-up fails (the API address cannot be bound, signals cannot be
/// installed). A clean stop returns `Ok`.
pub fn run(config: Config, opts: &RunOptions) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the control runtime")?;
    rt.block_on(control_loop(config, opts))
}

fn seed_telemetry(t: &Telemetry, cfg: &Config) {
    t.update(|m| {
        m.node_id = cfg.node_id.to_string();
        m.pfcp_listen = cfg.pfcp.listen;
        m.interfaces = cfg
            .interfaces
            .iter()
            .map(|i| InterfaceStats {
                name: i.name.as_str().to_owned(),
                device: i.device.clone(),
                addresses: i.prefixes().map(|p| p.to_string()).collect(),
                ..InterfaceStats::default()
            })
            .collect();
        m.workers = cfg
            .cores
            .workers
            .iter()
            .enumerate()
            .map(|(i, &lcore)| WorkerStats {
                index: u32::try_from(i).unwrap_or(u32::MAX),
                lcore,
                ..WorkerStats::default()
            })
            .collect();
        m.static_sessions = cfg.sessions.len() as u64;
        for r in ReloadResult::ALL {
            m.reloads.entry(r).or_default();
        }
    });
}

async fn control_loop(mut config: Config, opts: &RunOptions) -> anyhow::Result<()> {
    let telemetry = Telemetry::new(BuildInfo::current());
    seed_telemetry(&telemetry, &config);

    let listener = api::bind(config.api.listen)
        .await
        .with_context(|| format!("api.listen: cannot listen on {}", config.api.listen))?;
    let api_addr = listener
        .local_addr()
        .context("api.listen: reading the bound address")?;
    info!("API on http://{api_addr} (GET /metrics, GET /status)");

    let mut sigterm = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut sigint = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut sighup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let mut server = tokio::spawn(api::serve(listener, telemetry.clone(), async move {
        let _ = stop_rx.await;
    }));

    // INTEGRATION: start EAL (dpdk.args + cores), ports, workers and the N4
    // socket here; fill `telemetry` from the dataplane counters every
    // <= 100 ms from a tokio interval on this thread.
    warn!(
        "this build serves the API and handles signals only: the dataplane and PFCP are not wired in yet"
    );
    if config.reload.watch {
        warn!("reload.watch is set but file watching is not implemented yet; use SIGHUP");
    }
    telemetry.update(|m| m.state = RunState::Running);
    info!(
        "running: node_id {}, {} static sessions; SIGHUP reloads {}",
        config.node_id,
        config.sessions.len(),
        opts.config_path.display()
    );

    let mut server_done = false;
    loop {
        tokio::select! {
            _ = sigterm.recv() => { info!("SIGTERM: stopping"); break; }
            _ = sigint.recv() => { info!("SIGINT: stopping"); break; }
            _ = sighup.recv() => reload_now(&mut config, opts, &telemetry),
            res = &mut server, if !server_done => {
                server_done = true;
                match res {
                    Ok(Ok(())) => error!("the API server stopped unexpectedly"),
                    Ok(Err(e)) => error!("the API server failed: {e}"),
                    Err(e) => error!("the API server task failed: {e}"),
                }
            }
        }
    }

    telemetry.update(|m| m.state = RunState::Stopping);
    let _ = stop_tx.send(());
    if !server_done && tokio::time::timeout(API_DRAIN, &mut server).await.is_err() {
        warn!("API requests still open after {API_DRAIN:?}; closing them");
        server.abort();
    }
    log_final_counters(&telemetry);
    Ok(())
}

fn reload_now(config: &mut Config, opts: &RunOptions, telemetry: &Telemetry) {
    let started = Instant::now();
    info!("SIGHUP: reloading {}", opts.config_path.display());
    match reload::plan(config, &opts.config_path, Some(&opts.host)) {
        Err(ReloadError::Invalid(e)) => {
            error!("reload rejected, running config unchanged:\n{e}");
            let first = e.to_string().lines().next().unwrap_or_default().to_owned();
            telemetry.update(|m| m.record_reload(ReloadResult::Rejected, first, started.elapsed()));
        }
        Err(e @ ReloadError::NeedsRestart(_)) => {
            error!("reload rejected, running config unchanged: {e}");
            telemetry.update(|m| {
                m.record_reload(ReloadResult::Rejected, e.to_string(), started.elapsed());
            });
        }
        Ok(plan) => {
            for w in &plan.config.warnings {
                warn!(
                    "{}: warning: {}: {}",
                    opts.config_path.display(),
                    w.path,
                    w.message
                );
            }
            if !opts.log_level_from_env {
                log::set_max_level(plan.config.log_level);
            }
            // INTEGRATION: publish added/removed/changed static sessions and
            // the live PFCP/gateway/pool settings here, in one table swap.
            if plan.diff.sessions_touched() > 0 {
                warn!(
                    "static session changes are recorded but not applied: no dataplane in this build"
                );
            }
            let took = started.elapsed();
            info!("reload applied in {took:?}: {}", plan.diff);
            telemetry.update(|m| {
                m.static_sessions = plan.config.sessions.len() as u64;
                m.record_reload(ReloadResult::Applied, plan.diff.to_string(), took);
            });
            *config = plan.config;
        }
    }
}

fn log_final_counters(t: &Telemetry) {
    let m = t.snapshot();
    for i in &m.interfaces {
        info!(
            "final {}: rx {} pkts / {} bytes, tx {} pkts / {} bytes, missed {}",
            i.name, i.rx_packets, i.rx_bytes, i.tx_packets, i.tx_bytes, i.rx_missed
        );
    }
    let dropped: u64 = m.drops.values().sum();
    info!(
        "final: {} sessions, {dropped} packets dropped, uptime {:.1}s",
        m.sessions(),
        t.uptime().as_secs_f64()
    );
}
