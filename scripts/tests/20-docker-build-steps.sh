#!/usr/bin/env bash
# The Dockerfile's build, without docker: runs scripts/docker-build-steps.sh
# in a scratch copy of the source (what `COPY . /src` would see), checks the
# staged image tree (binary, config, `upf check` on it), that every shared
# library the binary links comes from a runtime package (or the base
# image), that every runtime package exists, and that the Dockerfile calls
# these same steps. Builds with the dev profile unless UPF_DOCKER_TEST_RELEASE=1.
# timeout: 900
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

cd "$UPF_ROOT"
# A fresh copy of the context each run, at a fixed place under target/ so
# that cargo (which compares source mtimes, kept by tar) builds incrementally.
# It builds into the workspace's own target dir: the context's crates are
# compiled from the copy (other paths: their own artifacts), while the
# crates.io dependencies and build scripts that earlier builds made with
# the same profile, features and lock are reused (a separate target dir
# compiled them all again; `-p upf`'s feature set is this suite's own, so
# its dependencies may still compile once here).
scratch="$UPF_ROOT/target/docker-steps/context"
rm -rf "$scratch"
mkdir -p "$scratch"
add_cleanup "rm -rf '$scratch'"

# The Dockerfile runs exactly these steps and ends in the Contract's entrypoint.
grep -q '^RUN /src/scripts/docker-build-steps.sh builder-deps$' Dockerfile || die "Dockerfile does not run builder-deps"
# shellcheck disable=SC2016 # the literal text of the Dockerfile line
grep -q '^RUN UPF_GIT_HASH=${UPF_GIT_HASH} /src/scripts/docker-build-steps.sh build /out$' Dockerfile || die "Dockerfile does not run build"
grep -q 'docker-build-steps.sh runtime-deps' Dockerfile || die "Dockerfile does not run runtime-deps"
grep -qx 'ENTRYPOINT \["upf", "run", "--config", "/etc/upf/upf.yaml"\]' Dockerfile || die "Dockerfile ENTRYPOINT differs from the Contract"
grep -q '^FROM debian:12 AS builder' Dockerfile || die "the builder stage is not debian:12"
grep -q '^FROM debian:12-slim' Dockerfile || die "the runtime stage is not debian:12-slim"

# The build context: tracked and untracked-but-not-ignored files, like
# `COPY . /src` with .dockerignore (which excludes .git and target).
git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | tar -xf - -C "$scratch"
mkdir -p "$scratch/out"
[[ ! -e "$scratch/.git" && ! -e "$scratch/target" ]] || die "the scratch context must not contain .git or target"

profile=dev
[[ "${UPF_DOCKER_TEST_RELEASE:-0}" == 1 ]] && profile=release
"$scratch/scripts/docker-build-steps.sh" builder-deps
UPF_BUILD_PROFILE=$profile CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$UPF_ROOT/target}" \
    UPF_GIT_HASH="$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)" \
    "$scratch/scripts/docker-build-steps.sh" build "$scratch/out"

bin="$scratch/out/usr/bin/upf"
[[ -x "$bin" ]] || die "no executable at /usr/bin/upf in the staged tree"
"$bin" --version | grep -q '^upf ' || die "staged upf --version failed"
"$bin" check --quiet --config "$scratch/out/etc/upf/upf.yaml" || die "the image's /etc/upf/upf.yaml does not pass upf check"
log_ok "staged tree: $("$bin" --version), /etc/upf/upf.yaml valid"

# Libraries the binary needs vs. what the runtime image installs.
mapfile -t runtime < <("$scratch/scripts/docker-build-steps.sh" runtime-packages)
# Packages of the debian:12-slim base image that binaries may link against.
base=(libc6 libgcc-s1 libstdc++6 zlib1g libzstd1 liblzma5 libbz2-1.0 libcrypt1
    libselinux1 libpcre2-8-0 libudev1 libsystemd0 libgcrypt20 libgpg-error0
    liblz4-1 libcap2 libacl1 libattr1 libgmp10 libtinfo6)
if ldd "$bin" | grep -q 'not found'; then
    ldd "$bin" >&2
    die "the binary links libraries that are not installed"
fi
missing=()
while read -r lib; do
    pkg="$(dpkg -S "$(readlink -f "$lib")" 2>/dev/null | head -n1 | cut -d: -f1 || true)"
    [[ -n "$pkg" ]] || pkg="$(dpkg -S "$lib" 2>/dev/null | head -n1 | cut -d: -f1 || true)"
    [[ -n "$pkg" ]] || die "no Debian package owns $lib (linked by upf)"
    if ! printf '%s\n' "${runtime[@]}" "${base[@]}" | grep -qx "$pkg"; then
        missing+=("$pkg ($lib)")
    fi
done < <(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u)
((${#missing[@]} == 0)) || die "add to scripts/runtime-packages.txt: ${missing[*]}"
log_ok "every linked library comes from the runtime list or the base image"

# Every runtime package exists in the archive (when apt has its lists).
if apt-cache show --no-all-versions dpkg >/dev/null 2>&1; then
    # One apt-cache call for all (each call loads the whole cache); only on
    # failure look for the culprit.
    found="$(apt-cache show --no-all-versions "${runtime[@]}" 2>/dev/null | grep -c '^Package: ' || true)"
    if [[ "$found" != "${#runtime[@]}" ]]; then
        for p in "${runtime[@]}"; do
            apt-cache show --no-all-versions "$p" >/dev/null 2>&1 || die "runtime package '$p' does not exist in the archive"
        done
    fi
    log_ok "all ${#runtime[@]} runtime packages exist in the archive"
else
    log_warn "apt has no package lists: not checking that runtime packages exist"
fi
