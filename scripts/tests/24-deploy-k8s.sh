#!/usr/bin/env bash
# Tests of the Kubernetes deployment (deploy/k8s), offline, no cluster:
#  1. both overlays (af-packet, sriov) render with `kubectl kustomize`: the
#     kubectl found on PATH and Debian 12's own (kubernetes-client 1.20,
#     kustomize v2.0.3), which must produce the same objects;
#  2. every object validates against the Kubernetes schemas (1.25 and the
#     newest kubernetes-validate knows, strict) or its CRD's schema, and the
#     deployment rules hold (scripts/tests/deploy-k8s-validate.py);
#  3. render.sh turns the template into a per-instance config for ordinals
#     0 and 1 with each overlay's environment: distinct Node IDs, addresses
#     and UE blocks, cores from the cpuset, the SR-IOV PCI address; each
#     rendered config passes `upf check`; bad inputs fail with a clear error;
#  4. a ConfigMap update, done the way the kubelet does it (a new ..data
#     directory swapped in by a symlink rename), reaches the rendered config
#     through `render.sh watch` (the config-sync sidecar).
# Installs what it needs: kubectl (apt: kubernetes-client) and a venv under
# build/ with kubernetes-validate and cloudcoil-models-prometheus-operator.
# The upf binary: $UPF_BIN, else target/debug/upf (built if missing).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

passed=0
failed=0
ok() { echo "ok   $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; failed=$((failed + 1)); }
say() { echo "deploy-k8s: $*"; }

work="$(mktemp -d -t deploy-k8s.XXXXXX)"
bg_pids=()
cleanup() {
    for p in "${bg_pids[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

apt_install() {
    [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 || return 1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null 2>&1 \
        || { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null; }
}

# --- tools -----------------------------------------------------------------
tools="$root/build/deploy-tools"
mkdir -p "$tools"
if ! kubectl kustomize --help >/dev/null 2>&1; then
    say "installing kubectl (Debian package kubernetes-client)"
    apt_install kubernetes-client || { echo "deploy-k8s: kubectl is required (apt-get install kubernetes-client)" >&2; exit 1; }
fi
kubectls=("$(command -v kubectl)")
# Debian 12's kubectl is the oldest kustomize the manifests promise to work
# with; when the kubectl on PATH is another one, render with both.
if ! kubectl version --client 2>/dev/null | grep -q 'v1\.20\.'; then
    deb_kubectl="$tools/kubernetes-client/usr/bin/kubectl"
    if [ ! -x "$deb_kubectl" ]; then
        say "fetching Debian's kubernetes-client (apt-get download) to render with kustomize v2.0.3 too"
        (cd "$tools" && rm -f kubernetes-client_*.deb \
            && { apt-get download kubernetes-client >/dev/null 2>&1 \
                 || { apt-get update -q >/dev/null 2>&1 && apt-get download kubernetes-client >/dev/null; }; } \
            && dpkg-deb -x kubernetes-client_*.deb kubernetes-client && rm -f kubernetes-client_*.deb) \
            || say "note: could not fetch Debian's kubernetes-client; rendering with $(kubectl version --client 2>/dev/null | head -1) only"
    fi
    [ -x "$deb_kubectl" ] && kubectls+=("$deb_kubectl")
fi

venv="$root/build/deploy-venv"
py="$venv/bin/python"
if ! "$py" -c 'import kubernetes_validate, cloudcoil.models.prometheus_operator, yaml, jsonschema' 2>/dev/null; then
    say "installing kubernetes-validate and cloudcoil-models-prometheus-operator into $venv"
    python3 -m venv "$venv" 2>/dev/null || { apt_install python3-venv && rm -rf "$venv" && python3 -m venv "$venv"; }
    "$venv/bin/pip" install -q --disable-pip-version-check \
        'kubernetes-validate==1.37.0' 'cloudcoil-models-prometheus-operator==0.80.1.0' pyyaml jsonschema
fi

upf_bin="${UPF_BIN:-}"
if [ -z "$upf_bin" ]; then
    upf_bin="$(cargo metadata --format-version 1 --no-deps | "$py" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug/upf"
    [ -x "$upf_bin" ] || { say "building upf (cargo build -p upf)"; cargo build -q -p upf; }
fi

# --- 1. render ---------------------------------------------------------------
# A copy of deploy/, so that a missing piece owned elsewhere can be stood in
# for to check everything else -- the test still fails for it.
cp -R deploy "$work/deploy"
if [ ! -f deploy/grafana/upf-dashboard.json ]; then
    fail "deploy/grafana/upf-dashboard.json is missing (the metrics work writes it); rendering with a stand-in"
    mkdir -p "$work/deploy/grafana"
    echo '{"title": "stand-in", "panels": [{"type": "text"}]}' > "$work/deploy/grafana/upf-dashboard.json"
fi
if [ ! -f deploy/grafana/kustomization.yaml ]; then
    fail "deploy/grafana/kustomization.yaml is missing: deploy/k8s/monitoring needs it (content in deploy/k8s/README.md, 'Grafana dashboard'); rendering with that content"
    sed -n '/^# BEGIN deploy\/grafana\/kustomization.yaml/,/^# END/p' deploy/k8s/README.md | sed '1d;$d' \
        > "$work/deploy/grafana/kustomization.yaml"
fi

for overlay in af-packet sriov; do
    first=""
    for k in "${kubectls[@]}"; do
        v="$("$k" version --client 2>/dev/null | grep -o 'v1\.[0-9]*\.[0-9]*' | head -1)"
        out="$work/$overlay.$v.yaml"
        if "$k" kustomize "$work/deploy/k8s/overlays/$overlay" > "$out" 2> "$work/err"; then
            ok "$overlay: kubectl $v kustomize renders $(grep -c '^kind:' "$out") objects"
        else
            fail "$overlay: kubectl $v kustomize: $(grep -v '^# Warning' "$work/err" | head -3)"
            continue
        fi
        if [ -z "$first" ]; then
            first="$out"
            cp "$out" "$work/$overlay.yaml"
        elif "$py" - "$first" "$out" <<'EOF'; then
import sys, yaml
def objs(p):
    return sorted((yaml.safe_dump(o, sort_keys=True) for o in yaml.safe_load_all(open(p)) if o))
sys.exit(0 if objs(sys.argv[1]) == objs(sys.argv[2]) else 1)
EOF
            ok "$overlay: kubectl $v renders the same objects as $(basename "$first" .yaml | cut -d. -f2-)"
        else
            fail "$overlay: kubectl $v renders different objects than $(basename "$first" .yaml | cut -d. -f2-)"
        fi
    done
done

# --- 2. schemas and rules ----------------------------------------------------
for overlay in af-packet sriov; do
    [ -f "$work/$overlay.yaml" ] || { fail "$overlay: not rendered, not validated"; continue; }
    if "$py" scripts/tests/deploy-k8s-validate.py "$overlay" "$work/$overlay.yaml" \
        --k8s-version 1.25.0 --k8s-version 1.37.0 > "$work/validate-$overlay.log" 2>&1; then
        ok "$overlay: $(grep -c '^ok' "$work/validate-$overlay.log") schema and rule checks (deploy-k8s-validate.py)"
    else
        grep -v '^ok' "$work/validate-$overlay.log" | sed 's/^/    /'
        fail "$overlay: schema or rule checks failed"
    fi
done

# --- 3. per-instance configs ---------------------------------------------------
check_ok=1
if ! "$upf_bin" check --help 2>&1 | grep -q -- --config; then
    check_ok=0
    fail "$upf_bin has no 'check' subcommand: the rendered configs cannot be checked (needs the upf CLI of the config work; see git -C $root log)"
elif ! "$upf_bin" check --help 2>&1 | grep -q -- '--no-host-checks'; then
    check_ok=0
    fail "upf check has no --no-host-checks: a config for another machine's cores cannot be checked here"
fi

# The overlay's env for the upf container, as NAME=VALUE lines.
overlay_env() {
    "$py" - "$1" <<'EOF'
import sys, yaml
for o in yaml.safe_load_all(open(sys.argv[1])):
    if o and o["kind"] == "StatefulSet":
        c = next(c for c in o["spec"]["template"]["spec"]["containers"] if c["name"] == "upf")
        for e in c.get("env", []):
            if "value" in e:
                print(f"{e['name']}={e['value']}")
EOF
}
template_of() {
    "$py" - "$1" <<'EOF'
import sys, yaml
for o in yaml.safe_load_all(open(sys.argv[1])):
    if o and o["kind"] == "ConfigMap" and o["metadata"]["name"] == "upf-config":
        sys.stdout.write(o["data"]["upf.yaml.tmpl"])
EOF
}
render() { # overlay ordinal cpus outdir [extra env...]
    local overlay="$1" ordinal="$2" cpus="$3" dir="$4"
    shift 4
    mkdir -p "$dir"
    local -a envs=()
    mapfile -t envs < <(overlay_env "$work/$overlay.yaml")
    env -i PATH="$PATH" "${envs[@]}" POD_NAME="upf-$ordinal" POD_NAMESPACE=upf \
        POD_IP="10.244.$ordinal.5" POD_INDEX="$ordinal" UPF_CPUS="$cpus" \
        PCIDEVICE_INTEL_COM_SRIOV_N3="0000:3b:02.$ordinal" \
        PCIDEVICE_INTEL_COM_SRIOV_N6="0000:3b:0a.$ordinal,0000:3b:0a.7" \
        UPF_TEMPLATE="$work/$overlay.tmpl" UPF_RENDERED="$dir/upf.yaml" "$@" \
        sh "$work/deploy/k8s/base/render.sh" render > /dev/null
}
field() { # file yaml-path
    "$py" -c 'import sys, yaml
v = yaml.safe_load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    v = v[int(k)] if k.isdigit() else v[k]
print(v)' "$1" "$2"
}

for overlay in af-packet sriov; do
    [ -f "$work/$overlay.yaml" ] || continue
    template_of "$work/$overlay.yaml" > "$work/$overlay.tmpl"
    cpus="0-15"
    [ "$overlay" = sriov ] && cpus="4-7"
    for ordinal in 0 1; do
        d="$work/cfg-$overlay-$ordinal"
        if render "$overlay" "$ordinal" "$cpus" "$d" 2> "$work/err"; then
            ok "$overlay: render.sh renders upf-$ordinal's config"
        else
            fail "$overlay: render.sh for upf-$ordinal: $(cat "$work/err")"
            continue
        fi
        if [ "$check_ok" = 1 ]; then
            if "$upf_bin" check --no-host-checks --quiet --config "$d/upf.yaml" 2> "$work/err"; then
                ok "$overlay: upf check accepts upf-$ordinal's rendered config"
            else
                fail "$overlay: upf check rejects upf-$ordinal's config: $(head -5 "$work/err")"
            fi
        fi
    done
    a="$work/cfg-$overlay-0/upf.yaml" b="$work/cfg-$overlay-1/upf.yaml"
    [ -f "$a" ] && [ -f "$b" ] || continue
    for key in node_id interfaces.n3.address interfaces.n6.address ue_pools.0.cidr pfcp.listen; do
        va="$(field "$a" "$key")" vb="$(field "$b" "$key")"
        if [ "$va" != "$vb" ]; then ok "$overlay: $key differs per instance ($va, $vb)"; else fail "$overlay: $key is the same for both instances ($va)"; fi
    done
    [ "$(field "$a" node_id)" = "upf-0.upf.upf.svc.cluster.local" ] \
        && ok "$overlay: Node ID is the pod's stable DNS name" || fail "$overlay: Node ID $(field "$a" node_id)"
    [ "$(field "$b" interfaces.n3.address)" = "192.168.1.11/24" ] && [ "$(field "$b" ue_pools.0.cidr)" = "10.45.16.0/20" ] \
        && ok "$overlay: upf-1 gets N3 192.168.1.11/24 and UE block 10.45.16.0/20" \
        || fail "$overlay: upf-1 got N3 $(field "$b" interfaces.n3.address), UE $(field "$b" ue_pools.0.cidr)"
    if [ "$overlay" = sriov ]; then
        [ "$(field "$b" cores.control)" = 4 ] && [ "$(field "$b" cores.workers)" = "[5, 6, 7]" ] \
            && ok "sriov: cores from the cpuset: control 4, workers [5, 6, 7]" \
            || fail "sriov: cores control $(field "$b" cores.control) workers $(field "$b" cores.workers)"
        [ "$(field "$b" interfaces.n3.device)" = "0000:3b:02.1" ] && [ "$(field "$b" interfaces.n6.device)" = "0000:3b:0a.1" ] \
            && ok "sriov: DPDK devices are the VFs the device plugin allocated" \
            || fail "sriov: devices $(field "$b" interfaces.n3.device) $(field "$b" interfaces.n6.device)"
    else
        [ "$(field "$b" cores.workers)" = "[1]" ] && [ "$(field "$b" interfaces.n3.device)" = "net_af_packet0,iface=upf-n3" ] \
            && ok "af-packet: one worker, N3 on net_af_packet over upf-n3" \
            || fail "af-packet: workers $(field "$b" cores.workers), N3 $(field "$b" interfaces.n3.device)"
    fi
done

# Bad inputs stop render.sh with a message that names the problem.
expect_error() { # description expected-text overlay ordinal cpus [env...]
    local what="$1" want="$2"
    shift 2
    if render "$@" 2> "$work/err"; then
        fail "render.sh accepted $what"
    elif grep -q -- "$want" "$work/err"; then
        ok "render.sh refuses $what: $(cat "$work/err")"
    else
        fail "render.sh refused $what without saying '$want': $(cat "$work/err")"
    fi
}
if [ -f "$work/sriov.tmpl" ]; then
    expect_error "an ordinal beyond the UE pool" "ordinal 16 does not fit" sriov 16 4-7 "$work/bad1"
    expect_error "a single CPU" "need at least 2 CPUs" sriov 0 4 "$work/bad2"
    expect_error "a missing VF" "which is empty" sriov 0 4-7 "$work/bad3" PCIDEVICE_INTEL_COM_SRIOV_N3=
    expect_error "an N3 base outside its prefix" "leaves 192.168.1.250/24" sriov 9 4-7 "$work/bad4" UPF_N3_BASE=192.168.1.250
fi

# --- 4. ConfigMap update -> rendered config --------------------------------
# The kubelet's atomic writer: files are symlinks into ..data, itself a
# symlink to a timestamped directory; an update writes a new directory and
# renames a new ..data symlink over the old one.
if [ -f "$work/af-packet.tmpl" ]; then
    cm="$work/cm"
    mkdir -p "$cm/..2026_01_01_00_00_00.1" "$work/cfg-watch"
    cp "$work/af-packet.tmpl" "$cm/..2026_01_01_00_00_00.1/upf.yaml.tmpl"
    ln -s ..2026_01_01_00_00_00.1 "$cm/..data"
    ln -s ..data/upf.yaml.tmpl "$cm/upf.yaml.tmpl"
    render af-packet 0 0-3 "$work/cfg-watch" UPF_TEMPLATE="$cm/upf.yaml.tmpl"
    UPF_TEMPLATE="$cm/upf.yaml.tmpl" UPF_RENDERED="$work/cfg-watch/upf.yaml" UPF_RENDER_INTERVAL=1 \
        sh "$work/deploy/k8s/base/render.sh" watch 2> "$work/watch.log" &
    bg_pids+=($!)
    mkdir "$cm/..2026_01_01_00_01_00.2"
    sed 's/level: info/level: debug/' "$cm/..2026_01_01_00_00_00.1/upf.yaml.tmpl" > "$cm/..2026_01_01_00_01_00.2/upf.yaml.tmpl"
    ln -s ..2026_01_01_00_01_00.2 "$cm/..data_tmp"
    mv -T "$cm/..data_tmp" "$cm/..data"
    rm -rf "$cm/..2026_01_01_00_00_00.1"
    deadline=$((SECONDS + 20))
    until grep -q 'level: debug' "$work/cfg-watch/upf.yaml" 2>/dev/null || [ $SECONDS -ge $deadline ]; do sleep 0.2; done
    if grep -q 'level: debug' "$work/cfg-watch/upf.yaml"; then
        ok "a ConfigMap update (kubelet-style ..data swap) reaches the rendered config via render.sh watch"
        grep -q "template changed" "$work/watch.log" && ok "render.sh watch logs the re-render" || fail "render.sh watch did not log the re-render"
        [ "$(field "$work/cfg-watch/upf.yaml" node_id)" = "upf-0.upf.upf.svc.cluster.local" ] \
            && ok "the re-rendered config keeps the instance's identity" || fail "identity changed on re-render"
    else
        fail "the ConfigMap update did not reach the rendered config within 20 s: $(cat "$work/watch.log")"
    fi
    # A template with a field render.sh does not know keeps the last good file.
    mkdir "$cm/..2026_01_01_00_02_00.3"
    sed 's/level: debug/level: @NOPE@/' "$cm/..2026_01_01_00_01_00.2/upf.yaml.tmpl" > "$cm/..2026_01_01_00_02_00.3/upf.yaml.tmpl"
    ln -s ..2026_01_01_00_02_00.3 "$cm/..data_tmp"
    mv -T "$cm/..data_tmp" "$cm/..data"
    deadline=$((SECONDS + 20))
    until grep -q '@NOPE@' "$work/watch.log" || [ $SECONDS -ge $deadline ]; do sleep 0.2; done
    grep -q '@NOPE@' "$work/watch.log" && grep -q 'level: debug' "$work/cfg-watch/upf.yaml" \
        && ok "a template with an unknown @FIELD@ is reported and the last good config stays" \
        || fail "unknown template field: $(tail -2 "$work/watch.log")"
fi

echo "deploy-k8s: $passed passed, $failed failed"
[ "$failed" = 0 ]
