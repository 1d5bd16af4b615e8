"""Compare two CycloneDX SBOMs by normalised purl (type, namespace, name, version with
any epoch folded in; qualifiers dropped) and print one table per image source."""
import json
import sys
from collections import Counter
from urllib.parse import unquote

source, ours_path, theirs_path, ours_time, theirs_time, warm_time = sys.argv[1:7]


def norm(purl):
    body, _, query = purl.partition("?")
    body = body.split("#")[0]
    quals = dict(q.split("=", 1) for q in query.split("&") if "=" in q)
    path, _, version = body.partition("@")
    ty, _, rest = path[len("pkg:"):].partition("/")
    version = unquote(version)
    if "epoch" in quals and ":" not in version:
        version = f"{quals['epoch']}:{version}"
    name = unquote(rest).lower()
    if ty == "pypi":
        name = name.replace("_", "-").replace(".", "-")
    return ty, name, version


def load(path):
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    out = set()
    for c in doc.get("components", []):
        if c.get("purl"):
            out.add(norm(c["purl"]))
    return out


ours, theirs = load(ours_path), load(theirs_path)
(ot, om), (tt, tm) = [map(float, t.split()) for t in (ours_time, theirs_time)]
print(f"\n## {source}")
print(f"| | stella | syft |\n|---|---|---|")
print(f"| packages | {len(ours)} | {len(theirs)} |")
for ty in sorted({p[0] for p in ours | theirs}):
    print(f"| {ty} | {sum(p[0] == ty for p in ours)} | {sum(p[0] == ty for p in theirs)} |")
print(f"| wall time | {ot:.2f} s | {tt:.2f} s |")
print(f"| peak RSS | {om / 1024:.0f} MiB | {tm / 1024:.0f} MiB |")
print(f"| time ratio (syft / stella) | {tt / max(ot, 0.001):.1f}x | |")
wt, wm = map(float, warm_time.split())
print(f"| stella again, warm layer cache | {wt:.2f} s, {wm / 1024:.0f} MiB | |")
only_ours, only_theirs = sorted(ours - theirs), sorted(theirs - ours)
print(f"\nonly stella ({len(only_ours)}): {only_ours[:40]}")
print(f"only syft ({len(only_theirs)}): {only_theirs[:40]}")
print("only-syft by type:", dict(Counter(p[0] for p in only_theirs)))
