#!/usr/bin/python3
"""Print one "Class.test_name" line per test case of a unittest file, so that meson can register
each case as its own test (tests/integration/meson.build runs this at configure time).

    unittest_inspector.py tests/integration/test_foo.py

Only TestCase classes defined in that file are listed (base classes imported from elsewhere, such
as labtest.LabTestCase, are not). Exits non-zero when the file cannot be imported.
"""

import importlib.util
import inspect
import os
import sys
import unittest

sys.dont_write_bytecode = True


def cases(path):
    path = os.path.abspath(path)
    here = os.path.dirname(path)
    fixtures = os.path.join(os.path.dirname(here), "fixtures")
    for d in (fixtures, here):
        if d not in sys.path:
            sys.path.insert(0, d)
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    loader = unittest.TestLoader()
    out = []
    for cls_name, cls in inspect.getmembers(module, inspect.isclass):
        if not issubclass(cls, unittest.TestCase) or cls.__module__ != name:
            continue
        for test in loader.getTestCaseNames(cls):
            out.append("%s.%s" % (cls_name, test))
    return out


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: unittest_inspector.py TEST_FILE\n")
        return 2
    for case in cases(argv[1]):
        print(case)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
