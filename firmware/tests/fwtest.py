# A tiny test runner so a pytest-style test file also runs under ``micropython file.py``:
# it calls every ``test_*`` function and prints one line per test and a summary.
import sys


def run(namespace):
    names = sorted(k for k in namespace if k.startswith("test_") and callable(namespace[k]))
    failed = 0
    for name in names:
        try:
            namespace[name]()
            print("PASS", name)
        except Exception as e:  # report and go on
            failed += 1
            print("FAIL", name, repr(e))
            if hasattr(sys, "print_exception"):
                sys.print_exception(e)
    print("%d passed, %d failed" % (len(names) - failed, failed))
    sys.exit(1 if failed else 0)
