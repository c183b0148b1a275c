"""Reading the four scanners' JSON reports (shared by the scanner benchmarks)."""
import json


def json_objects(path):
    """Every JSON value in the file, in order (Kingfisher writes its findings object, then a
    summary object); None when the file cannot be read."""
    try:
        text = open(path).read()
    except OSError:
        return None
    dec, i, objs = json.JSONDecoder(), 0, []
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        v, i = dec.raw_decode(text, i)
        objs.append(v)
    return objs


def findings(tool, path):
    """(rule id, file path, confidence) of each finding in a report of `tool` (tresor,
    gitleaks, betterleaks, kingfisher); None when there is no report."""
    objs = json_objects(path)
    if objs is None:
        return None
    out = []
    for o in objs:
        if tool == "kingfisher":
            for f in (o.get("findings") or []) if isinstance(o, dict) else []:
                if "rule" in f:
                    out.append((f["rule"]["id"], (f.get("finding") or {}).get("path", ""), None))
        elif tool == "betterleaks":
            for f in o.get("findings") or []:
                out.append((f["rule_id"], (f.get("location") or {}).get("path", ""), f.get("confidence")))
        else:
            for f in o:
                out.append((f.get("RuleID", "?"), f.get("File", ""), f.get("Confidence")))
    return out
