"""Run every ```python block of the README in order, in one namespace, from the repository root.

Usage (after ``make demo``, whose run the second block reads):
    .venv/bin/python scripts/readme_python.py [README.md]

Prints each block's time; exits 1 at the first block that raises, with its traceback.
"""
import os
import re
import sys
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def blocks(text):
    """The ```python blocks of a Markdown text, in order."""
    return re.findall(r"^```python\n(.*?)^```", text, re.M | re.S)


def main(argv):
    path = argv[0] if argv else os.path.join(ROOT, "README.md")
    os.chdir(ROOT)
    sys.path.insert(0, ROOT)
    namespace = {"__name__": "__readme__"}
    found = blocks(open(path).read())
    for i, code in enumerate(found, 1):
        t0 = time.time()
        try:
            exec(compile(code, "%s python block %d" % (os.path.basename(path), i), "exec"), namespace)
        except Exception:
            traceback.print_exc()
            print("block %d of %d failed" % (i, len(found)))
            return 1
        print("block %d of %d ran in %.1f s" % (i, len(found), time.time() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
