"""Tiny check runner shared by the polyglot CI scripts.

Every check prints exactly one line, `ok <name>` or `FAIL <name>: <reason>`; run.sh counts those
lines. A check whose prerequisite failed is reported as FAIL (never silently skipped), so a broken
early step cannot make the totals look better.
"""

import sys
import time
import traceback


class CheckError(AssertionError):
    """A check's expectation did not hold."""


def expect(condition, message):
    if not condition:
        raise CheckError(message)


def one_line(text, limit=400):
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self._failed_names = set()

    def run(self, name, fn, needs=()):
        """Run fn(); ok if it returns, FAIL if it raises. Returns fn's result (None on failure)."""
        missing = [need for need in needs if need in self._failed_names]
        if missing:
            self._fail(name, "not run: prerequisite failed: " + ", ".join(missing))
            return None
        try:
            result = fn()
        except CheckError as err:
            self._fail(name, one_line(err))
            return None
        except Exception as err:  # noqa: BLE001 - any crash is a failed check, not a dead script
            where = traceback.extract_tb(err.__traceback__)[-1]
            self._fail(
                name,
                one_line(f"{type(err).__name__}: {err} (at {where.filename.rsplit('/', 1)[-1]}:{where.lineno})"),
            )
            return None
        self.passed += 1
        print(f"ok {name}", flush=True)
        return result

    def _fail(self, name, reason):
        self.failed += 1
        self._failed_names.add(name)
        print(f"FAIL {name}: {reason}", flush=True)

    def exit_code(self):
        return 1 if self.failed else 0


def poll(fn, done, timeout_s, interval_s=0.1, what="condition"):
    """Call fn() until done(result) holds; bounded by timeout_s. Returns the last result."""
    deadline = time.monotonic() + timeout_s
    last = None
    while True:
        last = fn()
        if done(last):
            return last
        if time.monotonic() >= deadline:
            raise CheckError(f"timed out after {timeout_s:.0f}s waiting for {what}; last: {one_line(last, 200)}")
        time.sleep(interval_s)


def main_guard(main):
    """Run main(); exit 1 on failures or on a crash outside any check."""
    try:
        sys.exit(main())
    except SystemExit:
        raise
    except BaseException as err:  # noqa: BLE001
        print(f"FAIL script-crashed: {one_line(repr(err))}", flush=True)
        sys.exit(1)
