#!/usr/bin/env python3
"""Build and run the image a Dockerfile describes, without a container engine.

tests/container/run.sh uses this to test ./Dockerfile: every stage starts from a
debootstrapped Debian root filesystem (the stand-in for debian:SUITE-slim), its instructions
run in a chroot over overlayfs layers, and `exec` runs a command in the result the way
`docker run` would (the image's user, working directory, environment, read-only root).

  image.py parse DOCKERFILE                     the stages as JSON
  image.py packages DOCKERFILE STAGE            the packages the stage's apt-get install lines name
  image.py base-suite DOCKERFILE                the Debian suite of the first FROM (bookworm)
  image.py build --dockerfile F --context DIR --base ROOTFS --cache DIR --work DIR
                 [--target STAGE] [--build-arg K=V]...
        builds every stage up to the target (default: the last), leaves the target's root
        filesystem mounted read-only at WORK/STAGE/rootfs with /proc, /sys, /dev and a tmpfs
        /tmp, and writes WORK/image.json (its config). The instructions of a stage before
        its first COPY are cached as an overlay layer in CACHE/layers, keyed by their text;
        the rest runs on every build. Must run in a private mount namespace (unshare -m)
        as root: the mounts go away with it.
  image.py exec IMAGE_JSON [-e K=V]... [--raw | --healthcheck] [--] [ARGS...]
        runs ENTRYPOINT + ARGS (ARGS default to CMD) in the image as its USER; --raw runs
        ARGS as they are; --healthcheck runs the HEALTHCHECK command. Replaces this process,
        so the caller's PID is the command's.
Instructions understood: FROM debian:SUITE-slim, ARG, ENV, RUN, COPY (context with .dockerignore, --from,
--chown, --chmod), WORKDIR, USER, EXPOSE, HEALTHCHECK, ENTRYPOINT, CMD, STOPSIGNAL, LABEL.
Anything else is an error, so the test cannot silently skip what it does not know.
"""
import fcntl
import hashlib
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import time

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CONFIG_ONLY = {"ARG", "ENV", "USER", "EXPOSE", "HEALTHCHECK", "ENTRYPOINT", "CMD",
               "STOPSIGNAL", "LABEL"}
KNOWN = CONFIG_ONLY | {"FROM", "RUN", "COPY", "WORKDIR"}


def die(msg):
    print("image.py: " + msg, file=sys.stderr)
    sys.exit(1)


def log(msg):
    print("# " + msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- parsing

def logical_lines(text):
    """Dockerfile lines with continuations joined and comments dropped: (lineno, text)."""
    out, cur, start = [], None, 0
    for no, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("#"):
            continue          # comments, also inside a continued instruction
        if not stripped:
            continue          # blank lines, also inside a continued instruction
        if cur is None:
            cur, start = "", no
        if line.rstrip().endswith("\\"):
            cur += line.rstrip()[:-1] + " "
            continue
        cur += line
        out.append((start, cur.strip()))
        cur = None
    if cur is not None:
        out.append((start, cur.strip()))
    return out


def parse(path):
    with open(path) as f:
        text = f.read()
    global_args, stages = [], []
    for no, line in logical_lines(text):
        kw, _, rest = line.partition(" ")
        kw = kw.upper()
        rest = rest.strip()
        if kw not in KNOWN:
            die(f"{path}:{no}: {kw} is not supported by tests/container/image.py")
        if kw == "FROM":
            m = re.match(r"^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$", rest, re.I)
            if not m:
                die(f"{path}:{no}: cannot read FROM {rest}")
            stages.append({"name": m.group(2) or str(len(stages)), "from": m.group(1),
                           "line": no, "instructions": []})
        elif not stages:
            if kw != "ARG":
                die(f"{path}:{no}: {kw} before the first FROM")
            global_args.append(rest)
        else:
            stages[-1]["instructions"].append({"kw": kw, "args": rest, "line": no})
    if not stages:
        die(f"{path}: no FROM")
    return {"global_args": global_args, "stages": stages}


def find_stage(df, name):
    for s in df["stages"]:
        if s["name"].lower() == name.lower():
            return s
    die(f"no stage named {name}")


def json_form(args):
    """The exec form ["a", "b"] as a list, or None for the shell form."""
    if args.startswith("["):
        try:
            v = json.loads(args)
        except ValueError:
            return None
        if isinstance(v, list) and all(isinstance(x, str) for x in v):
            return v
    return None


def command(args):
    v = json_form(args)
    return v if v is not None else ["/bin/sh", "-c", args]


def apt_packages(run):
    """Packages named by `apt-get install` / `apt install` in a RUN command."""
    try:
        words = shlex.split(run)
    except ValueError:
        return []
    pkgs, i = [], 0
    while i < len(words):
        if words[i] in ("apt-get", "apt") and "install" in words[i + 1:i + 8]:
            j = i + 1
            while words[j] != "install":
                j += 1
            j += 1
            while j < len(words):
                w = words[j]
                if w in ("&&", "||", ";", "|") or w.endswith(";"):
                    if w.endswith(";") and w != ";":
                        pkgs.append(w[:-1])
                    break
                if not w.startswith("-"):
                    pkgs.append(w)
                j += 1
            i = j
        i += 1
    return pkgs


def stage_packages(stage):
    pkgs = []
    for ins in stage["instructions"]:
        if ins["kw"] == "RUN":
            cmd = json_form(ins["args"])
            pkgs += apt_packages(" ".join(cmd) if cmd else ins["args"])
    return pkgs


# ------------------------------------------------------------- variable substitution

VAR_RE = re.compile(r"\\(\$)|\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?:(:[-+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")


def subst(s, env):
    def repl(m):
        if m.group(1):
            return "$"
        name = m.group(2) or m.group(5)
        val = env.get(name)
        if m.group(3) == ":-":
            return val if val else m.group(4)
        if m.group(3) == ":+":
            return m.group(4) if val else ""
        return val or ""
    return VAR_RE.sub(repl, s)


def parse_kv(rest, env, legacy_ok):
    """ENV / LABEL / ARG pairs: [(key, value)]."""
    words = shlex.split(rest)
    if legacy_ok and words and "=" not in words[0]:
        key, _, val = rest.partition(" ")
        return [(key, subst(val.strip(), env))]
    out = []
    for w in words:
        k, eq, v = w.partition("=")
        out.append((k, subst(v, env) if eq else None))
    return out


# --------------------------------------------------------------------- .dockerignore

def glob_re(pat):
    out, i = "", 0
    while i < len(pat):
        c = pat[i]
        if pat.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
            continue
        if pat.startswith("**", i):
            out += ".*"
            i += 2
            continue
        if c == "*":
            out += "[^/]*"
        elif c == "?":
            out += "[^/]"
        elif c == "[":
            j = pat.find("]", i)
            if j < 0:
                out += re.escape(c)
            else:
                out += "[" + pat[i + 1:j].replace("!", "^", 1) + "]"
                i = j
        else:
            out += re.escape(c)
        i += 1
    return re.compile("^" + out + "$")


def load_ignore(context):
    rules = []
    try:
        with open(os.path.join(context, ".dockerignore")) as f:
            for line in f:
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                neg = line.startswith("!")
                if neg:
                    line = line[1:].strip()
                line = os.path.normpath(line).lstrip("/")
                rules.append((neg, glob_re(line)))
    except FileNotFoundError:
        pass
    return rules


def ignored(rules, rel):
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = rel.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    result = False
    for neg, rx in rules:
        if any(rx.match(p) for p in prefixes):
            result = not neg
    return result


# ------------------------------------------------------------------------- mounts

def sh(*argv):
    subprocess.run(argv, check=True)


def mounts_under(path):
    path = os.path.realpath(path)
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].replace("\\040", " ")
            if mp == path or mp.startswith(path + "/"):
                out.append(mp)
    return out


def umount_all(path):
    for mp in sorted(mounts_under(path), key=len, reverse=True):
        subprocess.run(["umount", "-l", mp], check=False)
    if mounts_under(path):
        die(f"cannot unmount everything under {path}")


def mount_overlay(lowers, upper, work, merged):
    for d in (upper, work, merged):
        os.makedirs(d, exist_ok=True)
    sh("mount", "-t", "overlay", "overlay", "-o",
       f"lowerdir={':'.join(lowers)},upperdir={upper},workdir={work}", merged)


def mount_dev(root):
    """A minimal /dev like a container's, never the host's."""
    dev = os.path.join(root, "dev")
    os.makedirs(dev, exist_ok=True)
    sh("mount", "-t", "tmpfs", "-o", "mode=755,nosuid", "hubfn-dev", dev)
    for name, major, minor in (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7),
                               ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)):
        p = os.path.join(dev, name)
        os.mknod(p, 0o666 | stat.S_IFCHR, os.makedev(major, minor))
        os.chmod(p, 0o666)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, os.path.join(dev, name))
    os.makedirs(os.path.join(dev, "shm"), mode=0o1777)
    os.chmod(os.path.join(dev, "shm"), 0o1777)
    os.makedirs(os.path.join(dev, "pts"))


def mount_system(root, work):
    """What a container engine mounts: /proc, /sys (read-only), /dev, and its own copies of
    the host's resolv.conf and hosts (in WORK, so nothing writes the host's)."""
    sh("mount", "-t", "proc", "proc", os.path.join(root, "proc"))
    sh("mount", "-t", "sysfs", "-o", "ro", "sysfs", os.path.join(root, "sys"))
    mount_dev(root)
    for f in ("/etc/resolv.conf", "/etc/hosts"):
        target = os.path.join(root, f.lstrip("/"))
        if not os.path.lexists(target):
            open(target, "a").close()
        copy = os.path.join(work, os.path.basename(f))
        if not os.path.exists(copy):
            shutil.copyfile(f, copy) if os.path.exists(f) else open(copy, "a").close()
        sh("mount", "--bind", copy, target)


# --------------------------------------------------------------------- users, exec

def read_db(root, name):
    rows = []
    try:
        with open(os.path.join(root, "etc", name)) as f:
            for line in f:
                rows.append(line.rstrip("\n").split(":"))
    except FileNotFoundError:
        pass
    return rows


def resolve_user(root, spec):
    """USER as Docker reads it: name or uid, optional :group; groups from /etc/group."""
    user, _, group = (spec or "root").partition(":")
    passwd = read_db(root, "passwd")
    groups_db = read_db(root, "group")
    ent = None
    for p in passwd:
        if len(p) >= 7 and (p[0] == user or p[2] == user):
            ent = p
            break
    if ent is None and not user.isdigit():
        die(f"USER {spec}: no user {user} in the image's /etc/passwd")
    uid = int(ent[2]) if ent else int(user)
    gid = int(ent[3]) if ent else uid
    home = ent[5] if ent else "/"
    name = ent[0] if ent else None
    if group:
        g = next((g for g in groups_db if len(g) >= 3 and (g[0] == group or g[2] == group)), None)
        if g is None and not group.isdigit():
            die(f"USER {spec}: no group {group} in the image's /etc/group")
        gid = int(g[2]) if g else int(group)
    extra = [gid]
    if name and not group:
        extra += [int(g[2]) for g in groups_db
                  if len(g) >= 4 and name in g[3].split(",") and int(g[2]) != gid]
    return uid, gid, extra, home


def enter(root, user, workdir):
    uid, gid, groups, home = resolve_user(root, user)

    def pre():
        os.chroot(root)
        os.chdir(workdir or "/")
        os.setgroups(groups)
        os.setgid(gid)
        os.setuid(uid)
    return pre, home


def run_in(root, argv, env, user, workdir):
    pre, home = enter(root, user, workdir)
    env = dict(env)
    env.setdefault("HOME", home)
    env.setdefault("PATH", DEFAULT_PATH)
    return subprocess.run(argv, env=env, preexec_fn=pre).returncode


# -------------------------------------------------------------------------- build

class Stage:
    def __init__(self, spec, global_args, build_args):
        self.spec = spec
        self.name = spec["name"]
        self.env = {"PATH": DEFAULT_PATH}
        self.args = {}
        self.global_args = global_args
        self.build_args = build_args
        self.user = "root"
        self.workdir = "/"
        self.config = {"expose": [], "healthcheck": None, "entrypoint": None, "cmd": None,
                       "stopsignal": None, "labels": {}}
        self.root = None
        self.cmd_set = False
        self.layers = []     # lower dirs, top first

    def vars(self):
        v = dict(self.args)
        v.update(self.env)
        return v

    def apply_config(self, kw, args):
        """Instructions that only change the image config (or the state RUN sees)."""
        if kw == "ARG":
            for k, v in parse_kv(args, self.vars(), False):
                if k in self.build_args:
                    v = self.build_args[k]
                elif v is None:
                    v = self.global_args.get(k)
                if v is not None:
                    self.args[k] = v
        elif kw == "ENV":
            for k, v in parse_kv(args, self.vars(), True):
                self.env[k] = v or ""
        elif kw == "LABEL":
            for k, v in parse_kv(args, self.vars(), True):
                self.config["labels"][k] = v or ""
        elif kw == "USER":
            self.user = subst(args, self.vars())
        elif kw == "EXPOSE":
            self.config["expose"] += subst(args, self.vars()).split()
        elif kw == "STOPSIGNAL":
            self.config["stopsignal"] = subst(args, self.vars())
        elif kw in ("ENTRYPOINT", "CMD"):
            key = kw.lower()
            self.config[key] = command(args)
            if kw == "CMD":
                self.cmd_set = True
            elif not self.cmd_set:
                self.config["cmd"] = None   # as Docker: ENTRYPOINT resets an inherited CMD
        elif kw == "HEALTHCHECK":
            opts, rest = {}, args
            while rest.startswith("--"):
                opt, _, rest = rest.partition(" ")
                k, _, v = opt[2:].partition("=")
                opts[k] = v
                rest = rest.strip()
            if rest.upper() == "NONE":
                self.config["healthcheck"] = None
            else:
                if not rest.upper().startswith("CMD "):
                    die(f"HEALTHCHECK {args}: expected CMD or NONE")
                body = rest[4:].strip()
                cmd = json_form(body) or ["/bin/sh", "-c", body]
                self.config["healthcheck"] = {"options": opts, "test": cmd}

    def workdir_of(self, args):
        w = subst(args, self.vars())
        return w if w.startswith("/") else os.path.join(self.workdir, w)

    def run(self, args):
        env = dict(self.args)
        env.update(self.env)
        argv = command(args)
        t = time.time()
        rc = run_in(self.root, argv, env, self.user, self.workdir)
        if rc != 0:
            die(f"stage {self.name}: RUN {args[:200]} exited {rc}")
        log(f"stage {self.name}: RUN {args[:70]}{'...' if len(args) > 70 else ''} "
            f"({time.time() - t:.1f} s)")

    def mkdir_workdir(self):
        d = os.path.join(self.root, self.workdir.lstrip("/"))
        os.makedirs(d, exist_ok=True)


def copy_into(src_paths, dst, root, chown, chmod, filt=None):
    """COPY semantics: a directory's contents go into dst; a file into dst/ or onto dst."""
    uid, gid = chown
    dst_in = os.path.join(root, dst.lstrip("/"))
    many = len(src_paths) > 1 or dst.endswith("/")

    def fix(p, is_dir):
        os.lchown(p, uid, gid)
        if chmod is not None and not os.path.islink(p):
            os.chmod(p, chmod)

    def mkparents(d):
        parts = os.path.relpath(d, root).split(os.sep)
        cur = root
        for part in parts:
            cur = os.path.join(cur, part)
            if not os.path.isdir(cur):
                os.mkdir(cur, 0o755)
                os.lchown(cur, uid, gid)

    for src, rel in src_paths:
        if os.path.isdir(src) and not os.path.islink(src):
            mkparents(dst_in)
            for dirpath, dirnames, filenames in os.walk(src):
                r = os.path.relpath(dirpath, src)
                keep = []
                for d in sorted(dirnames):
                    rr = os.path.normpath(os.path.join(rel, r, d))
                    if filt and filt(rr):
                        continue
                    keep.append(d)
                    target = os.path.normpath(os.path.join(dst_in, r, d))
                    if not os.path.isdir(target):
                        os.mkdir(target)
                    shutil.copystat(os.path.join(dirpath, d), target)
                    fix(target, True)
                dirnames[:] = keep
                for fn in sorted(filenames):
                    rr = os.path.normpath(os.path.join(rel, r, fn))
                    if filt and filt(rr):
                        continue
                    target = os.path.normpath(os.path.join(dst_in, r, fn))
                    shutil.copy2(os.path.join(dirpath, fn), target, follow_symlinks=False)
                    fix(target, False)
        else:
            target = os.path.join(dst_in, os.path.basename(src)) if many else dst_in
            mkparents(os.path.dirname(target))
            shutil.copy2(src, target, follow_symlinks=False)
            fix(target, False)


def do_copy(stage, args, stages_done, context, rules):
    opts = {}
    words = shlex.split(args) if json_form(args) is None else None
    if words is None:
        words = json_form(args)
    while words and words[0].startswith("--"):
        k, _, v = words.pop(0)[2:].partition("=")
        opts[k] = subst(v, stage.vars())
    unknown = set(opts) - {"from", "chown", "chmod"}
    if unknown:
        die(f"COPY --{sorted(unknown)[0]} is not supported by tests/container/image.py")
    words = [subst(w, stage.vars()) for w in words]
    if len(words) < 2:
        die(f"COPY {args}: needs a source and a destination")
    srcs, dst = words[:-1], words[-1]
    if not dst.startswith("/"):
        dst = os.path.join(stage.workdir, dst) + ("/" if dst.endswith("/") else "")
    chown = (0, 0)
    if "chown" in opts:
        uid, gid, _, _ = resolve_user(stage.root, opts["chown"])
        chown = (uid, gid)
    chmod = int(opts["chmod"], 8) if "chmod" in opts else None
    paths, filt = [], None
    if "from" in opts:
        src_stage = stages_done.get(opts["from"].lower())
        if src_stage is None:
            die(f"COPY --from={opts['from']}: no earlier stage of that name")
        for s in srcs:
            p = os.path.join(src_stage.root, s.lstrip("/"))
            if not os.path.lexists(p):
                die(f"COPY --from={opts['from']} {s}: not in stage {src_stage.name}")
            paths.append((p, s))
    else:
        for s in srcs:
            rel = os.path.normpath(s).lstrip("/")
            if rel.startswith(".."):
                die(f"COPY {s}: outside the build context")
            p = os.path.join(context, rel)
            if not os.path.lexists(p) or (rel != "." and ignored(rules, rel)):
                die(f"COPY {s}: not in the build context (or excluded by .dockerignore)")
            paths.append((p, rel))
        filt = lambda rr: ignored(rules, rr)   # noqa: E731
    copy_into(paths, dst, stage.root, chown, chmod, filt)
    log(f"stage {stage.name}: COPY {args}")


def build(a):
    df = parse(a.dockerfile)
    build_args = dict(kv.split("=", 1) for kv in a.build_arg)
    global_args = {}
    for g in df["global_args"]:
        for k, v in parse_kv(g, global_args, False):
            global_args[k] = build_args.get(k, v)
    target = find_stage(df, a.target) if a.target else df["stages"][-1]
    context = os.path.realpath(a.context)
    rules = load_ignore(context)
    layers_dir = os.path.join(a.cache, "layers")
    os.makedirs(layers_dir, exist_ok=True)
    lock = open(os.path.join(a.cache, "layers.lock"), "w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    for old in os.listdir(layers_dir):        # left by runs that failed or were killed
        if old.startswith(".tmp-") and not mounts_under(os.path.join(layers_dir, old)):
            shutil.rmtree(os.path.join(layers_dir, old), ignore_errors=True)
    base = os.path.realpath(a.base)
    base_id = open(base + ".id").read().strip() if os.path.exists(base + ".id") else base
    done, report = {}, []
    for spec in df["stages"]:
        st = Stage(spec, global_args, build_args)
        frm = subst(spec["from"], global_args)
        if not re.match(r"^debian:[a-z]+-slim$", frm):
            die(f"FROM {frm}: only debian:SUITE-slim is supported (the debootstrapped base "
                "root filesystem stands for it)")
        lowers = [base]
        key_base = base_id + frm
        ins = spec["instructions"]
        first_copy = next((i for i, x in enumerate(ins) if x["kw"] == "COPY"), len(ins))
        prefix, rest = ins[:first_copy], ins[first_copy:]
        h = hashlib.sha256()
        h.update(key_base.encode())
        h.update(json.dumps([[x["kw"], x["args"]] for x in prefix]).encode())
        h.update(json.dumps(sorted(build_args.items())).encode())
        key = f"{spec['name']}-{h.hexdigest()[:16]}"
        layer = os.path.join(layers_dir, key)
        cached = os.path.isdir(layer)
        t0 = time.time()
        if not cached:
            log(f"stage {spec['name']}: building layer {key} (cached for the next runs)")
            tmp = os.path.join(layers_dir, ".tmp-" + key)
            st.root = os.path.join(tmp, "merged")
            mount_overlay(lowers, os.path.join(tmp, "upper"), os.path.join(tmp, "work"),
                          st.root)
            mount_system(st.root, a.work)
        for x in prefix:
            if x["kw"] in CONFIG_ONLY:
                st.apply_config(x["kw"], x["args"])
            elif x["kw"] == "WORKDIR":
                st.workdir = st.workdir_of(x["args"])
                if not cached:
                    st.mkdir_workdir()
            elif x["kw"] == "RUN" and not cached:
                st.run(x["args"])
        if not cached:
            umount_all(st.root)
            # keep only the newest layer per stage name
            for old in os.listdir(layers_dir):
                if old.startswith(spec["name"] + "-") and old != key:
                    shutil.rmtree(os.path.join(layers_dir, old), ignore_errors=True)
            os.rename(os.path.join(tmp, "upper"), layer)
            shutil.rmtree(tmp, ignore_errors=True)
        report.append({"stage": spec["name"], "layer": key, "cached": cached,
                       "seconds": round(time.time() - t0, 1)})
        st.layers = [layer] + lowers
        sdir = os.path.join(a.work, spec["name"])
        st.upper = os.path.join(sdir, "upper")
        st.root = os.path.join(sdir, "rootfs")
        mount_overlay(st.layers, st.upper, os.path.join(sdir, "work"), st.root)
        mount_system(st.root, a.work)
        for x in rest:
            if x["kw"] in CONFIG_ONLY:
                st.apply_config(x["kw"], x["args"])
            elif x["kw"] == "WORKDIR":
                st.workdir = st.workdir_of(x["args"])
                st.mkdir_workdir()
            elif x["kw"] == "RUN":
                st.run(x["args"])
            elif x["kw"] == "COPY":
                do_copy(st, x["args"], done, context, rules)
        done[spec["name"].lower()] = st
        if spec is target:
            break
    st = done[target["name"].lower()]
    # the container: read-only root (as readOnlyRootFilesystem), a tmpfs /tmp
    sh("mount", "-o", "remount,ro", st.root)
    sh("mount", "-t", "tmpfs", "-o", "mode=1777,nosuid,nodev", "hubfn-tmp",
       os.path.join(st.root, "tmp"))
    image = {"root": st.root, "stage": st.name, "env": st.env, "user": st.user,
             "workdir": st.workdir, "layers": report,
             "packages": stage_packages(target), **st.config}
    with open(os.path.join(a.work, "image.json"), "w") as f:
        json.dump(image, f, indent=1)


def do_exec(a):
    with open(a.image) as f:
        img = json.load(f)
    env = dict(img["env"])
    for kv in a.e:
        k, _, v = kv.partition("=")
        env[k] = v
    if a.healthcheck:
        if not img.get("healthcheck"):
            die("the image has no HEALTHCHECK")
        argv = img["healthcheck"]["test"]
    elif a.raw:
        argv = a.args
    else:
        argv = (img.get("entrypoint") or []) + (a.args or img.get("cmd") or [])
    if not argv:
        die("nothing to run")
    pre, home = enter(img["root"], img["user"], img["workdir"])
    env.setdefault("HOME", home)
    env.setdefault("HOSTNAME", "hubfn-test")
    pre()
    try:
        os.execvpe(argv[0], argv, env)
    except OSError as e:
        print(f"image.py exec: {argv[0]}: {e.strerror}", file=sys.stderr)
        sys.exit(127)


def main():
    import argparse
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser("parse")
    q.add_argument("dockerfile")
    q = sub.add_parser("packages")
    q.add_argument("dockerfile")
    q.add_argument("stage")
    q = sub.add_parser("base-suite")
    q.add_argument("dockerfile")
    q = sub.add_parser("build")
    q.add_argument("--dockerfile", required=True)
    q.add_argument("--context", required=True)
    q.add_argument("--base", required=True)
    q.add_argument("--cache", required=True)
    q.add_argument("--work", required=True)
    q.add_argument("--target")
    q.add_argument("--build-arg", action="append", default=[])
    if sys.argv[1:2] == ["exec"]:      # by hand: ARGS may look like options
        a = argparse.Namespace(cmd="exec", e=[], raw=False, healthcheck=False)
        rest = sys.argv[2:]
        if not rest:
            die("exec: IMAGE_JSON missing")
        a.image = rest.pop(0)
        while rest and rest[0] != "--":
            opt = rest.pop(0)
            if opt == "-e" and rest:
                a.e.append(rest.pop(0))
            elif opt in ("--raw", "--healthcheck"):
                setattr(a, opt[2:], True)
            else:
                rest.insert(0, opt)
                break
        if rest and rest[0] == "--":
            rest.pop(0)
        a.args = rest
        return do_exec(a)
    a = p.parse_args()
    if a.cmd == "parse":
        print(json.dumps(parse(a.dockerfile), indent=1))
    elif a.cmd == "packages":
        print(" ".join(stage_packages(find_stage(parse(a.dockerfile), a.stage))))
    elif a.cmd == "base-suite":
        frm = parse(a.dockerfile)["stages"][0]["from"]
        m = re.match(r"^debian:([a-z]+)-slim$", frm)
        if not m:
            die(f"FROM {frm}: expected debian:SUITE-slim")
        print(m.group(1))
    elif a.cmd == "build":
        build(a)


if __name__ == "__main__":
    main()
