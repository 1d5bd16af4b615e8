"""Ground truth of a root file system, read with the distributions' own formats:
dpkg status (installed entries), Python dist-info METADATA, node_modules package.json,
and the Cargo.lock (second argument) of the Rust binary built into it.
Prints JSON: {"deb": [[name, version, arch]...], "pypi": [[name, version]...], "npm": [...],
"cargo": [[name, version, binary path]...]}."""
import email.parser
import json
import os
import sys
import tomllib

root = sys.argv[1]
rust_lock = sys.argv[2] if len(sys.argv) > 2 else None


def dpkg():
    out = []
    with open(os.path.join(root, "var/lib/dpkg/status"), encoding="utf-8") as f:
        for stanza in f.read().split("\n\n"):
            fields = {}
            for line in stanza.splitlines():
                if line and not line[0].isspace() and ":" in line:
                    k, v = line.split(":", 1)
                    fields[k] = v.strip()
            if fields.get("Status") == "install ok installed":
                out.append([fields["Package"], fields["Version"], fields.get("Architecture", "")])
    return sorted(out)


def pypi():
    out = []
    for dirpath, dirnames, _ in os.walk(root):
        for d in dirnames:
            if d.endswith(".dist-info"):
                meta = os.path.join(dirpath, d, "METADATA")
                if os.path.isfile(meta):
                    with open(meta, encoding="utf-8", errors="replace") as f:
                        m = email.parser.Parser().parse(f, headersonly=True)
                    out.append([m["Name"], m["Version"], os.path.relpath(meta, root)])
    return sorted(out)


def npm():
    """Installed packages: node_modules/<name> and node_modules/@scope/<name>, at any depth."""
    out = []
    for dirpath, _, files in os.walk(os.path.join(root, "app", "node_modules")):
        parent = os.path.dirname(dirpath)
        installed = os.path.basename(parent) == "node_modules" or (
            os.path.basename(parent).startswith("@")
            and os.path.basename(os.path.dirname(parent)) == "node_modules")
        if installed and "package.json" in files:
            with open(os.path.join(dirpath, "package.json"), encoding="utf-8") as f:
                p = json.load(f)
            if "name" in p and "version" in p:
                out.append([p["name"], p["version"], os.path.relpath(dirpath, root)])
    return sorted(out)


def cargo():
    """Registry crates of the lock file the binary was built from with --locked (the
    lock's own members have no source and are not dependencies)."""
    if rust_lock is None:
        return []
    binary = "usr/local/bin/stella-rust-app"
    if not os.path.isfile(os.path.join(root, binary)):
        return []
    with open(rust_lock, "rb") as f:
        lock = tomllib.load(f)
    return sorted([p["name"], p["version"], binary] for p in lock.get("package", [])
                  if p.get("source", "").startswith("registry+"))


print(json.dumps({"deb": dpkg(), "pypi": pypi(), "npm": npm(), "cargo": cargo()},
                 indent=1, sort_keys=True))
