#!/usr/bin/env python3
"""No function in csrc/ runs over 80 lines unless a comment says why.

Finds every function body in csrc/ (.h, .cpp, .cu, .cuh) by brace matching on the source with
comments and literals blanked, and exits 1 naming each one longer than LIMIT lines (signature to
closing brace) that has no `// Long: <reason>` comment in the few lines above its signature.
Lambdas count toward the function that holds them. Run it from anywhere:
    python3 scripts/check_functions.py [--all]     # --all: list every function over the limit
"""
import os
import re
import sys

CSRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "csrc")
SOURCES = (".h", ".cpp", ".cu", ".cuh")
LIMIT = 80
REASON = re.compile(r"//\s*Long:\s*\S")
SCOPE = re.compile(r"\b(namespace|class|struct|union|enum)\b")
# A comment, a string or character literal (raw strings are not used in csrc/).
TOKEN = re.compile(r'//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'', re.S)


def blank(text):
    """The text with comments and literals replaced by spaces, newlines kept."""
    return TOKEN.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)


def functions(text):
    """(name line, first line, last line) of every function body at namespace or class scope;
    lines count from 1."""
    code = blank(text)
    stack = []  # the kind of each open brace: "scope", "function" or "block"
    head_start = 0  # where the text before the next brace begins
    found = []
    for i, ch in enumerate(code):
        if ch in ";":
            head_start = i + 1
        elif ch == "{":
            head = code[head_start:i]
            in_scope = all(kind == "scope" for kind, _ in stack)
            if SCOPE.search(head) and "(" not in head.split("{")[-1].split("=")[0]:
                kind = "scope"
            elif in_scope and ")" in head:
                kind = "function"
            else:
                kind = "block"
            first = head_start + len(head) - len(head.lstrip())
            stack.append((kind, first))
            head_start = i + 1
        elif ch == "}":
            if stack:
                kind, first = stack.pop()
                if kind == "function":
                    found.append((code.count("\n", 0, first) + 1, code.count("\n", 0, i) + 1))
            head_start = i + 1
    return found


def main():
    show_all = "--all" in sys.argv[1:]
    bad = []
    for root, _, files in os.walk(CSRC):
        for name in sorted(files):
            if not name.endswith(SOURCES):
                continue
            path = os.path.join(root, name)
            with open(path) as f:
                text = f.read()
            lines = text.split("\n")
            for first, last in functions(text):
                length = last - first + 1
                if length <= LIMIT:
                    continue
                above = lines[max(0, first - 6) : first]
                excused = any(REASON.search(line) for line in above)
                if show_all or not excused:
                    rel = os.path.relpath(path, os.path.dirname(CSRC))
                    note = " (has a reason)" if excused else ""
                    bad.append((rel, first, length, lines[first - 1].strip(), note))
                    if excused:
                        continue
    unexcused = [b for b in bad if not b[4]]
    for rel, first, length, sig, note in sorted(bad):
        print(f"{rel}:{first}: {length} lines{note}: {sig[:70]}")
    if unexcused:
        print(f"{len(unexcused)} function(s) over {LIMIT} lines without a `// Long: <reason>` "
              "comment above them: split them into named steps, or say why they are one piece")
        return 1
    print(f"check_functions: no function in csrc/ over {LIMIT} lines without a reason")
    return 0


if __name__ == "__main__":
    sys.exit(main())
