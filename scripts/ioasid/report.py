#!/usr/bin/env python3
"""Turn the logs of one test run into per-suite results and the closing summary line.

    report.py --host CARGO_LOG CARGO_STATUS [--tap LABEL LOG ...] --vm LABEL DIR [...]

Counts every host test (cargo), every case of host-side TAP logs (the build checks of
notest.sh), every KUnit case (from the kernel console) and every kselftest case (TAP on
the VM's second serial port). A TAP log whose plan is missing or not met fails too. Besides failed cases, each of these
counts as one failure of its VM: the VM did not reach the end of its job (timeout, panic),
a kselftest's TAP plan not matched by its results or a non-zero exit without a failed
case, no KUnit results at all, and any kernel report in the console: WARN, BUG, Oops,
KASAN, lockdep, UBSAN, hung task, panic, or a kmemleak leak report.

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
# Kernel reports that fail a run wherever they appear in the console.
KERNEL_REPORTS = re.compile(
    r"(^(WARNING|BUG|INFO): |Kernel panic|^Oops|general protection fault|"
    r"kernel BUG at|^UBSAN:|BUG: KASAN|possible circular locking|"
    r"inconsistent lock state|suspicious RCU usage|"
    r"kmemleak: \d+ new suspected memory leaks|refcount_t: )"
)


class Tally:
    def __init__(self):
        self.passed = self.failed = self.skipped = 0
        self.failures = []

    def add(self, status, name):
        if status == "pass":
            self.passed += 1
        elif status == "skip":
            self.skipped += 1
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
        tally.skipped += ignored
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


def kunit(tally, label, console):
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


def kselftests(tally, label, tests):
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


def vm(tally, label, directory, job):
    console = lines_of(f"{directory}/console.log")
    tests = lines_of(f"{directory}/tests.log")
    if job == "check":
        kunit(tally, label, console)
        kselftests(tally, label, tests)
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
    args = p.parse_args()

    tally = Tally()
    if args.host:
        host_tests(tally, args.host[0], int(args.host[1]))
    for label, path in args.tap:
        tap_log(tally, label, path)
    for label, directory in args.vm:
        vm(tally, label, directory, args.job)

    for name in tally.failures:
        print(f"FAILED: {name}")
    summary = f"{tally.passed} passed, {tally.failed} failed"
    if tally.skipped:
        summary += f", {tally.skipped} skipped"
    print(summary)
    return 1 if tally.failed else 0


if __name__ == "__main__":
    sys.exit(main())
