"""Write a CycloneDX 1.6 SBOM of N components drawn from an advisory DB's packages
(about half hit advisories, half are unknown names), deterministic for a given DB."""
import json
import random
import sqlite3
import sys

db, n = sys.argv[1], int(sys.argv[2])
rows = sqlite3.connect(db).execute(
    "SELECT DISTINCT ecosystem, name FROM affected ORDER BY ecosystem, name").fetchall()
rng = random.Random(42)


def purl(eco, name, version):
    parts = eco.split("/")
    if parts[0] == "deb":
        return f"pkg:deb/{parts[1]}/{name}@{version}?arch=amd64&distro={parts[1]}-{parts[2]}"
    if parts[0] == "apk":
        return f"pkg:apk/alpine/{name}@{version}?arch=x86_64&distro=alpine-{parts[2]}.0"
    if parts[0] == "maven" and ":" in name:
        g, a = name.split(":", 1)
        return f"pkg:maven/{g}/{a}@{version}"
    if parts[0] == "golang":
        return f"pkg:golang/{name}@v{version}"
    if parts[0] == "npm" and name.startswith("@"):
        return f"pkg:npm/%40{name[1:]}@{version}"
    return f"pkg:{parts[0]}/{name}@{version}"


def version(eco):
    if eco.startswith("deb/"):
        return f"{rng.randint(0, 3)}.{rng.randint(0, 20)}-{rng.randint(1, 5)}"
    if eco.startswith("apk/"):
        return f"{rng.randint(0, 3)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}-r{rng.randint(0, 3)}"
    return f"{rng.randint(0, 3)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}"


components = []
for i in range(n):
    if rows and i % 2 == 0:
        eco, name = rng.choice(rows)
    else:
        eco, name = rng.choice(["pypi", "npm", "cargo", "golang"]), f"unknown-package-{i}"
        if eco == "golang":
            name = f"example.com/unknown/pkg{i}"
    p = purl(eco, name, version(eco))
    components.append({"type": "library", "bom-ref": f"c{i}", "name": name.split("/")[-1],
                       "version": p.split("@")[-1].split("?")[0], "purl": p})
print(json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
                  "metadata": {"component": {"type": "container", "name": "bench/sbom", "bom-ref": "root"}},
                  "components": components}, indent=1))
