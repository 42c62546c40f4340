#!/usr/bin/env bash
# Create (idempotently) the isolated Airflow virtualenv used by the real-Airflow checker.
#
#   bash tests/airflow_check/setup_venv.sh            # -> /work/main/.venv-airflow (repo root/.venv-airflow)
#   FLOWSTACKS_AIRFLOW_VENV=/some/path bash tests/airflow_check/setup_venv.sh
#
# Airflow lives in its own venv because apache-airflow and pulumi need different protobuf versions.
# Airflow's official constraints files live on GitHub (unreachable here), so this script pins the two
# top-level packages exactly and applies its OWN embedded constraints list (the full resolved set
# frozen from a known-good install) -- the same idea as Airflow's constraints-3.x.txt.
# Set FLOWSTACKS_AIRFLOW_UNCONSTRAINED=1 to resolve freely (to refresh the list: install that way,
# then `.venv-airflow/bin/uv pip freeze --python .venv-airflow/bin/python`, dropping pip/setuptools/uv).
#
# Fast path: if the venv's marker file matches the pins (and the constraints hash), exit immediately.
# Env knobs: FLOWSTACKS_AIRFLOW_VENV (venv path), FLOWSTACKS_AIRFLOW_PYTHON (interpreter, default
# python3.11), FLOWSTACKS_AIRFLOW_UNCONSTRAINED=1, FLOWSTACKS_AIRFLOW_FORCE=1 (rebuild).
set -euo pipefail

START_NS=$(date +%s%N)
elapsed() { echo "$(( ($(date +%s%N) - START_NS) / 1000000 ))"; }

AIRFLOW_VERSION="3.3.2"
KPO_PROVIDER_VERSION="10.25.0"   # apache-airflow-providers-cncf-kubernetes
UV_VERSION="0.13.8"

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
VENV="${FLOWSTACKS_AIRFLOW_VENV:-$REPO_ROOT/.venv-airflow}"
PYTHON_BIN="${FLOWSTACKS_AIRFLOW_PYTHON:-}"
if [[ -z "$PYTHON_BIN" ]]; then
  if command -v python3.11 >/dev/null 2>&1; then PYTHON_BIN=python3.11; else PYTHON_BIN=python3; fi
fi

# Embedded constraints: `uv pip freeze` of a clean apache-airflow==3.3.2 +
# apache-airflow-providers-cncf-kubernetes==10.25.0 install on CPython 3.11 (linux x86_64).
read -r -d '' CONSTRAINTS <<'EOF' || true
a2wsgi==1.10.10
aiofiles==25.1.0
aiohappyeyeballs==2.7.1
aiohttp==3.14.5
aiosignal==1.4.0
aiosmtplib==5.1.3
aiosqlite==0.22.1
alembic==1.20.1
annotated-doc==0.0.7
annotated-types==0.8.0
anyio==4.16.0
apache-airflow==3.3.2
apache-airflow-core==3.3.2
apache-airflow-providers-cncf-kubernetes==10.25.0
apache-airflow-providers-common-compat==1.23.0
apache-airflow-providers-common-io==1.11.0
apache-airflow-providers-common-sql==2.4.0
apache-airflow-providers-smtp==3.2.0
apache-airflow-providers-standard==1.21.0
apache-airflow-task-sdk==1.3.2
argcomplete==3.7.2
arrow==1.4.0
asgiref==3.13.0
attrs==26.1.0
babel==2.18.0
cachetools==8.0.2
cadwyn==7.0.0
certifi==2026.10.19.post1
cffi==2.1.1
charset-normalizer==3.5.3
click==8.5.1
colorlog==6.12.0
cron-descriptor==2.2.1
croniter==7.0.0
cryptography==50.0.2
deprecated==1.3.1
dill==0.4.1
dnspython==2.9.2
durationpy==0.11
email-validator==2.4.0
fastapi==0.136.3
fastapi-cli==0.0.34
frozenlist==1.8.0
fsspec==2026.9.0
googleapis-common-protos==1.76.0
greenback==1.3.0
greenlet==3.5.6
grpcio==1.85.3
h11==0.16.0
httpcore==1.0.9
httptools==0.9.0
httpx==0.28.1
idna==3.20
importlib-metadata==10.2.0
isoduration==20.11.0
itsdangerous==2.2.0
jinja2==3.1.6
jsonschema==4.26.0
jsonschema-specifications==2025.9.1
kubernetes==36.0.3
kubernetes-asyncio==36.1.0
lazy-importer==0.1.0
lazy-object-proxy==1.13.0
libcst==1.9.0
linkify-it-py==2.2.0
lockfile==0.12.2
mako==1.4.3
markdown-it-py==4.3.0
markupsafe==3.0.4
mdurl==0.1.2
methodtools==0.4.7
more-itertools==11.2.1
msgspec==0.22.0
multidict==7.2.1
natsort==8.4.0
oauthlib==4.0.1
opentelemetry-api==1.45.2
opentelemetry-exporter-http-transport==0.66b2
opentelemetry-exporter-otlp==1.45.2
opentelemetry-exporter-otlp-common==0.66b2
opentelemetry-exporter-otlp-proto-common==1.45.2
opentelemetry-exporter-otlp-proto-grpc==1.45.2
opentelemetry-exporter-otlp-proto-http==1.45.2
opentelemetry-proto==1.45.2
opentelemetry-sdk==1.45.2
opentelemetry-semantic-conventions==0.66b2
outcome==1.3.0.post0
packaging==26.4
pathlib-abc==0.5.2
pathspec==1.1.1
pendulum==3.3.0
pluggy==1.7.0
propcache==0.5.4
protobuf==7.36.2
psutil==7.2.2
pycparser==3.12
pydantic==2.14.4
pydantic-core==2.50.5
pydantic-extra-types==2.11.1
pydantic-settings==2.16.3
pygments==2.21.0
pygtrie==2.6.2
pyjwt==2.15.1
python-daemon==3.1.2
python-dateutil==4.0.0
python-dotenv==1.2.4
python-multipart==0.0.34
python-slugify==9.2.0
pyyaml==6.0.4
referencing==0.37.0
requests==2.34.2
requests-oauthlib==2.0.0
rich==15.0.0
rich-argparse==1.8.0
rich-toolkit==0.20.6
rpds-py==2026.9.1
setproctitle==1.3.8
shellingham==1.5.4
six==1.17.0
sniffio==1.3.1
sqlalchemy==2.1.9
sqlparse==0.6.1
starlette==1.10.0
structlog==26.1.0
svcs==26.2.0
tabulate==0.10.0
tenacity==9.2.1
termcolor==3.3.0
text-unidecode==1.3
typer==0.29.2
typing-extensions==4.16.0
typing-inspection==0.4.5
tzdata==2026.6
universal-pathlib==0.3.10
urllib3==2.8.0
uuid6==2025.0.1
uvicorn==0.54.0
uvloop==0.23.0
watchfiles==1.3.0
websocket-client==1.9.2
websockets==17.4
wirerope==1.0.0
wrapt==2.5.2
yarl==1.25.1
zipp==4.1.2
EOF

if [[ "${FLOWSTACKS_AIRFLOW_UNCONSTRAINED:-0}" == "1" ]]; then CONSTRAINT_TAG="unconstrained"; else
  CONSTRAINT_TAG="constraints-sha256=$(printf '%s\n' "$CONSTRAINTS" | sha256sum | cut -c1-16)"
fi
MARKER="$VENV/.flowstacks-airflow-marker"
WANT_PINS="apache-airflow==$AIRFLOW_VERSION
apache-airflow-providers-cncf-kubernetes==$KPO_PROVIDER_VERSION
$CONSTRAINT_TAG"

is_ready() {  # marker's first 3 lines == pins (the 4th line, python=X.Y, is informational)
  [[ "${FLOWSTACKS_AIRFLOW_FORCE:-0}" != "1" && -x "$VENV/bin/python" && -f "$MARKER" ]] \
    && [[ "$(head -n 3 "$MARKER")" == "$WANT_PINS" ]]
}

if is_ready; then
  echo "airflow venv ready at $VENV (apache-airflow==$AIRFLOW_VERSION, cncf-kubernetes==$KPO_PROVIDER_VERSION); checked in $(elapsed) ms"
  exit 0
fi

# Serialise concurrent setups (e.g. parallel test workers); the lock lives outside the repo.
mkdir -p "$(dirname "$VENV")"
LOCK="${TMPDIR:-/tmp}/flowstacks-airflow-venv-$(printf '%s' "$VENV" | sha256sum | cut -c1-12).lock"
exec 9>"$LOCK"
flock 9
if is_ready; then  # another process finished the job while we waited
  echo "airflow venv ready at $VENV (built by a concurrent run); waited $(elapsed) ms"
  exit 0
fi

if [[ -e "$VENV" ]]; then
  if [[ -f "$VENV/pyvenv.cfg" ]]; then
    echo "removing stale/partial airflow venv at $VENV"
    rm -rf "$VENV"
  else
    echo "refusing to overwrite $VENV: exists and is not a virtualenv" >&2
    exit 1
  fi
fi

echo "creating airflow venv at $VENV with $PYTHON_BIN ($("$PYTHON_BIN" --version 2>&1))"
"$PYTHON_BIN" -m venv "$VENV"
PIP_INSTALL=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)

REQS=("apache-airflow==$AIRFLOW_VERSION" "apache-airflow-providers-cncf-kubernetes==$KPO_PROVIDER_VERSION")
CONSTRAINT_FILE="$VENV/flowstacks-constraints.txt"
printf '%s\n' "$CONSTRAINTS" > "$CONSTRAINT_FILE"
CONSTRAINT_ARGS=()
[[ "$CONSTRAINT_TAG" != "unconstrained" ]] && CONSTRAINT_ARGS=(--constraint "$CONSTRAINT_FILE")

# uv resolves/installs Airflow's ~145 packages in seconds; pip works too but takes minutes.
# --compile-bytecode matters: this machine sets PYTHONDONTWRITEBYTECODE=1, and without .pyc files
# every checker run spends ~10 s compiling Airflow + kubernetes sources.
if "${PIP_INSTALL[@]}" "uv==$UV_VERSION"; then
  "$VENV/bin/uv" pip install --python "$VENV/bin/python" --compile-bytecode \
    "${CONSTRAINT_ARGS[@]}" "${REQS[@]}"
else
  echo "uv unavailable; falling back to pip (slow)" >&2
  "${PIP_INSTALL[@]}" "${CONSTRAINT_ARGS[@]}" "${REQS[@]}"
  "$VENV/bin/python" -m compileall -q -j 0 "$VENV/lib" >/dev/null || true
fi

# Smoke test: the imports the checker and sample DAG rely on.
AIRFLOW_HOME="$(mktemp -d)" AIRFLOW__CORE__LOAD_EXAMPLES=False "$VENV/bin/python" - <<'PY'
import airflow
from airflow.sdk import DAG, Asset  # noqa: F401
from airflow.dag_processing.dagbag import DagBag  # noqa: F401
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator  # noqa: F401
print("airflow", airflow.__version__, "imports OK")
PY

printf '%s\npython=%s\n' "$WANT_PINS" "$("$VENV/bin/python" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')" > "$MARKER"
echo "airflow venv ready at $VENV ($(du -sh "$VENV" | cut -f1)); setup took $(( $(elapsed) / 1000 )) s"
