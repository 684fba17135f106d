#!/usr/bin/env python3
"""Checks examples/deploy/*.yaml against the image, its app and the docs, so the example
cannot rot.

  manifests.py IMAGE_JSON DEPLOY_DIR APP_DIR [OPERATIONS_MD]
OPERATIONS_MD defaults to docs/operations.md of this repository. Prints "ok NAME" /
"fail NAME: why" lines (run.sh turns them into TAP lines); exits 3 when PyYAML is missing.
"""
import glob
import json
import os
import re
import sys

try:
    import yaml
except ImportError:
    sys.exit(3)

img = json.load(open(sys.argv[1]))
deploy_dir, app_dir = sys.argv[2], sys.argv[3]
ops_md = (sys.argv[4] if len(sys.argv) > 4 else
          os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs",
                       "operations.md"))
docs = []
for f in sorted(glob.glob(os.path.join(deploy_dir, "*.yaml"))):
    docs += [d for d in yaml.safe_load_all(open(f)) if d]
by_kind = {}
for d in docs:
    by_kind.setdefault(d["kind"], []).append(d)
readme = open(os.path.join(deploy_dir, "README.md")).read()
keda_yaml = open(os.path.join(deploy_dir, "keda.yaml")).read()
ops_text = open(ops_md).read()
results = []


def check(name, cond, why):
    if isinstance(why, list):    # problems: each once, in order
        why = "; ".join(dict.fromkeys(why))
    results.append(f"ok {name}" if cond else f"fail {name}: {why}")


def selects(selector, labels):
    """Does a LabelSelector (matchLabels, matchExpressions In/NotIn/Exists/DoesNotExist)
    select a pod with these labels? An empty or missing selector selects nothing here."""
    if not selector:
        return False
    ml, me = selector.get("matchLabels") or {}, selector.get("matchExpressions") or []
    if not ml and not me:
        return False
    if any(labels.get(k) != v for k, v in ml.items()):
        return False
    for e in me:
        k, op, vals = e["key"], e["operator"], e.get("values") or []
        if (op == "In" and labels.get(k) not in vals) or (op == "NotIn" and labels.get(k) in vals) \
                or (op == "Exists" and k not in labels) or (op == "DoesNotExist" and k in labels):
            return False
    return True


def conn_fields(value):
    """An Event Hubs connection string as a dict (keys lower-cased)."""
    out = {}
    for part in (value or "").split(";"):
        k, sep, v = part.partition("=")
        if sep:
            out[k.strip().lower()] = v.strip()
    return out


dep = by_kind["Deployment"][0]
pod = dep["spec"]["template"]["spec"]
pod_labels = dep["spec"]["template"]["metadata"].get("labels", {})
ctr = pod["containers"][0]
secrets = {s["metadata"]["name"]: {**s.get("data", {}), **s.get("stringData", {})}
           for s in by_kind.get("Secret", [])}
so = by_kind["ScaledObject"][0]

# --- the pod runs the image as the image expects ------------------------------------------
port = int(img["env"].get("HUBFN_HTTP_PORT", "0"))
ports = {p.get("name"): p["containerPort"] for p in ctr.get("ports", [])}


def probe_port(p):
    v = p["httpGet"]["port"]
    return ports.get(v) if isinstance(v, str) else v


rp, lp = ctr.get("readinessProbe", {}), ctr.get("livenessProbe", {})
check("deploy-probes",
      rp.get("httpGet", {}).get("path") == "/readyz" and lp.get("httpGet", {}).get("path") == "/healthz"
      and probe_port(rp) == port and probe_port(lp) == port,
      f"readiness {rp.get('httpGet')}, liveness {lp.get('httpGet')}, image port {port}")

# The probes' timing is what docs/operations.md recommends: its yaml block with
# livenessProbe and readinessProbe (Kubernetes' defaults where a field is left out).
PROBE_DEFAULTS = {"periodSeconds": 10, "timeoutSeconds": 1, "failureThreshold": 3}
doc_probes = None
for block in re.findall(r"```yaml\n(.*?)```", ops_text, re.S):
    try:
        y = yaml.safe_load(block)
    except yaml.YAMLError:
        continue
    if isinstance(y, dict) and "livenessProbe" in y and "readinessProbe" in y:
        doc_probes = y
        break
problems = []
if doc_probes is None:
    problems.append(f"no yaml block with livenessProbe and readinessProbe in {ops_md}")
else:
    for kind, mine in (("livenessProbe", lp), ("readinessProbe", rp)):
        theirs = doc_probes[kind]
        for k, default in PROBE_DEFAULTS.items():
            if mine.get(k, default) != theirs.get(k, default):
                problems.append(f"{kind}.{k}: deployment {mine.get(k, default)}, "
                                f"docs/operations.md {theirs.get(k, default)}")
        if theirs.get("httpGet", {}).get("path") != mine.get("httpGet", {}).get("path"):
            problems.append(f"{kind} path: deployment {mine.get('httpGet')}, docs {theirs.get('httpGet')}")
        if theirs.get("httpGet", {}).get("port") != port:
            problems.append(f"{kind} port in docs/operations.md {theirs.get('httpGet')}, image {port}")
    # a rebalance holds the loop for seconds: never Kubernetes' 1 s timeout
    for kind, mine in (("livenessProbe", lp), ("readinessProbe", rp)):
        if mine.get("timeoutSeconds", 1) < 5:
            problems.append(f"{kind}.timeoutSeconds {mine.get('timeoutSeconds', 1)} < 5")
check("deploy-probe-timing-matches-docs", not problems, problems)

uid = img["user"].split(":")[0]
sc = {**pod.get("securityContext", {}), **ctr.get("securityContext", {})}
check("deploy-runs-as-image-user", str(sc.get("runAsUser")) == uid and sc.get("runAsNonRoot") is True,
      f"runAsUser {sc.get('runAsUser')}, image USER {img['user']}")
args = ctr.get("args") or img["cmd"]
check("deploy-args-start-script-root", args[:2] == img["cmd"][:2], f"args {args}, CMD {img['cmd']}")

# --- every app setting the functions use is set, secrets exist -----------------------------
env = {}
env_secret_keys = set()          # (Secret, key) pairs the container reads
bad_refs = []
for e in ctr.get("env", []):
    if "value" in e:
        env[e["name"]] = e["value"]
    else:
        ref = e["valueFrom"]["secretKeyRef"]
        env_secret_keys.add((ref["name"], ref["key"]))
        if ref["key"] not in secrets.get(ref["name"], {}):
            bad_refs.append(f"{e['name']} -> {ref['name']}/{ref['key']}")
        env[e["name"]] = secrets.get(ref["name"], {}).get(ref["key"], "")
check("deploy-secret-refs", not bad_refs, f"missing Secret keys: {bad_refs}")

# The drain timeout: --drain-timeout in args, else HUBFN_DRAIN_TIMEOUT (container, then
# image), else hubfn's default. After it hubfn still commits the last checkpoints and
# flushes outputs (5 s at most each) and leaves the groups: the grace period leaves 10 s more.
drain, drain_from = 25, "hubfn's default"
if str(img["env"].get("HUBFN_DRAIN_TIMEOUT", "")).strip():
    drain, drain_from = int(img["env"]["HUBFN_DRAIN_TIMEOUT"]), "the image's HUBFN_DRAIN_TIMEOUT"
if str(env.get("HUBFN_DRAIN_TIMEOUT", "")).strip():
    drain, drain_from = int(env["HUBFN_DRAIN_TIMEOUT"]), "HUBFN_DRAIN_TIMEOUT"
if "--drain-timeout" in args:
    drain, drain_from = int(args[args.index("--drain-timeout") + 1]), "--drain-timeout"
grace = pod.get("terminationGracePeriodSeconds", 30)
check("deploy-grace-above-drain", grace >= drain + 10,
      f"terminationGracePeriodSeconds {grace} < drain timeout {drain} ({drain_from}) + 10 s "
      "for the last commit, leaving the groups and flushing outputs")

functions = []
for fj in sorted(glob.glob(os.path.join(app_dir, "*", "function.json"))):
    fn = json.load(open(fj))
    trig = next(b for b in fn["bindings"] if b["type"].lower() == "eventhubtrigger")
    functions.append((os.path.basename(os.path.dirname(fj)), fn, trig))
missing = set()
app_conn_settings = set()
for name, fn, _ in functions:
    for b in fn["bindings"]:
        missing |= {m for m in re.findall(r"%([^%]+)%", json.dumps(b)) if m not in env}
        if b.get("connection"):
            app_conn_settings.add(b["connection"])
            if b["connection"] not in env:
                missing.add(b["connection"])
check("deploy-sets-app-settings", functions and not missing,
      f"app settings not set in the Deployment: {sorted(missing)}")

# --- replicas spread out; voluntary disruptions one at a time --------------------------------
tsc = pod.get("topologySpreadConstraints") or []
problems = []
keys = {c.get("topologyKey") for c in tsc}
for want in ("kubernetes.io/hostname", "topology.kubernetes.io/zone"):
    if want not in keys:
        problems.append(f"no constraint on {want}")
for c in tsc:
    if not selects(c.get("labelSelector"), pod_labels):
        problems.append(f"{c.get('topologyKey')}: labelSelector {c.get('labelSelector')} does not "
                        f"select the pods ({pod_labels})")
    if c.get("maxSkew", 0) < 1 or c.get("whenUnsatisfiable") not in ("ScheduleAnyway", "DoNotSchedule"):
        problems.append(f"{c.get('topologyKey')}: maxSkew {c.get('maxSkew')}, "
                        f"whenUnsatisfiable {c.get('whenUnsatisfiable')}")
check("deploy-topology-spread", tsc and not problems, problems or "none")

pdbs = by_kind.get("PodDisruptionBudget", [])
pdb = next((p for p in pdbs if selects(p["spec"].get("selector"), pod_labels)), None)
problems = []
if pdb is None:
    problems.append(f"no PodDisruptionBudget selects the Deployment's pods ({pod_labels}); "
                    f"found {[p['metadata']['name'] for p in pdbs]}")
else:
    spec = pdb["spec"]
    mu, ma = spec.get("maxUnavailable"), spec.get("minAvailable")
    min_rep = so["spec"].get("minReplicaCount", 0)
    # a budget must let a node drain move a replica, even at KEDA's minimum
    if mu is not None:
        if mu in (0, "0", "0%"):
            problems.append("maxUnavailable 0 blocks every node drain")
    elif isinstance(ma, int):
        if ma >= max(min_rep, 1):
            problems.append(f"minAvailable {ma} blocks node drains at minReplicaCount {min_rep}")
    else:
        problems.append(f"maxUnavailable {mu}, minAvailable {ma}")
    others = [o["metadata"]["name"] for o in docs
              if o is not dep and o["kind"] in ("Deployment", "StatefulSet")
              and selects(spec.get("selector"), o["spec"]["template"]["metadata"].get("labels", {}))]
    if others:
        problems.append(f"the budget also selects {others}")
check("deploy-disruption-budget", not problems, problems)

# --- one Kafka trigger per function, on its hub and consumer group --------------------------
triggers = [t for t in so["spec"]["triggers"] if t["type"] == "kafka"]
auths = {a["metadata"]["name"]: a for a in by_kind.get("TriggerAuthentication", [])}
problems = []
for name, fn, trig in functions:
    hub = re.sub(r"%([^%]+)%", lambda m: env.get(m.group(1), ""), trig["eventHubName"])
    group = trig.get("consumerGroup", "$Default")
    t = next((t for t in triggers if t["metadata"].get("topic") == hub), None)
    if t is None:
        problems.append(f"{name}: no kafka trigger with topic {hub}")
    elif t["metadata"].get("consumerGroup") != group:
        problems.append(f"{name}: trigger consumerGroup {t['metadata'].get('consumerGroup')}, "
                        f"function's {group}")
check("keda-trigger-per-function", not problems, problems)


def auth_of(t):
    return auths.get(t.get("authenticationRef", {}).get("name"))


def auth_value(a, param):
    """(Secret, key, value) of a TriggerAuthentication parameter, or None."""
    r = next((r for r in a["spec"].get("secretTargetRef", []) if r["parameter"] == param), None)
    if r is None:
        return None
    return r["name"], r["key"], secrets.get(r["name"], {}).get(r["key"])


# Endpoint and login: the namespace's Kafka endpoint, SASL PLAIN over TLS with user
# $ConnectionString and a connection string as the password.
problems = []
for t in triggers:
    m = t["metadata"]
    if not re.match(r"^[A-Za-z0-9-]+\.servicebus\.windows\.net:9093$", m.get("bootstrapServers", "")):
        problems.append(f"bootstrapServers {m.get('bootstrapServers')}")
    a = auth_of(t)
    if not a:
        problems.append(f"no TriggerAuthentication {t.get('authenticationRef')}")
        continue
    for p in ("username", "password"):
        v = auth_value(a, p)
        if not v or v[2] is None:
            problems.append(f"TriggerAuthentication {p}: {v and v[:2]} is not in a Secret")
    u = auth_value(a, "username")
    if u and u[2] != "$ConnectionString":
        problems.append(f"username is {u[2]!r}, not $ConnectionString")
    pw = auth_value(a, "password")
    if pw and pw[2] is not None:
        ns = conn_fields(pw[2]).get("endpoint", "")
        host = m.get("bootstrapServers", "").split(":")[0]
        if not ns.startswith(f"sb://{host}"):
            problems.append(f"password's Endpoint {ns!r} is not the namespace of {host}")
check("keda-event-hubs-endpoint", triggers and not problems, problems)

# sasl and tls in the TriggerAuthentication, and nowhere else: KEDA refuses a trigger that
# sets them in both places.
problems = []
for t in triggers:
    m, a = t["metadata"], auth_of(t)
    for p, want in (("sasl", "plaintext"), ("tls", "enable")):
        v = auth_value(a, p) if a else None
        if not v or v[2] != want:
            problems.append(f"{t.get('name')}: TriggerAuthentication {p} = "
                            f"{v[2] if v else None!r}, want {want!r}")
        if p in m:
            problems.append(f"{t.get('name')}: {p} is also in the trigger metadata (KEDA "
                            "refuses it in both places)")
check("keda-sasl-tls-in-trigger-authentication", triggers and not problems, problems)

# KEDA's key is a Listen-only policy's, not the app's: another Secret entry than any the
# Deployment reads, another policy than the app's connections use, namespace-level (its
# triggers read several hubs), and the README creates that policy with Listen only.
problems = []
app_policies = {conn_fields(env.get(c)).get("sharedaccesskeyname") for c in app_conn_settings}
for t in triggers:
    a = auth_of(t)
    pw = auth_value(a, "password") if a else None
    if not pw:
        problems.append(f"{t.get('name')}: no password")
        continue
    if (pw[0], pw[1]) in env_secret_keys:
        problems.append(f"{t.get('name')}: password {pw[0]}/{pw[1]} is the app's own connection")
    f = conn_fields(pw[2])
    policy = f.get("sharedaccesskeyname")
    if not policy or policy in app_policies:
        problems.append(f"{t.get('name')}: policy {policy!r} is the app's ({sorted(filter(None, app_policies))})")
    if "entitypath" in f:
        problems.append(f"{t.get('name')}: EntityPath {f['entitypath']} (one hub only)")
    rights = re.findall(r"authorization-rule create\b[^\n]*?(?:-n|--name)\s+" + re.escape(policy or "-")
                        + r"\s+--rights\s+([A-Za-z ]+)", readme)
    if not rights or any(r.split() != ["Listen"] for r in rights):
        problems.append(f"README.md does not create policy {policy!r} with --rights Listen only "
                        f"(found {rights})")
check("keda-listen-only-key", triggers and not problems, problems)

# Each trigger: no more replicas than partitions with lag, its topic named, values strings
# (KEDA's schema takes nothing else in metadata).
problems = []
for t in triggers:
    m = t["metadata"]
    if m.get("limitToPartitionsWithLag") != "true":
        problems.append(f"{t.get('name')}: limitToPartitionsWithLag {m.get('limitToPartitionsWithLag')!r}")
    if m.get("allowIdleConsumers", "false") != "false":
        problems.append(f"{t.get('name')}: allowIdleConsumers {m.get('allowIdleConsumers')!r} "
                        "(KEDA refuses it with limitToPartitionsWithLag)")
    if not m.get("topic"):
        problems.append(f"{t.get('name')}: no topic (limitToPartitionsWithLag needs one)")
    bad = {k: v for k, v in m.items() if not isinstance(v, str)}
    if bad:
        problems.append(f"{t.get('name')}: not strings: {bad}")
check("keda-limit-to-partitions-with-lag", triggers and not problems, problems)

# The KEDA version the manifests need, from the fields they use (KEDA's changelog: the
# trigger-metadata sasl/tls came with 2.10.0, limitToPartitionsWithLag with 2.13.0), is the
# one README.md, keda.yaml and docs/operations.md state as "KEDA X.Y or later".
KEDA_SINCE = {"sasl": (2, 10), "tls": (2, 10), "limitToPartitionsWithLag": (2, 13)}
need, why = (2, 0), "KEDA 2.0's fields only"
for t in triggers:
    for k in t["metadata"]:
        if KEDA_SINCE.get(k, (0, 0)) > need:
            need, why = KEDA_SINCE[k], f"trigger metadata {k}"
need_s = "%d.%d" % need
stated = {f: set(re.findall(r"KEDA (\d+\.\d+) or later", text)) for f, text in
          (("README.md", readme), ("keda.yaml", keda_yaml), ("docs/operations.md", ops_text))}
problems = [f"{f} states {sorted(v) or 'no version'}" for f, v in stated.items() if v != {need_s}]
check("keda-version-stated", not problems,
      f"the manifests need KEDA {need_s} ({why}); " + "; ".join(problems))

check("keda-targets-deployment", so["spec"]["scaleTargetRef"]["name"] == dep["metadata"]["name"],
      f"scaleTargetRef {so['spec']['scaleTargetRef']}")
print("\n".join(results))
