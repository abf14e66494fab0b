#!/usr/bin/python3
"""Prints one closing line for a meson test run: every cmocka test case and
every pytest item counted, e.g. 'tests: 212 passed, 0 failed, 3 skipped'.

    scripts/test-summary.py build/meson-logs/testlog.json
"""
import json
import re
import sys

passed = failed = skipped = 0
for line in open(sys.argv[1], encoding="utf-8"):
    rec = json.loads(line)
    out = (rec.get("stdout") or "") + (rec.get("stderr") or "")
    cm_pass = re.findall(r"^\[  PASSED  \] (\d+) test", out, re.M)
    cm_fail = re.findall(r"^\[  FAILED  \] (\d+) test", out, re.M)
    cm_skip = re.findall(r"^\[  SKIPPED \] (\d+) test", out, re.M)
    py = re.search(r"^=*\s*(.*\d+ (?:passed|failed).*?)\s*(?:=*)\s*$", out, re.M)
    if cm_pass or cm_fail:
        passed += sum(map(int, cm_pass))
        failed += sum(map(int, cm_fail))
        skipped += sum(map(int, cm_skip))
    elif py:
        for n, what in re.findall(r"(\d+) (passed|failed|error|errors|skipped|xfailed|xpassed)", py.group(1)):
            if what == "passed" or what == "xfailed":
                passed += int(n)
            elif what == "skipped":
                skipped += int(n)
            else:
                failed += int(n)
    elif rec.get("result") == "OK":
        passed += 1
    elif rec.get("result") == "SKIP":
        skipped += 1
    else:
        failed += 1
print(f"tests: {passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
sys.exit(1 if failed else 0)
