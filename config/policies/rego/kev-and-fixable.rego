# Example Stella Rego policy: block fixable criticals in production, flag known-exploited
# vulnerabilities everywhere.
#
# How Stella reads a Rego module:
# - The policy names a package (here `stella`); Stella reads its `deny` and `warn` rules.
#   Each is a set (or array) of messages: strings, or objects with a string `msg`
#   (conftest style). Any `deny` message fails the scan; `warn` messages are reported.
#   A rule that is never defined counts as empty.
# - `input` is the scan context:
#     input.now        evaluation time, RFC 3339
#     input.policy     {name, version} of the scan policy
#     input.image      {ref, digest} or null (e.g. a directory scan)
#     input.namespace  {name, labels} or null (outside Kubernetes)
#     input.labels     labels of the workload
#     input.sbom       {format, components, ecosystems: {deb: 100, ...}}
#     input.findings   findings left after mutes: {id, aliases, purl, package, version,
#                      ecosystem, severity, cvss, fixedVersions, fixAvailable, published,
#                      kev, action, rule}
# - Evaluation has a time budget (100 ms by default): keep rules linear in the findings.
package stella

import rego.v1

# Deny: a critical finding with a fix, in a namespace labelled env=prod. Outside
# Kubernetes `input.namespace` is null, so the first line is undefined and nothing is
# denied.
deny contains msg if {
	input.namespace.labels.env == "prod"
	some f in input.findings
	f.severity == "critical"
	f.fixAvailable
	msg := sprintf("%s: %s %s is critical and fixed in %s (namespace %s is env=prod)", [
		f.id, f.package, f.version,
		concat(", ", f.fixedVersions), input.namespace.name,
	])
}

# Warn: anything in CISA's Known Exploited Vulnerabilities catalogue, in any namespace.
warn contains msg if {
	some f in input.findings
	f.kev
	msg := sprintf("%s: %s %s is known to be exploited (CISA KEV)", [f.id, f.package, f.version])
}
