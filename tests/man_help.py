#!/usr/bin/env python3
"""The man pages say what --help says: every command `ckpt --help` lists
appears in ckpt(1), and so does every flag of that command's own --help;
every flag of `ckptd --help` appears in ckptd(8). The pages are checked in
their scdoc sources (contrib/man/*.scd), which the build turns into roff.

Usage: man_help.py CKPT CKPTD MAN_DIR
"""
import re
import subprocess
import sys

FLAG = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*|-[a-zA-Z])\b")


def run(*argv):
    p = subprocess.run(argv, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"{' '.join(argv)}: exit status {p.returncode}: {p.stderr}")
    return p.stdout


def commands(usage):
    """The commands of `ckpt --help`: from each line in its command lists
    ("  name [sub] ARGS  description"), with alternatives split at '|'."""
    found = []
    in_list = False
    for line in usage.splitlines():
        if line.endswith(":") and not line.startswith(" "):
            in_list = line in ("commands:",) or line.endswith("list-checkpoints):")
            continue
        if line.startswith("Determined checkpoints"):
            in_list = True
        if not in_list or not re.match(r"^  [a-z]", line):
            continue
        synopsis = re.split(r"\s{2,}", line.strip())[0]  # the description follows
        for alt in synopsis.split(" | "):
            words = []
            for w in alt.split():
                if not re.fullmatch(r"[a-z][a-z-]*", w):
                    break
                words.append(w)
            if words and " ".join(words[:2]) not in found:
                found.append(" ".join(words[:2]))
    return found


def scd_text(path):
    with open(path, encoding="utf-8") as f:
        # scdoc escapes: "\_" is "_", "\*" is "*".
        return f.read().replace("\\_", "_").replace("\\*", "*")


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    ckpt, ckptd, mandir = sys.argv[1:]
    page = scd_text(f"{mandir}/ckpt.1.scd")
    dpage = scd_text(f"{mandir}/ckptd.8.scd")
    missing = []

    usage = run(ckpt, "--help")
    cmds = commands(usage)
    # The list must be the real one: these are in ckpt's dispatch table.
    for must in ("status", "fetch", "checkpoint download", "prefetch stop", "pins", "verify"):
        if must not in cmds:
            sys.exit(f"man_help: could not read the command '{must}' from ckpt --help: {cmds}")
    for flag in FLAG.findall(usage.split("options:")[1]):
        if flag not in page:
            missing.append(f"ckpt(1): global flag {flag}")
    for cmd in cmds:
        if cmd not in page:
            missing.append(f"ckpt(1): command '{cmd}'")
        text = run(ckpt, *cmd.split(), "--help")
        for flag in sorted(set(FLAG.findall(text))):
            if flag == "-c":  # "xxhsum -c" in verify's text, not a flag of ckpt
                continue
            if flag not in page:
                missing.append(f"ckpt(1): flag {flag} of '{cmd}'")
    for flag in sorted(set(FLAG.findall(run(ckptd, "--help")))):
        if flag not in dpage:
            missing.append(f"ckptd(8): flag {flag}")
    if missing:
        print("man pages out of step with --help:\n  " + "\n  ".join(missing))
        sys.exit(1)
    print(f"man_help: ok ({len(cmds)} commands)")


if __name__ == "__main__":
    main()
