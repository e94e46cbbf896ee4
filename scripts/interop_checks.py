"""What the interop scripts share: check(name, cond, detail) prints a FAIL
line for each failed check; finish() prints the totals and exits non-zero if
anything failed; fresh_cache() is a Hugging Face `datasets` cache folder of
this run only (removed at exit) — the default cache keys a local folder by
its name and config, so a later run would read an earlier run's rows."""
import atexit
import shutil
import sys
import tempfile

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


def fresh_cache():
    d = tempfile.mkdtemp(prefix="tacit-hf-cache-")
    atexit.register(shutil.rmtree, d, True)
    return d
