#!/usr/bin/env python3
"""Checks examples/deploy/*.yaml against the image and its app, so the example cannot rot.

  manifests.py IMAGE_JSON DEPLOY_DIR APP_DIR
Prints "ok NAME" / "fail NAME: why" lines (run.sh turns them into TAP lines); exits 3 when
PyYAML is missing.
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
docs = []
for f in sorted(glob.glob(os.path.join(deploy_dir, "*.yaml"))):
    docs += [d for d in yaml.safe_load_all(open(f)) if d]
by_kind = {}
for d in docs:
    by_kind.setdefault(d["kind"], []).append(d)
results = []


def check(name, cond, why):
    results.append(f"ok {name}" if cond else f"fail {name}: {why}")


dep = by_kind["Deployment"][0]
pod = dep["spec"]["template"]["spec"]
ctr = pod["containers"][0]
secrets = {s["metadata"]["name"]: {**s.get("data", {}), **s.get("stringData", {})}
           for s in by_kind.get("Secret", [])}

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
uid = img["user"].split(":")[0]
sc = {**pod.get("securityContext", {}), **ctr.get("securityContext", {})}
check("deploy-runs-as-image-user", str(sc.get("runAsUser")) == uid and sc.get("runAsNonRoot") is True,
      f"runAsUser {sc.get('runAsUser')}, image USER {img['user']}")
args = ctr.get("args") or img["cmd"]
check("deploy-args-start-script-root", args[:2] == img["cmd"][:2], f"args {args}, CMD {img['cmd']}")
drain = 25
if "--drain-timeout" in args:
    drain = int(args[args.index("--drain-timeout") + 1])
grace = pod.get("terminationGracePeriodSeconds", 30)
check("deploy-grace-above-drain", grace > drain,
      f"terminationGracePeriodSeconds {grace} <= drain timeout {drain}")

# --- every app setting the functions use is set, secrets exist -----------------------------
env = {}
bad_refs = []
for e in ctr.get("env", []):
    if "value" in e:
        env[e["name"]] = e["value"]
    else:
        ref = e["valueFrom"]["secretKeyRef"]
        if ref["key"] not in secrets.get(ref["name"], {}):
            bad_refs.append(f"{e['name']} -> {ref['name']}/{ref['key']}")
        env[e["name"]] = secrets.get(ref["name"], {}).get(ref["key"], "")
check("deploy-secret-refs", not bad_refs, f"missing Secret keys: {bad_refs}")

functions = []
for fj in sorted(glob.glob(os.path.join(app_dir, "*", "function.json"))):
    fn = json.load(open(fj))
    trig = next(b for b in fn["bindings"] if b["type"].lower() == "eventhubtrigger")
    functions.append((os.path.basename(os.path.dirname(fj)), fn, trig))
missing = set()
for name, fn, _ in functions:
    for b in fn["bindings"]:
        missing |= {m for m in re.findall(r"%([^%]+)%", json.dumps(b)) if m not in env}
        if b.get("connection") and b["connection"] not in env:
            missing.add(b["connection"])
check("deploy-sets-app-settings", functions and not missing,
      f"app settings not set in the Deployment: {sorted(missing)}")

# --- one Kafka trigger per function, on its hub and consumer group --------------------------
so = by_kind["ScaledObject"][0]
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
check("keda-trigger-per-function", not problems, "; ".join(problems))
problems = []
for t in triggers:
    m = t["metadata"]
    if not re.match(r"^[A-Za-z0-9-]+\.servicebus\.windows\.net:9093$", m.get("bootstrapServers", "")):
        problems.append(f"bootstrapServers {m.get('bootstrapServers')}")
    if m.get("sasl") != "plaintext" or m.get("tls") != "enable":
        problems.append(f"sasl {m.get('sasl')}, tls {m.get('tls')} (want plaintext, enable)")
    a = auths.get(t.get("authenticationRef", {}).get("name"))
    if not a:
        problems.append(f"no TriggerAuthentication {t.get('authenticationRef')}")
        continue
    refs = {r["parameter"]: r for r in a["spec"].get("secretTargetRef", [])}
    for p in ("username", "password"):
        r = refs.get(p)
        if not r or r["key"] not in secrets.get(r["name"], {}):
            problems.append(f"TriggerAuthentication {p}: {r}")
    if refs.get("username") and secrets.get(refs["username"]["name"], {}).get(refs["username"]["key"]) != "$ConnectionString":
        problems.append("username is not $ConnectionString")
check("keda-event-hubs-endpoint", triggers and not problems, "; ".join(problems))
check("keda-targets-deployment", so["spec"]["scaleTargetRef"]["name"] == dep["metadata"]["name"],
      f"scaleTargetRef {so['spec']['scaleTargetRef']}")
print("\n".join(results))
