#!/usr/bin/env bash
# The build steps of the Dockerfile, kept here so that they can be run and
# tested without docker (scripts/tests/20-docker-build-steps.sh runs them
# in a scratch copy of the source). The Dockerfile calls each step by name.
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<'EOF2'
Usage: scripts/docker-build-steps.sh STEP [ARGS]

Steps, in the order the Dockerfile runs them:
  builder-deps      install the build packages (DPDK dev, clang) and Rust
  build OUT         build upf and stage the image tree under OUT:
                    OUT/usr/bin/upf, OUT/etc/upf/upf.yaml
                    (profile: UPF_BUILD_PROFILE, default release)
  runtime-deps      install the runtime packages (DPDK libraries and PMDs
                    from scripts/runtime-packages.txt); with UPF_APT_CLEAN=1
                    also empty apt's cache and lists (image size)
  runtime-packages  print that package list
EOF2
}

runtime_packages() {
    grep -v '^[[:space:]]*\(#\|$\)' "$UPF_ROOT/scripts/runtime-packages.txt"
}

step="${1:-}"
case "$step" in
builder-deps)
    ensure_packages "${UPF_BUILD_PACKAGES[@]}"
    ensure_rust
    ;;
build)
    out="${2:?build needs an output directory}"
    profile="${UPF_BUILD_PROFILE:-release}"
    if [[ -x "$HOME/.cargo/bin/cargo" ]]; then export PATH="$HOME/.cargo/bin:$PATH"; fi
    cd "$UPF_ROOT"
    log_info "building upf (profile $profile)"
    cargo build --locked --profile "$profile" -p upf
    target_dir="${CARGO_TARGET_DIR:-$UPF_ROOT/target}"
    sub="$profile"
    [[ "$profile" == dev ]] && sub=debug
    install -D -m 0755 "$target_dir/$sub/upf" "$out/usr/bin/upf"
    install -D -m 0644 "$UPF_ROOT/config/upf.yaml" "$out/etc/upf/upf.yaml"
    log_ok "staged $out/usr/bin/upf and $out/etc/upf/upf.yaml"
    ;;
runtime-deps)
    mapfile -t pkgs < <(runtime_packages)
    ensure_packages "${pkgs[@]}"
    # Only in the image (the Dockerfile sets UPF_APT_CLEAN=1): never wipe a host's apt lists.
    if [[ "${UPF_APT_CLEAN:-0}" == 1 ]]; then
        apt-get clean
        rm -rf /var/lib/apt/lists/*
    fi
    ;;
runtime-packages)
    runtime_packages
    ;;
-h | --help)
    usage
    ;;
*)
    usage >&2
    exit 1
    ;;
esac
