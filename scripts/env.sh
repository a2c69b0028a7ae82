# Creates .venv from uv.lock (sourced by the other scripts). Needs only python3.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
UV_VERSION=0.13.9
if [ ! -x "$ROOT/.tools/bin/uv" ] || ! "$ROOT/.tools/bin/uv" --version | grep -q "$UV_VERSION"; then
  python3 -m venv "$ROOT/.tools"
  "$ROOT/.tools/bin/pip" install -q "uv==$UV_VERSION"
fi
export UV_PROJECT_ENVIRONMENT="$ROOT/.venv"
"$ROOT/.tools/bin/uv" sync --frozen --quiet --project "$ROOT"
export PATH="$ROOT/.venv/bin:$PATH"
