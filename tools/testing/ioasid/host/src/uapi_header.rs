// SPDX-License-Identifier: GPL-2.0

//! The uAPI header is usable by userspace as it is: it compiles alone as C and C++, and
//! the constants that the Rust side relies on have the values the documentation gives.

use std::path::PathBuf;
use std::process::Command;

fn uapi_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../../include/uapi")
}

fn compile(lang: &str, compiler: &str, source: &str) -> std::process::Output {
    let dir = std::env::temp_dir().join(format!("ioasid-host-{}-{lang}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join(if lang == "c" { "t.c" } else { "t.cc" });
    std::fs::write(&src, source).unwrap();
    let out = Command::new(compiler)
        .args(["-Wall", "-Wextra", "-Werror", "-pedantic", "-I"])
        .arg(uapi_dir())
        .arg(&src)
        .arg("-o")
        .arg(dir.join("t"))
        .output()
        .expect("a host C compiler");
    out
}

const PROGRAM: &str = r#"
#include <linux/ioasid.h>
#include <stddef.h>
#include <stdio.h>
int main(void)
{
    printf("%zu %zu %zu %zu %zu %d %d %u %u\n",
           sizeof(struct ioasid_check_extension),
           offsetof(struct ioasid_check_extension, argsz),
           offsetof(struct ioasid_check_extension, flags),
           offsetof(struct ioasid_check_extension, extension),
           offsetof(struct ioasid_check_extension, supported),
           IOASID_TYPE, IOASID_API_VERSION,
           (unsigned)IOASID_GET_API_VERSION, (unsigned)IOASID_CHECK_EXTENSION);
    return 0;
}
"#;

fn run(lang: &str, compiler: &str) -> String {
    let out = compile(lang, compiler, PROGRAM);
    assert!(
        out.status.success(),
        "{compiler} failed on linux/ioasid.h:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = std::env::temp_dir().join(format!("ioasid-host-{}-{lang}", std::process::id()));
    let run = Command::new(dir.join("t")).output().unwrap();
    String::from_utf8(run.stdout).unwrap()
}

#[test]
fn header_compiles_as_c_and_agrees_with_the_documented_abi() {
    // _IO(0xBB, 0) = 0xBB00 and _IO(0xBB, 1) = 0xBB01 on every architecture.
    assert_eq!(run("c", "cc").trim(), "16 0 4 8 12 187 1 47872 47873");
}

#[test]
fn header_compiles_as_cpp() {
    assert_eq!(run("cpp", "c++").trim(), "16 0 4 8 12 187 1 47872 47873");
}
