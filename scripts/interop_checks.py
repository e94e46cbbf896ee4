"""The pass/fail tally the interop scripts share: check(name, cond, detail)
prints a FAIL line for each failed check; finish() prints the totals and
exits non-zero if anything failed."""
import sys

passed = failed = 0


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print(f"FAIL {name} {detail}")


def finish():
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
