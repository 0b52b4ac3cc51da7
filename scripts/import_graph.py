"""Print the zfnet package's internal import graph: import levels and cycles.

Usage: python scripts/import_graph.py [--edges]

Reads the sources with ``ast`` (nothing is imported).  A module's level is 0 when it
imports no other zfnet module, else one more than the highest level it imports.
Imports inside functions count too (they are still dependencies); cycles are listed
as strongly connected components of more than one module.
"""
import ast
import os
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "zfnet")


def modules():
    """Map dotted module name -> file path for every .py file under zfnet/."""
    out = {}
    for folder, _, files in os.walk(ROOT):
        for f in files:
            if f.endswith(".py"):
                rel = os.path.relpath(os.path.join(folder, f), os.path.dirname(ROOT))
                name = rel[:-3].replace(os.sep, ".")
                if name.endswith(".__init__"):
                    name = name[: -len(".__init__")]
                out[name] = os.path.join(folder, f)
    return out


def imports_of(name, path, known):
    """zfnet modules imported by one module (absolute and relative imports)."""
    tree = ast.parse(open(path).read(), path)
    is_pkg = path.endswith("__init__.py")
    base = name.split(".") if is_pkg else name.split(".")[:-1]
    found = set()
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parent = base[: len(base) - (node.level - 1)]
                mod = ".".join(parent + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            targets = [mod] + [mod + "." + a.name for a in node.names]
        for t in targets:
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != name and t.startswith("zfnet"):
                found.add(t)
    return found


def main(argv):
    known = modules()
    graph = {m: imports_of(m, p, known) for m, p in known.items()}
    # Tarjan's strongly connected components
    index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            sccs.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    comp_of = {m: i for i, c in enumerate(sccs) for m in c}
    level = {}

    def lvl(i):
        if i not in level:
            level[i] = -1  # guard
            deps = {comp_of[w] for m in sccs[i] for w in graph[m]} - {i}
            level[i] = 1 + max((lvl(j) for j in deps), default=-1)
        return level[i]

    by_level = {}
    for i, c in enumerate(sccs):
        by_level.setdefault(lvl(i), []).extend(c)
    print("modules: %d, import levels: %d" % (len(known), max(by_level) + 1))
    for k in sorted(by_level):
        print("  level %2d: %s" % (k, ", ".join(sorted(by_level[k]))))
    cycles = [c for c in sccs if len(c) > 1]
    print("cycles: %d" % len(cycles))
    for c in cycles:
        print("  " + " <-> ".join(c))
    if "--edges" in argv:
        for m in sorted(graph):
            print("%s -> %s" % (m, ", ".join(sorted(graph[m]))))
    return 1 if cycles else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
