# shellcheck shell=bash
# Shared by scripts/test and scripts/demo (source it; it defines functions only).

DDT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export UV_PYTHON_DOWNLOADS=never # uv finds the machine's interpreters, never fetches one

# This machine sets PYTHONDONTWRITEBYTECODE=1, so every Python process would
# compile Django and the rest from source again: about a second for each test
# worker, demo command and project that the tests run. The bytecode is cached
# in .venv/pycache instead, out of the source tree.
unset PYTHONDONTWRITEBYTECODE
export PYTHONPYCACHEPREFIX="$DDT_ROOT/.venv/pycache"

# pyenv's shims run only the selected version: select them all, the default first,
# so that python3.11 and python3.12 both work.
if command -v pyenv >/dev/null 2>&1; then
    PYENV_VERSION="$(pyenv version-name 2>/dev/null):$(pyenv versions --bare 2>/dev/null | paste -sd: -)"
    export PYENV_VERSION
fi

ddt_say() { printf '%s\n' "$*" >&2; }

# ddt_tools: uv and nox in .venv/tools (created on first use); puts them on PATH.
ddt_tools() {
    local tools="$DDT_ROOT/.venv/tools"
    if [[ ! -x "$tools/bin/nox" || ! -x "$tools/bin/uv" ]]; then
        ddt_say "==> creating .venv/tools (uv, nox)"
        python3 -m venv "$tools" &&
            "$tools/bin/python" -m pip install -q --disable-pip-version-check "uv>=0.5" "nox>=2025.2" 2>&1 |
            grep -v "^WARNING: Location 'file:.* is ignored" >&2
        [[ -x "$tools/bin/nox" ]] || { ddt_say "could not install uv and nox"; return 1; }
    fi
    export PATH="$tools/bin:$PATH"
}

# ddt_demo_env: .venv/demo (Python 3.11, Django 5.2, as the first test
# environment), created or brought up to date by uv; sets DDT_PY.
ddt_demo_env() {
    local venv="$DDT_ROOT/.venv/demo"
    ddt_tools || return 1
    [[ -x "$venv/bin/python" ]] || uv venv -q -p 3.11 "$venv" || return 1
    (cd "$DDT_ROOT" && VIRTUAL_ENV="$venv" uv pip install -q -e ".[redis,test]" "Django>=5.2,<5.3") || return 1
    DDT_PY="$venv/bin/python"
}
