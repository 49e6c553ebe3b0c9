#!/usr/bin/env python3
"""The engine's import rules, checked from its sources (Python 3 stdlib only).

Modules are the basenames of engine/**/*.c and *.h (job.c and job.h are the
module "job"). Module a depends on module b when a.c or a.h has a line
`#include "b.h"` (any directory part ignored) and b is an engine module.
The rules:

  cycle       the module graph has no cycle: every elementary cycle is
              listed, rotated to start at its smallest module name;
  own-header  every engine .c except main.c includes its own header first
              (its first #include line is "<name>.h");
  lines       no engine .c is over 800 lines;
  source      a fetch source (copy, plane, tarstream) includes no
              module of the job core, its stages, the store or the server
              (direct includes: sources report plain ckd_outcome values).

Violations that exist today are listed, exactly, in an allowlist file
(tests/include_cycles.allow): one per line, as this script prints them, e.g.

  cycle: follow -> resolve -> follow
  own-header: rpc.c
  lines: xfer.c
  source: plane -> job

The check fails on any violation that is not listed (a new cycle fails CI)
and on any listed entry that no longer occurs (the list only shrinks).

Usage: check_includes.py ENGINE_DIR [ALLOWLIST]    (also --print-graph)
"""

import os
import re
import sys

MAX_LINES = 800
SOURCES = {"copy", "plane", "tarstream"}
# What a source must not include: the job core and its stages, the daemon's
# shared context, the store, the server and the RPC layer.
NOT_FOR_SOURCES = {
    "checksums", "control", "daemon", "engine", "follow", "job", "job_view", "manifest",
    "outcome", "prepare", "publish", "resolve", "restore", "rpc", "rpc_det", "schedule",
    "server", "spec", "store", "submit", "verify",
}
INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')
ANY_INCLUDE = re.compile(r'^\s*#\s*include\b')


def sources(engine_dir):
    """Every .c and .h under engine_dir: {filename: path}."""
    found = {}
    for root, _dirs, files in os.walk(engine_dir):
        for name in sorted(files):
            if name.endswith((".c", ".h")):
                if name in found:
                    sys.exit(f"check_includes: two files named {name}: "
                             f"{found[name]} and {os.path.join(root, name)}")
                found[name] = os.path.join(root, name)
    return found


def read_lines(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read().splitlines()


def first_include(path):
    for line in read_lines(path):
        if ANY_INCLUDE.match(line):
            m = INCLUDE.match(line)
            return os.path.basename(m.group(1)) if m else None
    return None


def module_of(name, files):
    """A module is a header and its .c; "x_int.h" (a module's internal
    header) and the .c files that include it first belong to module x."""
    base = os.path.splitext(name)[0]
    if base.endswith("_int"):
        return base[:-4]
    if name.endswith(".c"):
        first = first_include(files[name])
        if first and first.endswith("_int.h"):
            return first[:-len("_int.h")]
    return base


def module_graph(files):
    """{module: set of modules it includes}, self edges left out."""
    modules = {module_of(n, files) for n in files}
    graph = {m: set() for m in modules}
    for name, path in files.items():
        mod = module_of(name, files)
        for line in read_lines(path):
            m = INCLUDE.match(line)
            if not m:
                continue
            target = os.path.splitext(os.path.basename(m.group(1)))[0]
            if target.endswith("_int"):
                target = target[:-4]
            if target in modules and target != mod:
                graph[mod].add(target)
    return graph


def elementary_cycles(graph):
    """All elementary cycles (Johnson's algorithm), each as a list of
    modules starting at its smallest name, sorted."""
    order = sorted(graph)
    index = {m: i for i, m in enumerate(order)}
    cycles = []

    def scc_from(start):
        """The strongly connected component holding `start` in the graph
        restricted to nodes with index >= index[start] (Tarjan, iterative)."""
        allowed = {m for m in order if index[m] >= index[start]}
        idx, low, stack, on, comps, counter = {}, {}, [], set(), [], [0]
        for root in order:
            if root not in allowed or root in idx:
                continue
            work = [(root, iter(sorted(graph[root] & allowed)))]
            idx[root] = low[root] = counter[0]
            counter[0] += 1
            stack.append(root)
            on.add(root)
            while work:
                node, it = work[-1]
                nxt = next(it, None)
                if nxt is not None:
                    if nxt not in idx:
                        idx[nxt] = low[nxt] = counter[0]
                        counter[0] += 1
                        stack.append(nxt)
                        on.add(nxt)
                        work.append((nxt, iter(sorted(graph[nxt] & allowed))))
                    elif nxt in on:
                        low[node] = min(low[node], idx[nxt])
                    continue
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == idx[node]:
                    comp = set()
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        comp.add(w)
                        if w == node:
                            break
                    comps.append(comp)
        for comp in comps:
            if start in comp:
                return comp
        return {start}

    for start in order:
        comp = scc_from(start)
        if len(comp) < 2:
            continue
        # Johnson's circuit search from `start` within its component.
        blocked, bmap, path = set(), {m: set() for m in comp}, [start]

        def unblock(node):
            todo = [node]
            while todo:
                n = todo.pop()
                if n in blocked:
                    blocked.discard(n)
                    todo.extend(bmap[n])
                    bmap[n].clear()

        def circuit(node):
            found = False
            blocked.add(node)
            for nxt in sorted(graph[node] & comp):
                if nxt == start:
                    cycles.append(list(path))
                    found = True
                elif nxt not in blocked:
                    path.append(nxt)
                    if circuit(nxt):
                        found = True
                    path.pop()
            if found:
                unblock(node)
            else:
                for nxt in graph[node] & comp:
                    bmap[nxt].add(node)
            return found

        circuit(start)
    return sorted(cycles, key=lambda c: (len(c), c))


def violations(engine_dir):
    files = sources(engine_dir)
    out = []
    graph = module_graph(files)
    for cyc in elementary_cycles(graph):
        out.append("cycle: " + " -> ".join(cyc + [cyc[0]]))
    for src in sorted(SOURCES & set(graph)):
        for dep in sorted(graph[src] & NOT_FOR_SOURCES):
            out.append(f"source: {src} -> {dep}")
    for name in sorted(files):
        if not name.endswith(".c"):
            continue
        lines = read_lines(files[name])
        if name != "main.c":
            first = next((l for l in lines if ANY_INCLUDE.match(l)), None)
            m = INCLUDE.match(first) if first else None
            own = os.path.splitext(name)[0] + ".h"
            internal = module_of(name, files) + "_int.h"
            if not m or os.path.basename(m.group(1)) not in (own, internal):
                out.append(f"own-header: {name}")
        if len(lines) > MAX_LINES:
            out.append(f"lines: {name}")
    return out


def read_allowlist(path):
    if not path or not os.path.exists(path):
        return []
    entries = []
    for line in read_lines(path):
        line = line.strip()
        if line and not line.startswith("#"):
            entries.append(line)
    return entries


def why(entry, engine_dir):
    kind, _, what = entry.partition(": ")
    if kind == "own-header":
        mod = os.path.splitext(what)[0]
        has = os.path.exists(os.path.join(engine_dir, mod + ".h"))
        return f"{what} does not include {mod}.h first" + ("" if has else f" ({mod}.h does not exist)")
    if kind == "lines":
        n = len(read_lines(sources(engine_dir)[what]))
        return f"{what} has {n} lines (at most {MAX_LINES})"
    if kind == "source":
        return f"the fetch source {what.split(' -> ')[0]} includes {what.split(' -> ')[1]}.h"
    return "include cycle " + what


def self_test():
    """The checker on a small tree with known problems (run by ctest too)."""
    import tempfile
    tree = {
        "a.c": '#include "a.h"\n#include "b.h"\n',
        "a.h": '#include "c.h"\n',
        "b.c": '#include <stdio.h>\n#include "b.h"\n',  # own header not first
        "b.h": '#include "sub/c.h"\n',
        "sub/c.c": '#include "c.h"\n' + "int x;\n" * MAX_LINES,  # 801 lines
        "sub/c.h": '#include "a.h"\n#include "b.h"\n#include <uv.h>\n#include "ckp.h"\n',
        "d.c": '#include "d.h"\n',  # the cycle-free part
        "d.h": '#include "a.h"\n',
        "copy.c": '#include "copy.h"\n#include "job.h"\n#include "fetch.h"\n',
        "job.c": '#include "job.h"\n',
        "main.c": '#include <stdio.h>\n#include "d.h"\n',
    }
    with tempfile.TemporaryDirectory() as tmp:
        for rel, text in tree.items():
            os.makedirs(os.path.dirname(os.path.join(tmp, rel)), exist_ok=True)
            with open(os.path.join(tmp, rel), "w") as f:
                f.write(text)
        got = violations(tmp)
        want = [
            "cycle: a -> b -> c -> a",
            "cycle: a -> c -> a",
            "cycle: b -> c -> b",
            "source: copy -> job",
            "own-header: b.c",
            "lines: c.c",
        ]
        if sorted(got) != sorted(want):
            print(f"self-test: got {got}\n           want {want}")
            return 1
        allow = os.path.join(tmp, "allow")
        with open(allow, "w") as f:
            f.write("# known\n" + "\n".join(want[:-1]) + "\ncycle: x -> y -> x\n")
        import contextlib
        import io
        with contextlib.redirect_stdout(io.StringIO()) as out:
            rc = main(["check", tmp, allow])
        text = out.getvalue()
        if rc != 1 or "NEW: c.c has 801 lines" not in text or "FIXED: 'cycle: x -> y -> x'" not in text:
            print(f"self-test: allowlist handling: rc {rc}\n{text}")
            return 1
    print("self-test: ok")
    return 0


def main(argv):
    if len(argv) == 2 and argv[1] == "--self-test":
        return self_test()
    if len(argv) >= 2 and argv[1] == "--print-graph":
        graph = module_graph(sources(argv[2]))
        for mod in sorted(graph):
            print(f"{mod}: {' '.join(sorted(graph[mod]))}")
        return 0
    if len(argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    engine_dir = argv[1]
    allow_path = argv[2] if len(argv) == 3 else None
    found = violations(engine_dir)
    allowed = read_allowlist(allow_path)
    new = [v for v in found if v not in allowed]
    gone = [a for a in allowed if a not in found]
    known = [v for v in found if v in allowed]
    for v in known:
        print(f"known (allowlisted): {why(v, engine_dir)}")
    for v in new:
        print(f"NEW: {why(v, engine_dir)}")
        print(f"     allowlist form: {v}")
    for a in gone:
        print(f"FIXED: '{a}' no longer occurs: remove it from {allow_path}")
    cycles = sum(1 for v in found if v.startswith("cycle: "))
    print(f"{len(sources(engine_dir))} files, {cycles} include cycles, "
          f"{len(found)} violations ({len(known)} allowlisted, {len(new)} new), "
          f"{len(gone)} allowlist entries fixed")
    return 1 if new or gone else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
