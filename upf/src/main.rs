//! The `upf` command: `run` the appliance, `check` a config. Parses the
//! command line, sets up logging (stderr, `RUST_LOG`), and maps failures to
//! exit status 1 with the error on stderr.
#![forbid(unsafe_code)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use upf::config::{self, HostInfo};
use upf::prepare;

/// mimalloc rather than glibc's malloc for the control thread's work (the
/// workers allocate nothing per packet): a reload of 100,000 static
/// sessions allocates and frees millions of small blocks (the parsed
/// config, the rules, the lookup entries, and the old ones dropped), and
/// glibc spent ~40% of that reload in `free`'s chunk coalescing; mimalloc
/// halves translate + publish (docs/DESIGN.md, "Config reload"). DPDK's
/// own memory (mbufs, rings) is not affected. Built without transparent
/// huge pages (`no_thp`, root Cargo.toml): see the comment there.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (git ",
    env!("UPF_GIT_HASH"),
    ")"
);

#[derive(Debug, Parser)]
#[command(
    name = "upf",
    version = VERSION,
    about = "5G User Plane Function: N3/N6/N9 GTP-U user plane and N4 PFCP, on DPDK",
    after_help = "Logs go to stderr; RUST_LOG (e.g. RUST_LOG=debug) overrides the config's log.level."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the appliance in the foreground (SIGTERM/SIGINT stop it, SIGHUP reloads the config)
    Run {
        /// The YAML config file
        #[arg(short, long, value_name = "PATH")]
        config: PathBuf,
    },
    /// Validate a config file and print the effective config (defaults filled in); exit 0 if valid, 1 if not
    Check {
        /// The YAML config file
        #[arg(short, long, value_name = "PATH")]
        config: PathBuf,
        /// Skip checks against this machine (that the configured cores exist), for a config meant for another host
        #[arg(long)]
        no_host_checks: bool,
        /// Do not print the effective config (warnings still go to stderr)
        #[arg(short, long)]
        quiet: bool,
    },
    /// Ready this host for `upf run`: reserve hugepages, bind the configured PCI NICs to vfio-pci, write the CPU list for upf.service (idempotent)
    Prepare {
        /// The YAML config file
        #[arg(short, long, value_name = "PATH")]
        config: PathBuf,
        /// Say what would be done, change nothing
        #[arg(long)]
        dry_run: bool,
        /// Allow vfio's unsafe no-IOMMU mode when the host has no IOMMU
        #[arg(long)]
        allow_noiommu: bool,
        /// Bind a NIC even if its kernel interface is up
        #[arg(long)]
        force: bool,
    },
}

/// Logs to stderr. With `RUST_LOG` set, its directives rule; otherwise
/// everything passes the logger and `log::max_level` (from `log.level`,
/// changeable on reload) decides. Returns whether `RUST_LOG` was set.
fn init_logging() -> bool {
    let from_env = std::env::var_os("RUST_LOG").is_some_and(|v| !v.is_empty());
    let mut b = env_logger::Builder::new();
    b.target(env_logger::Target::Stderr);
    if from_env {
        b.parse_env("RUST_LOG");
    } else {
        // The HTTP stack is chatty at debug; keep it at info unless asked.
        b.filter_level(log::LevelFilter::Trace)
            .filter_module("hyper", log::LevelFilter::Info)
            .filter_module("axum", log::LevelFilter::Info);
    }
    b.init();
    if !from_env {
        log::set_max_level(log::LevelFilter::Info);
    }
    from_env
}

fn print_warnings(origin: &str, cfg: &config::Config) {
    for w in &cfg.warnings {
        let pos = w
            .pos
            .map(|p| format!(":{}:{}", p.line, p.column))
            .unwrap_or_default();
        eprintln!("{origin}{pos}: warning: {}: {}", w.path, w.message);
    }
}

fn check(path: &Path, no_host_checks: bool, quiet: bool) -> ExitCode {
    let host = (!no_host_checks).then(HostInfo::detect);
    match config::load(path, host.as_ref()) {
        Ok(cfg) => {
            print_warnings(&path.display().to_string(), &cfg);
            if quiet {
                return ExitCode::SUCCESS;
            }
            match cfg.to_yaml() {
                Ok(yaml) => {
                    let mut out = std::io::stdout().lock();
                    // A closed stdout (`| head`) is not a config error.
                    let _ = writeln!(
                        out,
                        "# effective config of {} (defaults filled in)",
                        path.display()
                    );
                    let _ = out.write_all(yaml.as_bytes());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("upf: cannot print the effective config: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Err(e) => {
            eprint!("{}", e.render_with_source());
            ExitCode::FAILURE
        }
    }
}

fn run(path: PathBuf) -> ExitCode {
    let log_level_from_env = init_logging();
    let host = HostInfo::detect();
    let cfg = match config::load(&path, Some(&host)) {
        Ok(cfg) => cfg,
        Err(e) => {
            eprint!("{}", e.render_with_source());
            log::error!("invalid config, not starting");
            return ExitCode::FAILURE;
        }
    };
    print_warnings(&path.display().to_string(), &cfg);
    if !log_level_from_env {
        log::set_max_level(cfg.log_level);
    }
    log::info!("upf {VERSION} starting with {}", path.display());
    let opts = upf::run::RunOptions {
        config_path: path,
        log_level_from_env,
        host,
    };
    match upf::run::run(cfg, &opts) {
        Ok(()) => {
            log::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            log::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

fn prepare(path: &Path, dry_run: bool, allow_noiommu: bool, force: bool) -> ExitCode {
    // No host checks: under isolcpus= this process may not be allowed on the
    // worker cores, and it does not run them.
    let cfg = match config::load(path, None) {
        Ok(cfg) => cfg,
        Err(e) => {
            eprint!("{}", e.render_with_source());
            return ExitCode::FAILURE;
        }
    };
    let devices = cfg.interfaces.iter().map(|i| i.device.clone()).collect();
    let cpus = std::iter::once(cfg.cores.control)
        .chain(cfg.cores.workers.iter().copied())
        .collect();
    let mut spec = match prepare::PrepareSpec::new(devices, &cfg.dpdk.args, cpus) {
        Ok(spec) => spec,
        Err(e) => {
            eprintln!("upf: {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    };
    spec.allow_noiommu = allow_noiommu;
    spec.force = force;
    let mode = if dry_run {
        prepare::Mode::DryRun
    } else {
        prepare::Mode::Apply
    };
    let report = prepare::prepare(&spec, &prepare::HostSystem::new("/"), mode);
    print!("{report}");
    if report.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run { config } => run(config),
        Command::Check {
            config,
            no_host_checks,
            quiet,
        } => check(&config, no_host_checks, quiet),
        Command::Prepare {
            config,
            dry_run,
            allow_noiommu,
            force,
        } => prepare(&config, dry_run, allow_noiommu, force),
    }
}
