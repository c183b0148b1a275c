#!/usr/bin/env python3
"""Regenerate the labelled scanner corpus (deterministic; fake secrets only).

positives/: each file holds secrets of the rules listed for it in expected.json.
negatives/: constructs that look dangerous but are safe; no finding is correct.
"""
import zlib
import json, os, random, string

rng = random.Random(20261122)
A = string.ascii_letters + string.digits
def r(n, alphabet=A): return "".join(rng.choice(alphabet) for _ in range(n))

B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
def gh_token(prefix, body30):
    """A GitHub/npm-style token: 30 random characters and their CRC-32 in base 62."""
    n, s = zlib.crc32(body30.encode()), ""
    while n: n, d = divmod(n, 62); s = B62[d] + s
    return prefix + body30 + s.rjust(6, "0")
UP = string.ascii_uppercase + "234567"
HEX = "0123456789abcdef"
B32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"

os.makedirs("positives/helm", exist_ok=True)
os.makedirs("positives/keys", exist_ok=True)
os.makedirs("negatives/helm", exist_ok=True)
P = {}
def pos(name, text, rules):
    with open(os.path.join("positives", name), "w") as f: f.write(text)
    P[name] = rules

pos("aws.env", f"AWS_ACCESS_KEY_ID=AKIA{r(16, UP)}\naws_secret_access_key = {r(40, A + '/+')}\n", ["aws-access-key-id", "aws-secret-access-key"])
pos("gcp.json", f'{{"api_key": "AIza{r(35, A + "_-")}"}}\n', ["gcp-api-key"])
pos("azure.txt", f"DefaultEndpointsProtocol=https;AccountName=prod;AccountKey={r(86, A + '+/')}==;EndpointSuffix=core.windows.net\n", ["azure-storage-account-key"])
pos("ovh.conf", f"[ovh-eu]\nOVH_APPLICATION_SECRET={r(32)}\n", ["ovhcloud-api-credentials"])
pos("scaleway.sh", f"export SCW_ACCESS_KEY=SCW{r(17, string.ascii_uppercase + string.digits)}\nexport SCW_SECRET_KEY={r(8,HEX)}-{r(4,HEX)}-{r(4,HEX)}-{r(4,HEX)}-{r(12,HEX)}\n", ["scaleway-access-key", "scaleway-secret-key"])
pos("github.yaml", f"token: {gh_token('ghp_', r(30))}\nfine: github_pat_{r(82, A + '_')}\n", ["github-token", "github-fine-grained-token"])
pos("gitlab.env", f"CI_TOKEN=glpat-{r(20, A + '_-')}\n", ["gitlab-token"])
pos("slack.py", f'SLACK_BOT = "xoxb-{r(11, string.digits)}-{r(24)}"\nWEBHOOK = "https://hooks.slack.com/services/T{r(10, UP)}/B{r(10, UP)}/{r(24)}"\n', ["slack-token", "slack-webhook"])
pos("telegram.ini", f"bot_token = {r(10, string.digits)}:AA{r(33, A + '_-')}\n", ["telegram-bot-token"])
pos("discord.js", f'const hook = "https://discord.com/api/webhooks/{r(18, string.digits)}/{r(68, A + "_-")}";\n', ["discord-webhook"])
pos("stripe.rb", f'Stripe.api_key = "sk_live_{r(32)}"\n', ["stripe-key"])
pos("braintree.txt", f"access_token$production${r(16, string.ascii_lowercase + string.digits)}${r(32, HEX)}\n", ["paypal-braintree-token"])
pos("sendgrid.env", f"SENDGRID=SG.{r(22, A + '_-')}.{r(43, A + '_-')}\n", ["sendgrid-api-key"])
pos("twilio.yaml", f"twilio:\n  api_key: SK{r(32, HEX)}\n", ["twilio-api-key"])
pos("openai.env", f"OPENAI_API_KEY=sk-proj-{r(40, A + '_-')}T3BlbkFJ{r(40, A + '_-')}\n", ["openai-api-key"])
pos("anthropic.env", f"ANTHROPIC_API_KEY=sk-ant-api03-{r(93, A + '_-')}AA\n", ["anthropic-api-key"])
pos("hf.txt", f"HF_TOKEN=hf_{r(34, string.ascii_letters)}\n", ["huggingface-token"])
pos("npmrc", f"//registry.npmjs.org/:_authToken={gh_token('npm_', r(30))}\n", ["npm-token"])
pos("pypirc", f"[pypi]\npassword = pypi-AgEIcHlwaS5vcmc{r(70, A + '_-')}\n", ["pypi-token"])
pos("docker.json", f'{{"token": "dckr_pat_{r(27, A + "_-")}"}}\n', ["docker-hub-token"])
pos("datadog.yaml", f"datadog:\n  api_key: {r(32, HEX)}\n", ["datadog-api-key"])
pos("shopify.env", f"SHOPIFY=shpat_{r(32, HEX)}\n", ["shopify-token"])
pos("vault.env", f"VAULT_TOKEN=hvs.{r(90, A + '_-')}\n", ["vault-token"])
pos("bao.sh", f"export BAO_TOKEN=s.{r(24)}\n", ["openbao-legacy-token"])
pos("age-key.txt", f"# created: 2026-01-01T00:00:00Z\nAGE-SECRET-KEY-1{r(58, B32).upper()}\n", ["age-secret-key"])
pem_body = "\n".join(r(64, A + "+/") for _ in range(6))
pos("server.key", f"-----BEGIN RSA PRIVATE KEY-----\n{pem_body}\n-----END RSA PRIVATE KEY-----\n", ["private-key"])
pos("kubeconfig", f"users:\n- name: admin\n  user:\n    client-key-data: {r(160, A + '+/')}=\n", ["kubeconfig-client-key"])
pos("jwt.txt", f"Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJ{r(40, A + '_-')}.{r(43, A + '_-')}\n", ["jwt"])
pos("db.yaml", f"url: postgres://app:{r(16)}@db.internal:5432/app\n", ["connection-string-password"])
pos("mirror.txt", f"https://deploy:{r(20)}@git.example.org/repo.git\n", ["url-basic-auth"])
pos("app.properties", f"db.password={r(18)}\n", ["generic-password-assignment"])
pos("helm/values.yaml", f"image: nginx\npostgresql:\n  auth:\n    password: {r(14)}\n    username: app\nredis:\n  existingSecret: redis-auth\n", ["helm-values-literal-secret"])
pos("Dockerfile", f"FROM alpine\nENV API_TOKEN={r(24)}\nARG NPM_TOKEN\nCOPY id_rsa /root/.ssh/id_rsa\nRUN curl -u admin:{r(12)} https://artifacts.example.org/pkg.tgz -o /pkg.tgz\nRUN NPM_CONFIG_TOKEN=$NPM_TOKEN npm ci\n", ["dockerfile-secret-in-env-arg", "dockerfile-secret-build-arg", "dockerfile-copies-key-file", "dockerfile-credentials-in-run"])

# Families added with the provider rules (sixth session): one file per family, in the
# shape people commit them.
U36 = string.ascii_uppercase + string.digits
pos("gitlab-ci.yml", f"variables:\n  DEPLOY_TOKEN: gldt-{r(20, A + '_-')}\n  TRIGGER: glptt-{r(40, HEX)}\n  RUNNER_AUTH: glrt-{r(20, A + '_-')}\n", ["gitlab-deploy-token", "gitlab-pipeline-trigger-token", "gitlab-runner-token"])
pos("slack-app.env", f"SLACK_APP_TOKEN=xapp-1-A{r(10, U36)}-{r(13, string.digits)}-{r(64, HEX)}\n", ["slack-app-token"])
pos("azure.env", f"AZURE_CLIENT_SECRET={r(3)}8Q~{r(34)}\n", ["azure-ad-client-secret"])
pos("k8s-secret.yaml", f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ntype: Opaque\ndata:\n  password: {r(32, A + '+/')}=\n", ["kubernetes-secret-data"])
pos("deploy.sh", f"#!/bin/sh\ncurl -sS -H \"Authorization: Bearer {r(40, A + '_-')}\" https://api.internal/v1/deploy\n", ["curl-auth-header"])
pos("NuGet.config", f"<configuration>\n  <packageSourceCredentials>\n    <internal>\n      <add key=\"Username\" value=\"build\" />\n      <add key=\"ClearTextPassword\" value=\"{r(20)}\" />\n    </internal>\n  </packageSourceCredentials>\n</configuration>\n", ["nuget-config-password"])
pos("terraform.tfvars", f"tfe_token = \"{r(14)}.atlasv1.{r(67, A + '_-')}\"\n", ["terraform-cloud-token"])
pos("do.env", f"DIGITALOCEAN_TOKEN=dop_v1_{r(64, HEX)}\n", ["digitalocean-token"])
pos("grafana.env", f"GRAFANA_TOKEN=glsa_{r(32)}_{r(8, HEX)}\n", ["grafana-service-account-token"])
pos("atlassian.env", f"JIRA_API_TOKEN=ATATT3xFfGF0{r(170, A + '_-')}={r(8, HEX.upper())}\n", ["atlassian-api-token"])
pos("app.py", f'GROQ_API_KEY = "gsk_{r(52)}"\nSTRIPE_WEBHOOK_SECRET = "whsec_{r(32)}"\n', ["groq-api-key", "stripe-webhook-secret"])
pos("openshift.sh", f"oc login --token=sha256~{r(43, A + '_-')} --server=https://api.cluster:6443\n", ["openshift-token"])
pos("netrc", f"machine artifacts.internal login deploy password {r(20)}\n", ["netrc-password"])
pos("Config.java", f'class Config {{\n  static {{ System.setProperty("api.token", "{r(22)}"); }}\n}}\n', ["generic-password-assignment"])
pos("keys/deploy.ppk", f"PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: deploy\nPublic-Lines: 2\n{r(64, A + '+/')}\n{r(8, A)}\nPrivate-Lines: 1\n{r(44, A + '+/')}\n", ["putty-key-file", "putty-private-key"])

def neg(name, text):
    with open(os.path.join("negatives", name), "w") as f: f.write(text)

neg("helm/values.yaml", """postgresql:
  auth:
    password: ""
    existingSecret: pg-credentials
    secretKeys:
      adminPasswordKey: postgres-password
redis:
  auth:
    password: "{{ .Values.global.redisPassword }}"
    passwordFile: /run/secrets/redis
api:
  token: changeme
  apiKey: ENC[AES256_GCM,data:Zm9vYmFy,iv:aXZpdml2aXZpdml2aXZpdml2aXZpdml2aXZpdmk=,tag:dGFndGFndGFndGFndGFnZw==,type:str]
  tokenTTL: 3600
  authEnabled: true
  clientSecretName: oauth-client
  password: ${DB_PASSWORD}
""")
neg("Dockerfile", """FROM node:22-alpine
ARG VERSION=1.2.3
ENV PATH=/app/node_modules/.bin:$PATH
COPY package.json package-lock.json ./
RUN --mount=type=secret,id=npmrc,target=/root/.npmrc npm ci
COPY . .
CMD ["node", "server.js"]
""")
os.makedirs("negatives/build", exist_ok=True)
neg("build/Dockerfile", """FROM alpine
# Declared, then used only through a secret mount: nothing reaches a layer or the history.
ARG NPM_TOKEN
ENV DB_PASSWORD_FILE=/run/secrets/db_password
ENV API_TOKEN_PATH /var/run/secrets/api-token
ENV CREDENTIALS=/etc/app/credentials.json
RUN --mount=type=secret,id=npm,env=NPM_TOKEN npm ci
""")
neg("config.py", """import os
DB_PASSWORD = os.environ["DB_PASSWORD"]
API_KEY = os.getenv("API_KEY", "")
password_reset_url = "/accounts/password/reset"
token_endpoint = "https://auth.example.com/oauth/token"
""")
neg("ci.yaml", """env:
  GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}
  DATABASE_URL: postgres://app:${DB_PASSWORD}@db:5432/app
  REGISTRY_PASSWORD: $REGISTRY_PASSWORD
""")
neg("docs.md", """Example AWS key from the AWS docs: AKIAIOSFODNN7EXAMPLE
Use `password: <your-password>` in your config.
Connect with postgres://user:password@localhost/db
""")
neg("hashes.txt", f"""commit {r(40, HEX)}
sha256: {r(64, HEX)}
uuid: {r(8,HEX)}-{r(4,HEX)}-{r(4,HEX)}-{r(4,HEX)}-{r(12,HEX)}
""")
neg("encrypted.yaml", """stringData:
    password: ENC[AES256_GCM,data:8FbcNBkf5ABI,iv:FtV4poJNkJ2pwcHBguPN+lak1bdUIkuQ56lAeyueDyw=,tag:bjgs1lZGx8wLQgSCNw29FA==,type:str]
sops:
    mac: ENC[AES256_GCM,data:gmvmYLy0PQCHo6EsUkSmEq+K1JxFyWL9,iv:G/PWOJKnab3eIBA1wyZ1ZVUxx08WAf9fz0XDIEU7Pic=,tag:D1qj8tztBu7tggsjsL9bXg==,type:str]
    version: 3.11.0
""")
neg("k8s-secretref.yaml", """env:
  - name: DB_PASSWORD
    valueFrom:
      secretKeyRef:
        name: db
        key: password
""")

neg("npmrc", "//registry.npmjs.org/:_authToken=${NPM_TOKEN}\nalways-auth=true\n")
neg("k8s-secret.yaml", """apiVersion: v1
kind: Secret
metadata:
  name: db
type: Opaque
data:
  password: ENC[AES256_GCM,data:8FbcNBkf5ABI,iv:FtV4poJNkJ2pwcHBguPN+lak1bdUIkuQ56lAeyueDyw=,tag:bjgs1lZGx8wLQgSCNw29FA==,type:str]
""")
neg("deploy.sh", """#!/bin/sh
curl -sS -H "Authorization: Bearer $DEPLOY_TOKEN" https://api.internal/v1/deploy
curl -u "$NEXUS_USER:$NEXUS_PASSWORD" https://nexus.internal/repository/
""")
neg("client.go", """package client

type ImageRegistryCredential = original.ImageRegistryCredential

func New() *Client {
	tokenSource := oauth2.ReuseTokenSource(nil, tokenFile)
	return &Client{credentialsId: "deploy-creds", secret: &logical.Secret{}}
}
""")
neg("Jenkinsfile", """pipeline {
  environment { DEPLOY = credentials('deploy-token') }
  stages { stage('push') { steps { withCredentials([string(credentialsId: '3f1c9a2e-7b4d-4e8f-9a6c-2d5b8e1f4a7c', variable: 'TOKEN')]) { sh 'make push' } } } }
}
""")

with open("expected.json", "w") as f:
    json.dump(P, f, indent=2, sort_keys=True)
    f.write("\n")
print(f"{len(P)} positive files, {sum(len(v) for v in P.values())} expected findings")
