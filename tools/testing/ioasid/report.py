#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turn the logs of one test run into per-suite results and the closing summary line.

    report.py --host CARGO_LOG CARGO_STATUS [--tap LABEL LOG ...] --vm LABEL DIR [...]
              [--kselftests NAME,...] [--kunit SUITE,...] [--allowed-skips FILE]
              [--vfio-vm LABEL DIR ... --vfio-selftests NAME,...]

Counts every host test (cargo), every case of host-side TAP logs (the build checks of
notest.sh), every KUnit case (from the kernel console) and every kselftest case (TAP on
the VM's second serial port). A TAP log whose plan is missing or not met fails too. Besides failed cases, each of these
counts as one failure of its VM: the VM did not reach the end of its job (timeout, panic),
a kselftest's TAP plan not matched by its results or a non-zero exit without a failed
case, an expected kselftest binary or KUnit suite that did not run, no kmemleak scan, and
any kernel report anywhere in the console: WARN, BUG, Oops, KASAN, lockdep, UBSAN, soft
lockup, RCU stall, hung task, panic, or a kmemleak leak report. A skipped case fails the
run unless the allow-list names it (`<label>: <case>  # reason` per line); allowed skips
are listed by name.

Prints `N passed, N failed, N skipped` last; exits 1 if anything failed.
"""
import argparse
import re
import sys

TIMESTAMP = re.compile(r"^\[\s*\d+\.\d+\]\s?")
TAP_RESULT = re.compile(r"^(not ok|ok) (\d+) ([^#]*?)\s*(#\s*(SKIP|skip)\b.*)?$")
KUNIT_CASE = re.compile(r"^ {4}(not ok|ok) (\d+) (\S+)(.*)$")
KUNIT_PLAN = re.compile(r"^ {4}1\.\.(\d+)$")
KUNIT_SUITE = re.compile(r"^ {4}# Subtest: (\S+)")
CARGO_RESULT = re.compile(r"test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored")
# Kernel reports that fail a run wherever they appear on a console line (after a prefix
# such as "watchdog: " or "rcu: ").
KERNEL_REPORTS = re.compile(
    r"(\b(WARNING|BUG|INFO): |Kernel panic|\bOops\b|general protection fault|"
    r"kernel BUG at|\bUBSAN: |BUG: KASAN|possible circular locking|"
    r"inconsistent lock state|suspicious RCU usage|soft lockup|hard LOCKUP|"
    r"rcu_\w+ (self-)?detected stalls?|blocked for more than \d+ seconds|"
    r"kmemleak: \d+ new suspected memory leaks|refcount_t: )"
)


class Tally:
    def __init__(self, allowed_skips=None):
        self.passed = self.failed = self.skipped = 0
        self.failures = []
        self.skips = []
        # Case name -> why it may be skipped.
        self.allowed_skips = allowed_skips or {}

    def add(self, status, name):
        if status == "pass":
            self.passed += 1
        elif status == "skip" and name in self.allowed_skips:
            self.skipped += 1
            self.skips.append(f"{name} ({self.allowed_skips[name]})")
        elif status == "skip":
            self.failed += 1
            self.failures.append(f"{name}: skipped, and not on the allow-list")
        else:
            self.failed += 1
            self.failures.append(name)


def host_tests(tally, log_path, status):
    try:
        text = open(log_path, errors="replace").read()
    except OSError:
        text = ""
    seen = failed = 0
    for m in CARGO_RESULT.finditer(text):
        seen += 1
        passed, failed_here, ignored = map(int, m.groups())
        tally.passed += passed
        for _ in range(ignored):
            tally.add("skip", "host: an ignored cargo test")
        tally.failed += failed_here
        failed += failed_here
    for m in re.finditer(r"^test (\S+) \.\.\. FAILED", text, re.M):
        tally.failures.append(f"host: {m.group(1)}")
    if status != 0 and failed == 0:
        tally.add("fail", f"host: cargo test exited {status} ({log_path})")
    elif seen == 0:
        tally.add("fail", f"host: no cargo test results ({log_path})")


def tap_log(tally, label, path):
    lines = lines_of(path)
    plan = [l for l in lines if re.match(r"^1\.\.\d+$", l)]
    seen = 0
    for line in lines:
        m = TAP_RESULT.match(line)
        if m:
            seen += 1
            status = "pass" if m.group(1) == "ok" else "fail"
            if m.group(5):
                status = "skip"
            tally.add(status, f"{label}: {m.group(3)}")
    if not plan or int(plan[0][3:]) != seen:
        tally.add("fail", f"{label}: TAP plan not met ({seen} results; {path})")


def lines_of(path):
    try:
        with open(path, errors="replace") as f:
            return [TIMESTAMP.sub("", l.rstrip("\r\n")) for l in f]
    except OSError:
        return []


def kunit(tally, label, console, expected=()):
    seen = set()
    suites = 0
    plan = None
    count = 0
    suite = None

    def close_suite():
        if suite is not None and plan is not None and plan != count:
            tally.add("fail", f"{label}: KUnit suite {suite} planned {plan} cases, ran {count}")

    for line in console:
        m = KUNIT_SUITE.match(line)
        if m:
            close_suite()
            suite, plan, count = m.group(1), None, 0
            suites += 1
            seen.add(suite)
            continue
        m = KUNIT_PLAN.match(line)
        if m and suite is not None:
            plan = int(m.group(1))
            continue
        m = KUNIT_CASE.match(line)
        if m and suite is not None:
            count += 1
            status = "pass" if m.group(1) == "ok" else "fail"
            if "# SKIP" in m.group(4):
                status = "skip"
            tally.add(status, f"{label}: KUnit {suite}.{m.group(3)}")
    close_suite()
    if suites == 0:
        tally.add("fail", f"{label}: no KUnit results in the kernel log")
    for name in expected:
        if name not in seen:
            tally.add("fail", f"{label}: KUnit suite {name} did not run")


def kselftests(tally, label, tests, expected=()):
    finished = set()
    current = None
    plan = None
    results = 0
    failed_here = 0
    for line in tests:
        m = re.match(r"^IOASID-KSELFTEST-BEGIN (\S+)", line)
        if m:
            current, plan, results, failed_here = m.group(1), None, 0, 0
            continue
        m = re.match(r"^IOASID-KSELFTEST-END (\S+) (\d+)", line)
        if m and current:
            code = int(m.group(2))
            if plan is None or plan != results:
                tally.add("fail", f"{label}: {current} planned {plan} tests, reported {results}")
            elif code != 0 and failed_here == 0:
                tally.add("fail", f"{label}: {current} exited {code} without a failed case")
            finished.add(current)
            current = None
            continue
        if current is None:
            continue
        m = re.match(r"^1\.\.(\d+)", line)
        if m:
            plan = int(m.group(1))
            continue
        m = TAP_RESULT.match(line)
        if m:
            results += 1
            status = "pass" if m.group(1) == "ok" else "fail"
            if m.group(4):
                status = "skip"
            failed_here += status == "fail"
            tally.add(status, f"{label}: {current}: {m.group(3)}")
    if current is not None:
        tally.add("fail", f"{label}: {current} never finished")
    for name in expected:
        if name not in finished:
            tally.add("fail", f"{label}: kselftest {name} did not run")


def vm(tally, label, directory, job, kselftest_names=(), kunit_suites=()):
    console = lines_of(f"{directory}/console.log")
    tests = lines_of(f"{directory}/tests.log")
    if job == "check":
        kunit(tally, label, console, kunit_suites)
        kselftests(tally, label, tests, kselftest_names)
        if not any(l.startswith("IOASID-KMEMLEAK-END") for l in tests):
            tally.add("fail", f"{label}: no kmemleak scan (kmemleak missing or the VM stopped)")
    elif job == "vfio":
        kselftests(tally, label, tests, kselftest_names)
    for line in console:
        if KERNEL_REPORTS.search(line):
            tally.add("fail", f"{label}: kernel report: {line.strip()}")
    in_leaks = False
    for line in tests:
        if line.startswith("IOASID-KMEMLEAK-BEGIN"):
            in_leaks = True
        elif line.startswith("IOASID-KMEMLEAK-END"):
            in_leaks = False
        elif in_leaks and line.startswith("unreferenced object"):
            tally.add("fail", f"{label}: kmemleak: {line.strip()}")
    try:
        qemu = open(f"{directory}/qemu-status").read().strip()
    except OSError:
        qemu = "missing"
    if qemu == "124" or qemu == "137":
        tally.add("fail", f"{label}: the VM timed out and was killed")
    elif qemu != "0":
        tally.add("fail", f"{label}: qemu exited with status {qemu}")
    if not any(l.startswith("IOASID-JOB-END") for l in tests):
        tally.add("fail", f"{label}: the VM did not finish its job (timeout, panic or crash)")
    exit_code = [l for l in tests if l.startswith("IOASID-EXIT ")]
    if exit_code and exit_code[-1].split()[1] != "0":
        tally.add("fail", f"{label}: job exited with {exit_code[-1]}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--job", default="check")
    p.add_argument("--host", nargs=2, metavar=("LOG", "STATUS"))
    p.add_argument("--tap", nargs=2, action="append", default=[], metavar=("LABEL", "LOG"))
    p.add_argument("--vm", nargs=2, action="append", default=[], metavar=("LABEL", "DIR"))
    p.add_argument("--kselftests", default="", help="comma-separated binaries every VM runs")
    p.add_argument("--kunit", default="", help="comma-separated KUnit suites every VM runs")
    p.add_argument("--vfio-vm", nargs=2, action="append", default=[], metavar=("LABEL", "DIR"),
                   help="a VM that ran the upstream VFIO selftests (no KUnit, no kmemleak)")
    p.add_argument("--vfio-selftests", default="", help="comma-separated binaries of those")
    p.add_argument("--allowed-skips", help="file of `<label>: <case>  # reason` lines")
    args = p.parse_args()

    allowed = {}
    if args.allowed_skips:
        for line in open(args.allowed_skips):
            line = line.strip()
            if line and not line.startswith("#"):
                name, _, reason = line.partition("#")
                allowed[name.strip()] = reason.strip() or "no reason given"
    tally = Tally(allowed)
    names = [n for n in args.kselftests.split(",") if n]
    suites = [n for n in args.kunit.split(",") if n]
    if args.host:
        host_tests(tally, args.host[0], int(args.host[1]))
    for label, path in args.tap:
        tap_log(tally, label, path)
    for label, directory in args.vm:
        vm(tally, label, directory, args.job, names, suites)
    vfio_names = [n for n in args.vfio_selftests.split(",") if n]
    for label, directory in args.vfio_vm:
        vm(tally, label, directory, "vfio", vfio_names)

    for name in tally.skips:
        print(f"SKIPPED: {name}")
    for name in tally.failures:
        print(f"FAILED: {name}")
    summary = f"{tally.passed} passed, {tally.failed} failed"
    if tally.skipped:
        summary += f", {tally.skipped} skipped"
    print(summary)
    return 1 if tally.failed else 0


if __name__ == "__main__":
    sys.exit(main())
