# Example Stella Rego policy: image hygiene. Deny images that are not pinned by digest or
# that come from outside the allowed registries; warn when an image carries many
# high-severity findings. (See kev-and-fixable.rego for the shape of `input`.)
#
# The settings are plain rules below: copy the module and edit them.
package stella

import rego.v1

# Images must start with one of these prefixes (registry host, optionally a path). Note
# that short Docker Hub names like `nginx:1.25` have no registry prefix and are denied:
# write `docker.io/library/nginx:1.25` and allow `docker.io/library/` if you mean it.
allowed_image_prefixes := {
	"registry.example/",
	"ghcr.io/example-org/",
}

# More high-severity findings than this gives a warning.
max_high_findings := 5

# Rules about the image apply only when there is one (`input.image` is null for
# directory scans).
has_image if input.image != null

# `digest` is null when the image was not pulled by digest.
pinned if {
	is_string(input.image.digest)
	startswith(input.image.digest, "sha256:")
}

allowed_registry if {
	some prefix in allowed_image_prefixes
	startswith(input.image.ref, prefix)
}

deny contains msg if {
	has_image
	not pinned
	msg := sprintf("image %s is not pinned by digest", [input.image.ref])
}

deny contains msg if {
	has_image
	not allowed_registry
	msg := sprintf("image %s is not from an allowed registry (%s)", [
		input.image.ref,
		concat(", ", sort([p | some p in allowed_image_prefixes])),
	])
}

high_findings := [f.id | some f in input.findings; f.severity == "high"]

warn contains msg if {
	count(high_findings) > max_high_findings
	msg := sprintf("%d high-severity findings (more than %d)", [count(high_findings), max_high_findings])
}
