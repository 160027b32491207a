#!/usr/bin/env python3
"""The folders of csrc/ are layers: each includes only folders below it.

The order is csrc/CMakeLists.txt's add_subdirectory() list, bottom first. Prints the folder graph
(each folder and the folders it includes) and exits 1 naming every include that points up or
sideways to a later folder, and any cycle among the folders. Run it from anywhere:
    python3 scripts/check_layers.py
"""
import os
import re
import sys

CSRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "csrc")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z0-9_]+)/', re.M)
SUBDIR = re.compile(r"^add_subdirectory\((\w+)\)", re.M)
SOURCES = (".h", ".cpp", ".cu", ".cuh")


def layer_order():
    with open(os.path.join(CSRC, "CMakeLists.txt")) as f:
        return SUBDIR.findall(f.read())


def folder_edges():
    """{folder: {included folder: [file:line, ...]}} for folders of csrc/; top-level files
    (the executables' mains) are the folder "."."""
    edges = {}
    for root, _, files in os.walk(CSRC):
        rel = os.path.relpath(root, CSRC)
        folder = rel.split(os.sep)[0]
        for name in sorted(files):
            if not name.endswith(SOURCES):
                continue
            path = os.path.join(root, name)
            with open(path) as f:
                text = f.read()
            for m in INCLUDE.finditer(text):
                target = m.group(1)
                if target == folder or not os.path.isdir(os.path.join(CSRC, target)):
                    continue
                line = text.count("\n", 0, m.start()) + 1
                where = f"csrc/{os.path.relpath(path, CSRC)}:{line}"
                edges.setdefault(folder, {}).setdefault(target, []).append(where)
    return edges


def find_cycle(edges):
    """One cycle of folders as a list, or None."""
    state = {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(edges.get(node, {})):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt, path + [nxt])
                if found:
                    return found
        state[node] = "done"
        return None

    for node in sorted(edges):
        if node not in state:
            found = visit(node, [node])
            if found:
                return found
    return None


def main():
    order = layer_order()
    rank = {name: i for i, name in enumerate(order)}
    edges = folder_edges()
    problems = []
    for folder in order + ["."]:
        targets = sorted(edges.get(folder, {}), key=lambda t: rank.get(t, -1))
        print(f"{folder:12} -> {' '.join(targets) if targets else '(nothing)'}")
    for folder, targets in sorted(edges.items()):
        if folder == ".":
            continue  # the executables' mains sit above every folder
        if folder not in rank:
            problems.append(f"csrc/{folder}/ is not in csrc/CMakeLists.txt's add_subdirectory list")
            continue
        for target, wheres in sorted(targets.items()):
            if target not in rank:
                problems.append(f"csrc/{target}/ is not in csrc/CMakeLists.txt's add_subdirectory list")
            elif rank[target] > rank[folder]:
                problems.append(f"{folder} includes {target}, a layer above it: {', '.join(wheres)}")
    cycle = find_cycle({f: t for f, t in edges.items() if f != "."})
    if cycle:
        problems.append("the folders include each other in a cycle: " + " -> ".join(cycle))
    for p in problems:
        print("check_layers: " + p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
