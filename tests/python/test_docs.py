"""The docs are in step with the code: every rule number cited in the
repository is defined in docs/behaviour.md, and docs/c-api.md documents
exactly the functions of include/cgreenlet.h (tests/docs/check_docs.py).
The checker is also shown to fail on a copy of the tree broken on purpose."""

import io
import os
import shutil
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "docs"))
import check_docs  # noqa: E402

# Rule numbers no doc defines, built so that this file cites none itself.
UNDEFINED_RULE = "S" + "9999"
UNDEFINED_HARD = "H" + "999"


class CurrentTreeTest(unittest.TestCase):

    def test_rule_references_resolve(self):
        rules, problems = check_docs.check_rules(ROOT)
        self.assertEqual(problems, [])
        for family, first in (("S", 144), ("H", 24), ("P", 17), ("B", 5)):
            for n in range(1, first + 1):
                self.assertIn("%s%d" % (family, n), rules)

    def test_c_api_in_step_with_header(self):
        self.assertEqual(check_docs.check_c_api(ROOT), [])

    def test_run_reports_ok(self):
        out = io.StringIO()
        self.assertEqual(check_docs.run(ROOT, out=out), [])
        self.assertIn("docs check: ok", out.getvalue())


class BrokenTreeTest(unittest.TestCase):
    """A small copy of the tree, broken one way per test."""

    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="check_docs_")
        self.addCleanup(shutil.rmtree, self.root)
        for rel in (check_docs.BEHAVIOUR, check_docs.C_API, check_docs.HEADER):
            os.makedirs(os.path.dirname(os.path.join(self.root, rel)), exist_ok=True)
            shutil.copy(os.path.join(ROOT, rel), os.path.join(self.root, rel))
        self.assertEqual(self.failures(), [])

    def failures(self):
        return check_docs.run(self.root, out=io.StringIO())

    def write(self, rel, text):
        path = os.path.join(self.root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)

    def edit(self, rel, old, new):
        with open(os.path.join(self.root, rel)) as f:
            text = f.read()
        self.assertIn(old, text)
        self.write(rel, text.replace(old, new, 1))

    def assertFailsWith(self, fragment):
        failures = self.failures()
        self.assertTrue(any(fragment in f for f in failures), failures)

    def test_dangling_reference_in_c_comment(self):
        self.write("src/x.c", "/* see %s */\nint x;\n" % UNDEFINED_RULE)
        self.assertFailsWith("src/x.c:1: %s is not defined" % UNDEFINED_RULE)

    def test_dangling_reference_in_python_comment_and_docstring(self):
        self.write("tests/python/t.py",
                   '"""Checks %s."""\nx = 1  # %s\n' % (UNDEFINED_HARD, UNDEFINED_RULE))
        self.assertFailsWith("tests/python/t.py:1: %s" % UNDEFINED_HARD)
        self.assertFailsWith("tests/python/t.py:2: %s" % UNDEFINED_RULE)

    def test_dangling_reference_in_shell_comment_and_markdown(self):
        self.write("tools/t.sh", "echo hi  # %s\n" % UNDEFINED_RULE)
        self.write("docs/x.md", "As %s says.\n" % UNDEFINED_HARD)
        self.assertFailsWith("tools/t.sh:1: %s" % UNDEFINED_RULE)
        self.assertFailsWith("docs/x.md:1: %s" % UNDEFINED_HARD)

    def test_code_and_build_are_not_comments(self):
        self.write("src/x.c", 'int %s = 1; const char *s = "%s";\n'
                   % (UNDEFINED_RULE, UNDEFINED_HARD))
        self.write("build/x.md", "%s\n" % UNDEFINED_RULE)
        self.write("src/y.py", "x = 1  # noqa: B902\n")
        self.assertEqual(self.failures(), [])

    def test_rule_removed_from_behaviour(self):
        self.write("src/x.c", "/* S39 */\n")
        self.assertEqual(self.failures(), [])
        self.edit(check_docs.BEHAVIOUR, '<a id="S39"></a>**S39.**', "**S39.**")
        self.assertFailsWith("src/x.c:1: S39 is not defined")

    def test_rule_defined_twice(self):
        self.edit(check_docs.BEHAVIOUR, '<a id="S40"></a>**S40.**', '<a id="S39"></a>**S39.**')
        self.assertFailsWith("S39 defined twice")

    def test_header_function_undocumented(self):
        self.edit(check_docs.HEADER, "void cg_trim(void);",
                  "void cg_trim(void);\nint cg_new_thing(int x);")
        self.assertFailsWith("cg_new_thing() has no section")

    def test_documented_function_not_in_header(self):
        self.edit(check_docs.HEADER, "void cg_trim(void);", "")
        self.assertFailsWith("documents cg_trim(), which")

    def test_enum_value_undocumented(self):
        self.edit(check_docs.HEADER, "CG_EALIVE ", "CG_EALIVE,\n    CG_ENEW ")
        self.assertFailsWith("CG_ENEW is not mentioned")

    def test_spec_wordings_are_notes_not_failures(self):
        self.write("src/x.c", "/* see SPEC S39 and ../shared/SPEC.md */\n")
        self.assertEqual(self.failures(), [])
        self.assertEqual(check_docs.spec_wordings(self.root),
                         [("src/x.c", 1, "/* see SPEC S39 and ../shared/SPEC.md */")])


if __name__ == "__main__":
    unittest.main()
