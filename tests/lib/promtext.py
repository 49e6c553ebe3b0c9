#!/usr/bin/env python3
"""A strict parser of the Prometheus text exposition format (version 0.0.4),
for the tests: what node_exporter's textfile collector accepts, and the
naming conventions on top.

    promtext.py FILE                 check FILE, print "ok N samples"
    promtext.py FILE NAME [k=v ...]  print the value of one sample

Checks: every line is a comment, blank or a sample; HELP and TYPE come once
per metric family, before its samples, and TYPE is one of the known types;
names and label names are valid; label values are quoted with valid
escapes; values are floats (or NaN/+Inf/-Inf); no sample is repeated;
counters end in _total; summary samples are NAME_sum/NAME_count (or NAME
with a quantile label); byte and second units are suffixes (_bytes,
_seconds) of the name. The file ends with a newline.
"""
import math
import re
import sys

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


class Bad(Exception):
    pass


def parse_labels(s, pos, lineno):
    """Parses '{a="x",b="y"}' from s[pos] == '{'; returns (dict, next pos)."""
    labels = {}
    pos += 1
    while True:
        if pos < len(s) and s[pos] == "}":
            return labels, pos + 1
        m = LABEL.match(s, pos)
        if not m:
            raise Bad(f"line {lineno}: bad label name at column {pos + 1}")
        key = m.group(0)
        pos = m.end()
        if s[pos:pos + 2] != '="':
            raise Bad(f"line {lineno}: expected '=\"' after label {key}")
        pos += 2
        val = []
        while True:
            if pos >= len(s):
                raise Bad(f"line {lineno}: unterminated label value")
            c = s[pos]
            if c == "\\":
                nxt = s[pos + 1:pos + 2]
                if nxt not in ("\\", '"', "n"):
                    raise Bad(f"line {lineno}: bad escape '\\{nxt}' in a label value")
                val.append("\n" if nxt == "n" else nxt)
                pos += 2
                continue
            if c == '"':
                pos += 1
                break
            val.append(c)
            pos += 1
        if key in labels:
            raise Bad(f"line {lineno}: label {key} twice")
        labels[key] = "".join(val)
        if pos < len(s) and s[pos] == ",":
            pos += 1
        elif pos < len(s) and s[pos] == "}":
            continue
        else:
            raise Bad(f"line {lineno}: expected ',' or '}}' after a label value")


def parse_value(tok, lineno):
    if tok in ("NaN", "+Inf", "-Inf"):
        return float(tok.replace("Inf", "inf").replace("NaN", "nan"))
    try:
        return float(tok)
    except ValueError:
        raise Bad(f"line {lineno}: bad value '{tok}'")


def family_of(name, types):
    """The family a sample belongs to: its own name, or for summaries and
    histograms the name without _sum/_count/_bucket."""
    if name in types:
        return name
    for suf in ("_sum", "_count", "_bucket"):
        if name.endswith(suf) and name[: -len(suf)] in types:
            return name[: -len(suf)]
    return None


def parse(text):
    if text and not text.endswith("\n"):
        raise Bad("the file does not end with a newline")
    helps, types, samples, seen_family = {}, {}, {}, set()
    for lineno, line in enumerate(text.split("\n")[:-1], 1):
        if line.strip() == "":
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 2 and parts[1] in ("HELP", "TYPE"):
                if len(parts) < 4:
                    raise Bad(f"line {lineno}: {parts[1]} without a name and text")
                name, rest = parts[2], parts[3]
                if not NAME.fullmatch(name):
                    raise Bad(f"line {lineno}: bad metric name '{name}'")
                book = helps if parts[1] == "HELP" else types
                if name in book:
                    raise Bad(f"line {lineno}: second {parts[1]} for {name}")
                if name in seen_family:
                    raise Bad(f"line {lineno}: {parts[1]} for {name} after its samples")
                if parts[1] == "TYPE" and rest not in TYPES:
                    raise Bad(f"line {lineno}: unknown type '{rest}'")
                book[name] = rest
            continue
        m = NAME.match(line)
        if not m:
            raise Bad(f"line {lineno}: bad metric name")
        name, pos, labels = m.group(0), m.end(), {}
        if pos < len(line) and line[pos] == "{":
            labels, pos = parse_labels(line, pos, lineno)
        rest = line[pos:]
        if not rest.startswith(" "):
            raise Bad(f"line {lineno}: no space before the value")
        toks = rest.split()
        if len(toks) not in (1, 2):
            raise Bad(f"line {lineno}: expected a value and an optional timestamp")
        value = parse_value(toks[0], lineno)
        if len(toks) == 2 and not re.fullmatch(r"-?[0-9]+", toks[1]):
            raise Bad(f"line {lineno}: bad timestamp '{toks[1]}'")
        fam = family_of(name, types)
        if fam is None:
            raise Bad(f"line {lineno}: sample {name} has no TYPE line before it")
        if fam not in helps:
            raise Bad(f"line {lineno}: {fam} has no HELP line")
        kind = types[fam]
        if kind == "counter":
            if not name.endswith("_total"):
                raise Bad(f"line {lineno}: counter {name} does not end in _total")
            if value < 0 or math.isnan(value):
                raise Bad(f"line {lineno}: counter {name} is {value}")
        if kind == "summary" and name == fam and "quantile" not in labels:
            raise Bad(f"line {lineno}: summary sample {name} without a quantile")
        for unit in ("bytes", "seconds"):
            if unit in name.split("_")[:-1] and not re.search(f"_{unit}(_total|_sum|_count)?$", name):
                raise Bad(f"line {lineno}: {name}: the unit {unit} must be a suffix")
        key = (name, tuple(sorted(labels.items())))
        if key in samples:
            raise Bad(f"line {lineno}: sample {name}{labels} twice")
        samples[key] = value
        seen_family.add(fam)
    return samples


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: promtext.py FILE [NAME [k=v ...]]")
    with open(sys.argv[1], encoding="utf-8") as f:
        text = f.read()
    try:
        samples = parse(text)
    except Bad as e:
        sys.exit(f"{sys.argv[1]}: {e}")
    if len(sys.argv) == 2:
        print(f"ok {len(samples)} samples")
        return
    name = sys.argv[2]
    want = tuple(sorted(tuple(a.split("=", 1)) for a in sys.argv[3:]))
    if (name, want) not in samples:
        sys.exit(f"{sys.argv[1]}: no sample {name}{dict(want)}")
    v = samples[(name, want)]
    print(int(v) if v == int(v) else v)


if __name__ == "__main__":
    main()
