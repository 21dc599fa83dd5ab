//! Command-line options and configuration files.
