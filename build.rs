//! Build script: only the `python` feature needs it. The binary then records the directory
//! of the libpython it was linked against (an rpath), so that it loads that library and not
//! another Python's library that happens to share its name on the loader path.

fn main() {
    #[cfg(feature = "python")]
    pyo3_build_config::add_libpython_rpath_link_args();
}
