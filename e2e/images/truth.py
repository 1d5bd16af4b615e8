"""Ground truth of a root file system, read with the distributions' own formats:
dpkg status (installed entries), Python dist-info METADATA, node_modules package.json.
Prints JSON: {"deb": [[name, version, arch]...], "pypi": [[name, version]...], "npm": [...]}."""
import email.parser
import json
import os
import sys

root = sys.argv[1]


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


print(json.dumps({"deb": dpkg(), "pypi": pypi(), "npm": npm()}, indent=1, sort_keys=True))
