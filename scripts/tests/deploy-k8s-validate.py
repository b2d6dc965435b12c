#!/usr/bin/env python3
"""Offline validation of rendered Kubernetes manifests (deploy/k8s).

Usage: deploy-k8s-validate.py OVERLAY RENDERED.yaml [--k8s-version V]...

Every object is checked against a schema:
  * built-in kinds: kubernetes-validate (the Kubernetes OpenAPI schemas,
    shipped in the PyPI package), strict: unknown fields are errors;
  * ServiceMonitor (Prometheus Operator CRD): the pydantic models that
    cloudcoil-models-prometheus-operator generates from the CRD's schema
    (types, patterns, required fields), plus a walk that rejects fields the
    model does not know (pydantic ignores them);
  * NetworkAttachmentDefinition (Multus CRD): its openAPIV3Schema, which is
    small enough to write down here (spec.config: string; copied from the
    CRD in k8snetworkplumbingwg/multus-cni deployments/), and spec.config
    must be JSON with the keys the sriov CNI documents.
An object of any other kind fails (nothing would have checked it).

Then the deployment rules this repository relies on (each named in the
output), e.g. Guaranteed QoS in the sriov overlay, no privileged
containers, the config ConfigMap mounted as a directory (no subPath), the
N4 Service on UDP 8805, probes on /status, the Grafana dashboard ConfigMap.

Prints one line per check; exits 1 if any failed.
"""

import argparse
import json
import sys

import jsonschema
import kubernetes_validate
import yaml

failures = 0


def ok(msg):
    print(f"ok   {msg}")


def fail(msg):
    global failures
    failures += 1
    print(f"FAIL {msg}")


def check(cond, msg):
    (ok if cond else fail)(msg)
    return cond


# --- CRD schemas -----------------------------------------------------------

# openAPIV3Schema of network-attachment-definitions.k8s.cni.cncf.io (v1),
# as in Multus' deployment manifests.
NAD_SCHEMA = {
    "type": "object",
    "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": {
            "type": "object",
            "properties": {"config": {"type": "string"}},
        },
    },
}
# Keys of the sriov CNI's network configuration (its README, "Configuration
# reference"), plus cniVersion from the CNI spec.
SRIOV_CNI_KEYS = {
    "cniVersion", "name", "type", "ipam", "deviceID", "vlan", "vlanQoS",
    "vlanProto", "mac", "spoofchk", "trust", "link_state", "min_tx_rate",
    "max_tx_rate", "logLevel", "logFile",
}


def unknown_keys(data, model_obj, path=""):
    """Keys of `data` that the pydantic object dropped (unknown to the CRD)."""
    dumped = model_obj.model_dump(by_alias=True, exclude_unset=True, mode="json")
    return _diff(data, dumped, path)


def _diff(src, dumped, path):
    out = []
    if isinstance(src, dict) and isinstance(dumped, dict):
        for k, v in src.items():
            if k not in dumped:
                out.append(f"{path}.{k}" if path else k)
            else:
                out += _diff(v, dumped[k], f"{path}.{k}" if path else k)
    elif isinstance(src, list) and isinstance(dumped, list):
        for i, (a, b) in enumerate(zip(src, dumped)):
            out += _diff(a, b, f"{path}[{i}]")
    return out


def validate_servicemonitor(obj, name):
    from cloudcoil.models.prometheus_operator import v1 as mon

    try:
        model = mon.ServiceMonitor.model_validate(obj)
    except Exception as e:  # pydantic.ValidationError
        fail(f"{name}: ServiceMonitor CRD schema: {e}")
        return
    extra = [k for k in unknown_keys(obj, model) if not k.startswith("metadata.")]
    if extra:
        fail(f"{name}: ServiceMonitor fields unknown to the CRD: {', '.join(extra)}")
    else:
        ok(f"{name}: ServiceMonitor CRD schema (prometheus-operator models)")


def validate_nad(obj, name):
    try:
        jsonschema.validate(obj, NAD_SCHEMA)
    except jsonschema.ValidationError as e:
        fail(f"{name}: NetworkAttachmentDefinition CRD schema: {e.message}")
        return
    try:
        conf = json.loads(obj.get("spec", {}).get("config", ""))
    except json.JSONDecodeError as e:
        fail(f"{name}: spec.config is not JSON: {e}")
        return
    problems = []
    for key in ("cniVersion", "name", "type"):
        if key not in conf:
            problems.append(f"no {key}")
    if conf.get("name") != obj["metadata"]["name"]:
        problems.append(f"config name {conf.get('name')!r} != metadata.name")
    if conf.get("type") == "sriov":
        extra = set(conf) - SRIOV_CNI_KEYS
        if extra:
            problems.append(f"keys unknown to the sriov CNI: {sorted(extra)}")
        for k in ("spoofchk", "trust"):
            if k in conf and conf[k] not in ("on", "off"):
                problems.append(f"{k} must be on/off")
    res = obj["metadata"].get("annotations", {}).get("k8s.v1.cni.cncf.io/resourceName")
    if not res:
        problems.append("no k8s.v1.cni.cncf.io/resourceName annotation (no device plugin pool)")
    if problems:
        fail(f"{name}: {'; '.join(problems)}")
    else:
        ok(f"{name}: NetworkAttachmentDefinition CRD schema and CNI config")


# --- deployment rules --------------------------------------------------------


def containers(sts):
    return sts["spec"]["template"]["spec"]["containers"]


def rules(overlay, objs):
    by_kind = {}
    for o in objs:
        by_kind.setdefault(o["kind"], []).append(o)
    sts = by_kind.get("StatefulSet", [])
    if not check(len(sts) == 1, "one StatefulSet"):
        return
    sts = sts[0]
    pod = sts["spec"]["template"]["spec"]
    upf = next((c for c in pod["containers"] if c["name"] == "upf"), None)
    if not check(upf is not None, "StatefulSet has the upf container"):
        return

    # Identity: a headless Service governs the StatefulSet and carries N4.
    svcs = {s["metadata"]["name"]: s for s in by_kind.get("Service", [])}
    gov = svcs.get(sts["spec"].get("serviceName"))
    check(gov is not None and gov["spec"].get("clusterIP") == "None",
          "StatefulSet's serviceName is a headless Service (per-pod DNS = Node ID)")
    if gov:
        check(any(p.get("port") == 8805 and p.get("protocol") == "UDP" for p in gov["spec"]["ports"]),
              "Service carries N4: UDP 8805")
        check(gov["spec"]["selector"].items() <= sts["spec"]["template"]["metadata"]["labels"].items(),
              "Service selects the UPF pods")

    # Security: never privileged; drop everything, add only named capabilities.
    allowed = {"af-packet": {"NET_RAW", "NET_ADMIN", "IPC_LOCK"}, "sriov": {"IPC_LOCK", "SYS_NICE"}}[overlay]
    for c in pod["containers"] + pod.get("initContainers", []):
        sc = c.get("securityContext", {})
        check(not sc.get("privileged", False), f"{c['name']}: not privileged")
        check(sc.get("allowPrivilegeEscalation") is False, f"{c['name']}: allowPrivilegeEscalation false")
        caps = sc.get("capabilities", {})
        check(caps.get("drop") == ["ALL"], f"{c['name']}: drops ALL capabilities")
        add = set(caps.get("add", []))
        want = allowed if c["name"] == "upf" else set()
        check(add == want, f"{c['name']}: adds exactly {sorted(want) or 'nothing'} (has {sorted(add)})")
        check(sc.get("readOnlyRootFilesystem") is True, f"{c['name']}: read-only root file system")

    # The config reaches the pod as a directory mount: a ConfigMap update
    # then reaches the file (subPath mounts never see updates).
    vols = {v["name"]: v for v in pod.get("volumes", [])}
    cm_vols = {n for n, v in vols.items() if "configMap" in v}
    check(vols.get("template", {}).get("configMap", {}).get("name") == "upf-config",
          "the config template comes from ConfigMap upf-config")
    for c in pod["containers"]:
        for m in c.get("volumeMounts", []):
            if m["name"] in cm_vols:
                check("subPath" not in m and "subPathExpr" not in m,
                      f"{c['name']}: ConfigMap volume {m['name']} mounted as a directory (no subPath)")
    cms = {c["metadata"]["name"]: c for c in by_kind.get("ConfigMap", [])}
    tmpl = cms.get("upf-config", {}).get("data", {}).get("upf.yaml.tmpl", "")
    check("reload:" in tmpl and "watch: true" in tmpl,
          "the config template turns on reload.watch (ConfigMap updates apply without restart)")
    check("render.sh" in cms.get("upf-scripts", {}).get("data", {}), "ConfigMap upf-scripts holds render.sh")
    sidecar = next((c for c in pod["containers"] if c["name"] == "config-sync"), None)
    check(sidecar is not None and "watch" in sidecar.get("command", []),
          "config-sync sidecar re-renders the template (render.sh watch)")

    # Probes on the API.
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        p = upf.get(probe, {}).get("httpGet", {})
        check(p.get("path") == "/status" and p.get("port") == "api", f"upf: {probe} on GET /status")

    # Monitoring.
    sms = by_kind.get("ServiceMonitor", [])
    check(len(sms) == 1 and sms[0]["spec"]["endpoints"][0].get("path") == "/metrics",
          "ServiceMonitor scrapes /metrics")
    dash = [c for c in by_kind.get("ConfigMap", []) if c["metadata"].get("labels", {}).get("grafana_dashboard")]
    if check(len(dash) == 1, "one ConfigMap labelled grafana_dashboard (the Grafana dashboard)"):
        data = dash[0].get("data", {})
        try:
            boards = [json.loads(v) for v in data.values()]
            check(len(boards) == 1 and boards[0].get("panels"), "the dashboard is JSON with panels")
        except json.JSONDecodeError as e:
            fail(f"the dashboard is not JSON: {e}")

    env = {e["name"]: e.get("value") for e in upf.get("env", [])}
    if overlay == "sriov":
        # Guaranteed QoS: requests == limits for cpu and memory in every
        # container; integer CPUs for the upf container (static CPU manager).
        for c in pod["containers"] + pod.get("initContainers", []):
            r = c.get("resources", {})
            req, lim = r.get("requests", {}), r.get("limits", {})
            check(all(k in lim and req.get(k, lim[k]) == lim[k] for k in ("cpu", "memory")),
                  f"{c['name']}: requests = limits for cpu and memory (Guaranteed QoS)")
        cpu = str(upf["resources"]["limits"]["cpu"])
        check(cpu.isdigit() and int(cpu) >= 2, f"upf: integer CPUs ({cpu}) for the static CPU manager, >= 2")
        check("hugepages-1Gi" in upf["resources"]["limits"], "upf: hugepages-1Gi resource")
        check(any(v.get("emptyDir", {}).get("medium") == "HugePages-1Gi" for v in vols.values()),
              "hugepages volume of medium HugePages-1Gi")
        nets = json.loads(sts["spec"]["template"]["metadata"]["annotations"]["k8s.v1.cni.cncf.io/networks"])
        nads = {n["metadata"]["name"]: n for n in by_kind.get("NetworkAttachmentDefinition", [])}
        check({n["name"] for n in nets} == set(nads) == {"upf-n3", "upf-n6"},
              "pod attaches the N3 and N6 NetworkAttachmentDefinitions")
        for n in nads.values():
            res = n["metadata"]["annotations"]["k8s.v1.cni.cncf.io/resourceName"]
            check(res in upf["resources"]["limits"], f"upf requests the VF resource {res}")
            envname = "PCIDEVICE_" + res.upper().replace(".", "_").replace("/", "_")
            check(envname in (env.get("UPF_N3_DEVICE_ENV"), env.get("UPF_N6_DEVICE_ENV")),
                  f"render.sh takes the DPDK device from {envname}")
        check(not pod.get("hostNetwork", False), "sriov: pod network namespace (no hostNetwork)")
    else:
        check(pod.get("hostNetwork") is True, "af-packet: host network (node interfaces upf-n3/upf-n6)")
        check("--no-huge" in (env.get("UPF_EAL_ARGS") or ""), "af-packet: DPDK without hugepages")
        check(all("hugepages" not in k for k in upf.get("resources", {}).get("limits", {})),
              "af-packet: no hugepage resources")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("overlay", choices=["af-packet", "sriov"])
    ap.add_argument("rendered")
    ap.add_argument("--k8s-version", action="append", default=[])
    args = ap.parse_args()
    versions = args.k8s_version or [kubernetes_validate.latest_version()]

    with open(args.rendered) as f:
        objs = [o for o in yaml.safe_load_all(f) if o]
    print(f"{args.overlay}: {len(objs)} objects")
    for o in objs:
        name = f"{o.get('kind')}/{o.get('metadata', {}).get('name')}"
        kind = o.get("kind")
        if kind == "ServiceMonitor":
            validate_servicemonitor(o, name)
        elif kind == "NetworkAttachmentDefinition":
            validate_nad(o, name)
        else:
            for v in versions:
                try:
                    kubernetes_validate.validate(o, v, strict=True)
                    ok(f"{name}: Kubernetes {v} schema (strict)")
                except kubernetes_validate.SchemaNotFoundError:
                    fail(f"{name}: no schema for {o.get('apiVersion')} {kind} in Kubernetes {v}")
                except kubernetes_validate.ValidationError as e:
                    fail(f"{name}: Kubernetes {v} schema: {e.message} at {'.'.join(map(str, e.path))}")
    rules(args.overlay, objs)
    print(f"{args.overlay}: {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
