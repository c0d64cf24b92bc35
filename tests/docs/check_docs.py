#!/usr/bin/env python3
"""Checks that the docs are in step with the code (standard library only).

(a) Every rule number cited in a comment of a .c/.h/.py/.sh file, or
    anywhere in a .md file, of the repository (build/ and hidden folders
    left out) is defined in docs/behaviour.md. A rule is defined there by
    an anchor followed by its bold label: <a id="S39"></a>**S39.** ...
    The families are S, H, P and B (Appendix B); a B code inside a
    "noqa:" comment is a linter code, not a rule.
(b) Every function declared in include/cgreenlet.h has a section
    "### `cg_name()`" in docs/c-api.md and every such section names a
    function of the header; every type, enum value and macro of the header
    is mentioned in docs/c-api.md, and every CG_/cg_ name there exists in
    the header.

Lines that cite the behaviour rules as "SPEC ..." / "SPEC.md" or point at
"../shared" are listed as notes, not failures: the repository's own
reference is docs/behaviour.md.

usage: check_docs.py [--root DIR] [-q]   (exit status 1 if a check fails)
Also run by tests/python/test_docs.py.
"""

import argparse
import io
import os
import re
import sys
import tokenize

SOURCE_EXTS = (".c", ".h", ".py", ".sh", ".md")
SKIP_DIRS = {"build", "__pycache__"}
BEHAVIOUR = os.path.join("docs", "behaviour.md")
C_API = os.path.join("docs", "c-api.md")
HEADER = os.path.join("include", "cgreenlet.h")

RULE_REF = re.compile(r"\b([SHPB])(\d+)\b")
RULE_DEF = re.compile(r'<a id="([SHPB]\d+)"></a>\*\*([SHPB]\d+)\.\*\*')
ANCHOR = re.compile(r'<a id="([SHPB]\d+)"></a>')
NOQA = re.compile(r"noqa\s*:[\w\s,]*$")
SPEC_WORDING = re.compile(r"\bSPEC\b|SPEC\.md|\.\./shared")


def default_root():
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def source_files(root):
    """Relative paths of the files whose comments are checked, sorted."""
    found = []
    for top, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs
                   if d not in SKIP_DIRS and not d.startswith(".") and not d.endswith(".egg-info")]
        for name in files:
            if name.endswith(SOURCE_EXTS):
                found.append(os.path.relpath(os.path.join(top, name), root))
    return sorted(found)


def read(root, rel):
    with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
        return f.read()


# ---- comments: the text with everything else blanked (line numbers kept) --

def _blank(text):
    return re.sub(r"[^\n]", " ", text)


def c_comments(text):
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(text[i:j])
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(text[i:j])
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(_blank(text[i:j]))
            i = j
        else:
            out.append(c if c == "\n" else " ")
            i += 1
    return "".join(out)


def py_comments(text):
    """Comments and string literals (docstrings cite rules too)."""
    lines = text.splitlines(keepends=True)
    out = [list(_blank(line)) for line in lines]
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type not in (tokenize.COMMENT, tokenize.STRING):
                continue
            (srow, scol), (erow, ecol) = tok.start, tok.end
            for row in range(srow, erow + 1):
                line = lines[row - 1]
                a = scol if row == srow else 0
                b = ecol if row == erow else len(line)
                out[row - 1][a:b] = line[a:b]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return text
    return "".join("".join(chars) for chars in out)


def sh_comments(text):
    out = []
    for line in text.splitlines(keepends=True):
        quote, cut = None, None
        for k, c in enumerate(line):
            if quote:
                if c == quote:
                    quote = None
            elif c in "\"'":
                quote = c
            elif c == "#" and (k == 0 or line[k - 1] in " \t;"):
                cut = k
                break
        out.append(_blank(line) if cut is None else _blank(line[:cut]) + line[cut:])
    return "".join(out)


def comment_text(rel, text):
    if rel.endswith(".md"):
        return text
    if rel.endswith((".c", ".h")):
        return c_comments(text)
    if rel.endswith(".py"):
        return py_comments(text)
    return sh_comments(text)


# ---- (a) rule references -------------------------------------------------

def defined_rules(text):
    """(set of rules defined, list of problems of the definitions)."""
    problems, seen = [], set()
    for m in RULE_DEF.finditer(text):
        if m.group(1) != m.group(2):
            problems.append("behaviour.md: anchor %s labelled %s" % (m.group(1), m.group(2)))
        if m.group(1) in seen:
            problems.append("behaviour.md: %s defined twice" % m.group(1))
        seen.add(m.group(1))
    for m in ANCHOR.finditer(text):
        if m.group(1) not in seen:
            problems.append("behaviour.md: anchor %s without its **%s.** label"
                            % (m.group(1), m.group(1)))
    return seen, problems


def rule_references(root):
    """[(rel, line, rule)] for every rule cited in the repository."""
    refs = []
    for rel in source_files(root):
        lines = comment_text(rel, read(root, rel)).split("\n")
        for lineno, line in enumerate(lines, 1):
            for m in RULE_REF.finditer(line):
                if m.group(1) == "B" and NOQA.search(line[:m.start()]):
                    continue
                refs.append((rel, lineno, m.group(1) + m.group(2)))
    return refs


def check_rules(root):
    path = os.path.join(root, BEHAVIOUR)
    if not os.path.exists(path):
        return set(), ["%s is missing" % BEHAVIOUR]
    rules, problems = defined_rules(read(root, BEHAVIOUR))
    for rel, lineno, rule in rule_references(root):
        if rule not in rules:
            problems.append("%s:%d: %s is not defined in %s" % (rel, lineno, rule, BEHAVIOUR))
    return rules, problems


def spec_wordings(root):
    """[(rel, line, text)] of lines citing SPEC / SPEC.md / ../shared."""
    notes = []
    for rel in source_files(root):
        if rel.startswith(os.path.join("tests", "docs", "")):
            continue  # this checker names the wordings it looks for
        for lineno, line in enumerate(read(root, rel).split("\n"), 1):
            if SPEC_WORDING.search(line):
                notes.append((rel, lineno, line.strip()))
    return notes


# ---- (b) the C API reference ---------------------------------------------

def header_names(text):
    """(functions, other names: types, enum values, macros) of the header."""
    code = re.sub(r"/\*.*?\*/|//[^\n]*", " ", text, flags=re.S)
    code = re.sub(r"#\s*define\s+CGREENLET_H\b", " ", code)
    functions = set(re.findall(r"\b(cg_\w+)\s*\((?!\s*\*)", code))  # not "cg_msg (*fn)("
    others = set(re.findall(r"\(\s*\*\s*(cg_\w+)\s*\)", code))         # function types
    others |= set(re.findall(r"\btypedef\s+(?:enum|struct)\s+(cg_\w+)", code))
    others |= set(re.findall(r"}\s*(cg_\w+)\s*;", code))
    for body in re.findall(r"\benum\s+\w*\s*{(.*?)}", code, flags=re.S):
        others |= set(re.findall(r"\b(CG_\w+)\s*(?:=[^,]*)?(?:,|$)", body.strip()))
    others |= set(re.findall(r"#\s*define\s+(CG\w+)", code))
    return functions, others - functions


def documented_functions(text):
    return set(re.findall(r"^#{2,4} `(cg_\w+)\(\)`", text, flags=re.M))


def check_c_api(root):
    for rel in (HEADER, C_API):
        if not os.path.exists(os.path.join(root, rel)):
            return ["%s is missing" % rel]
    functions, others = header_names(read(root, HEADER))
    doc = read(root, C_API)
    documented = documented_functions(doc)
    problems = []
    for name in sorted(functions - documented):
        problems.append("%s: %s() has no section \"### `%s()`\" in %s" % (HEADER, name, name, C_API))
    for name in sorted(documented - functions):
        problems.append("%s: documents %s(), which %s does not declare" % (C_API, name, HEADER))
    mentioned = set(re.findall(r"\b(?:cg|CG)_\w+|\bCGREENLET_VERSION\b", doc))
    for name in sorted(others - mentioned):
        problems.append("%s: %s is not mentioned in %s" % (HEADER, name, C_API))
    for name in sorted(mentioned - functions - others):
        problems.append("%s: mentions %s, which %s does not declare" % (C_API, name, HEADER))
    return problems


# ---- running ---------------------------------------------------------------

def run(root, out=sys.stdout, quiet=False):
    """Runs every check, prints a report, returns the list of failures."""
    rules, failures = check_rules(root)
    failures += check_c_api(root)
    refs = rule_references(root)
    notes = spec_wordings(root)
    if not quiet:
        for family in "SHPB":
            n = sum(1 for r in rules if r[0] == family)
            print("%s rules defined: %d" % (family, n), file=out)
        print("rule references checked: %d in %d files"
              % (len(refs), len({r[0] for r in refs})), file=out)
        for rel, lineno, line in notes:
            print("note: %s:%d: cites SPEC: %s" % (rel, lineno, line), file=out)
        print("%d lines cite SPEC / SPEC.md / ../shared (to be reworded to docs/behaviour.md)"
              % len(notes), file=out)
    for problem in failures:
        print("FAIL: " + problem, file=out)
    if not quiet:
        print("docs check: %s" % ("%d failures" % len(failures) if failures else "ok"), file=out)
    return failures


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=default_root(), help="the repository (default: this one)")
    ap.add_argument("-q", "--quiet", action="store_true", help="print failures only")
    args = ap.parse_args(argv)
    return 1 if run(args.root, quiet=args.quiet) else 0


if __name__ == "__main__":
    sys.exit(main())
