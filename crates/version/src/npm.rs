//! node-semver versions and ranges.
