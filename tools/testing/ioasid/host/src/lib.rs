// SPDX-License-Identifier: GPL-2.0

//! Host unit tests for ioasid's kernel-independent logic.
//!
//! The modules below are the driver's own source files, compiled here for the host: they
//! use only `core`, so what is tested is exactly what the kernel runs.

#[allow(dead_code)] // Used by the tests below only.
#[path = "../../../../../rust/ioasid/uapi/argsz.rs"]
mod argsz;

#[cfg(test)]
mod argsz_tests;
#[cfg(test)]
mod uapi_header;

#[allow(dead_code)] // Used by the tests below only.
#[path = "../../../../../rust/ioasid/ioas/iova.rs"]
mod iova;

#[cfg(test)]
mod iova_tests;
#[cfg(test)]
mod docs;
