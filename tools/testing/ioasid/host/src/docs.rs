// SPDX-License-Identifier: GPL-2.0

//! The documentation keeps up with the uAPI: every ioctl and struct of the header has a
//! place in Documentation/userspace-api/ioasid.rst, and both documents are valid
//! reStructuredText (as the kernel's Sphinx build needs).

use std::path::PathBuf;
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../..")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Names defined in the header as `#define NAME _IO(` (the ioctls) and `struct NAME {`.
fn header_names() -> (Vec<String>, Vec<String>) {
    let header = read("include/uapi/linux/ioasid.h");
    let mut ioctls = Vec::new();
    let mut structs = Vec::new();
    for line in header.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.len() >= 3 && words[0] == "#define" && words[2].starts_with("_IO(") {
            ioctls.push(words[1].to_string());
        }
        if words.len() == 3 && words[0] == "struct" && words[2] == "{" {
            structs.push(words[1].to_string());
        }
    }
    (ioctls, structs)
}

#[test]
fn every_ioctl_has_a_section() {
    let doc = read("Documentation/userspace-api/ioasid.rst");
    let (ioctls, _) = header_names();
    assert!(ioctls.len() >= 10, "found only {ioctls:?}");
    for name in ioctls {
        let underline = "-".repeat(name.len());
        assert!(
            doc.contains(&format!("\n{name}\n{underline}\n")),
            "{name} has no section in Documentation/userspace-api/ioasid.rst"
        );
    }
}

#[test]
fn every_struct_is_documented() {
    let doc = read("Documentation/userspace-api/ioasid.rst");
    let (_, structs) = header_names();
    assert!(structs.len() >= 10, "found only {structs:?}");
    for name in structs {
        assert!(
            doc.contains(&format!("``struct {name}``")),
            "struct {name} is not described in Documentation/userspace-api/ioasid.rst"
        );
    }
}

#[test]
fn documents_are_valid_restructuredtext() {
    for doc in ["Documentation/userspace-api/ioasid.rst", "Documentation/driver-api/ioasid.rst"] {
        let script = "import sys, docutils.core\n\
                      docutils.core.publish_doctree(open(sys.argv[1]).read(),\n\
                      settings_overrides={'report_level': 2, 'halt_level': 2})";
        let out = Command::new("/usr/bin/python3")
            .args(["-c", script])
            .arg(repo().join(doc))
            .output()
            .expect("/usr/bin/python3 (Debian python3 with python3-docutils, installed by setup.sh)");
        assert!(
            out.status.success(),
            "{doc} is not valid reStructuredText:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
