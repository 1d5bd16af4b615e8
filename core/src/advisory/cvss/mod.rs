//! CVSS base scores computed from vectors (v3.0, v3.1, v4.0).
