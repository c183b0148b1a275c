"""Read YAML documents with libyaml (PyYAML's C loader) and print them as JSON.

Scalars are typed by the YAML 1.2 core schema, as go-yaml v3 (sops, kustomize, Flux) types
them: only true/false are booleans, no sexagesimal or 0-prefixed octal integers, no
timestamps. That way a disagreement is about structure and text, not about YAML 1.1 typing.
Usage: python3 yaml12.py FILE
"""
import json
import re
import sys

import yaml

Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Core(Loader):
    pass


Core.yaml_implicit_resolvers = {}
for tag, regexp, first in [
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9][0-9_]*|0o[0-7_]+|0x[0-9a-fA-F_]+|0b[01_]+)$", "-+0123456789"),
    ("tag:yaml.org,2002:timestamp",
     r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt][0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(?:\.[0-9]+)?(?:Z|[-+][0-9]{2}:[0-9]{2})"
     r"|[ ][0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(?:\.[0-9]+)?)?$", "0123456789"),
    ("tag:yaml.org,2002:float",
     r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
     "-+0123456789."),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
]:
    Core.add_implicit_resolver(tag, re.compile(regexp), list(first))


def construct_int(loader, node):
    # go-yaml v3: underscores dropped, then strconv.ParseInt(s, 0, 64) (0-prefix is octal).
    v = loader.construct_scalar(node).replace("_", "")
    sign, digits = (v[0], v[1:]) if v[0] in "+-" else ("", v)
    n = int(digits[2:], 8) if digits.startswith("0o") else int(digits, 0) if digits[:2] in ("0x", "0b") \
        else int(digits, 8) if len(digits) > 1 and digits.startswith("0") else int(digits, 10)
    return -n if sign == "-" else n


def construct_time(loader, node):
    """Go's time.MarshalText form, as go-yaml v3 (and tresor's data view) give it."""
    import datetime
    v = loader.construct_scalar(node)
    m = re.match(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[Tt ](\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d+))?(Z|[-+]\d{2}:\d{2})?)?$", v)
    y, mo, d, h, mi, s, frac, tz = m.groups()
    out = "%04d-%02d-%02dT%02d:%02d:%02d" % (int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0))
    if frac and frac.rstrip("0"):
        out += "." + frac.rstrip("0")
    return out + ("Z" if tz in (None, "Z", "+00:00") else tz)


Core.add_constructor("tag:yaml.org,2002:int", construct_int)
Core.add_constructor("tag:yaml.org,2002:timestamp", construct_time)

def plain(v):
    """JSON has no infinities or NaN: spell them as Go does (tresor's data view does too)."""
    if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
        return "NaN" if v != v else ("+Inf" if v > 0 else "-Inf")
    if isinstance(v, dict):
        return {str(k): plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [plain(x) for x in v]
    return v


with open(sys.argv[1], encoding="utf-8") as f:
    docs = [plain(d) for d in yaml.load_all(f, Loader=Core)]
print(json.dumps(docs, default=str))
