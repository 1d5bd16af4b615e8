//! Node.js security WG connector (in progress).
