# shellcheck shell=bash disable=SC2034  # (DDT_PY, DDT_SKIP_REASON: read by the callers)
# Shared by scripts/test and scripts/demo (source it; it defines functions only).
#
# The environments are virtualenvs under .venv/<name>/, created on first use and
# reinstalled when pyproject.toml, the Django pin or the interpreter changes
# (a hash of those is kept in .venv/<name>/.ddt-stamp). Nothing is installed
# when nothing changed.

DDT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# name -> Python version, Django requirement. The first one is the default
# (scripts/test --quick, scripts/demo).
DDT_ENV_NAMES=(py311-dj52 py312-dj61)
declare -A DDT_ENV_PYTHON=([py311-dj52]=3.11 [py312-dj61]=3.12)
declare -A DDT_ENV_DJANGO=([py311-dj52]="Django>=5.2,<5.3" [py312-dj61]="Django>=6.1,<6.2")
# Every environment gets the same extras, so the test and demo commands never
# fight over one virtualenv.
DDT_EXTRAS="redis,test"

ddt_in_ci() {
    case "${CI:-}" in 1 | true | TRUE | True | yes) return 0 ;; *) return 1 ;; esac
}

ddt_say() { printf '%s\n' "$*" >&2; }

# ddt_find_python 3.12 -> prints the path of a working python3.12, or returns 1.
# pyenv shims exist for versions that are not selected and then fail, so every
# candidate is run, not just found.
ddt_find_python() {
    local version="$1" candidate found
    local -a candidates=()
    found="$(command -v "python$version" 2>/dev/null)" && candidates+=("$found")
    candidates+=(
        "$HOME"/.pyenv/versions/"$version"*/bin/"python$version"
        /usr/local/bin/"python$version"
        /usr/bin/"python$version"
    )
    for candidate in "${candidates[@]}"; do
        [[ -x "$candidate" ]] || continue
        if [[ "$("$candidate" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" == "$version" ]] &&
            "$candidate" -c 'import venv, ensurepip' 2>/dev/null; then
            # A shim resolves to the real interpreter; record that one.
            "$candidate" -c 'import sys; print(sys.executable)'
            return 0
        fi
    done
    return 1
}

# ddt_ensure_env NAME -> sets DDT_PY to the environment's python, creating or
# updating the virtualenv as needed. Returns 1 (and says why on stderr) if the
# interpreter is missing (status 3) or the install fails (status 1).
ddt_ensure_env() {
    local name="$1"
    local version="${DDT_ENV_PYTHON[$name]:-}" django="${DDT_ENV_DJANGO[$name]:-}"
    local venv="$DDT_ROOT/.venv/$name" python stamp
    DDT_PY=""
    if [[ -z "$version" ]]; then
        ddt_say "unknown environment '$name' (known: ${DDT_ENV_NAMES[*]})"
        return 1
    fi
    if ! python="$(ddt_find_python "$version")"; then
        DDT_SKIP_REASON="Python $version not found (python$version on PATH or ~/.pyenv/versions/$version*)"
        return 3
    fi
    stamp="$({
        cat "$DDT_ROOT/pyproject.toml"
        echo "$python"
        "$python" -c 'import sys; print(sys.version)'
        echo "$django [$DDT_EXTRAS]"
    } | sha256sum | cut -d' ' -f1)"

    mkdir -p "$DDT_ROOT/.venv"
    (
        # One installer at a time per environment (scripts/test and scripts/demo
        # may run side by side).
        if command -v flock >/dev/null; then
            exec 9>"$DDT_ROOT/.venv/$name.lock"
            flock 9
        fi
        if [[ -x "$venv/bin/python" && -f "$venv/.ddt-stamp" && "$(cat "$venv/.ddt-stamp")" == "$stamp" ]]; then
            exit 0
        fi
        if [[ ! -x "$venv/bin/python" ]] ||
            [[ "$("$venv/bin/python" -c 'import sys; print(sys.version)' 2>/dev/null)" != "$("$python" -c 'import sys; print(sys.version)')" ]]; then
            ddt_say "==> $name: creating .venv/$name with $python"
            rm -rf "$venv"
            "$python" -m venv "$venv" || exit 1
        fi
        ddt_say "==> $name: installing -e \".[$DDT_EXTRAS]\" \"$django\""
        rm -f "$venv/.ddt-stamp"
        # (The grep drops pip's noise about index locations this machine lacks.)
        (cd "$DDT_ROOT" &&
            "$venv/bin/python" -m pip install --disable-pip-version-check -q \
                -e ".[$DDT_EXTRAS]" "$django" 2>&1 |
            grep -v "^WARNING: Location 'file:.* is ignored" >&2
            exit "${PIPESTATUS[0]}") || exit 1
        echo "$stamp" >"$venv/.ddt-stamp"
    ) || {
        ddt_say "==> $name: setting up .venv/$name failed"
        return 1
    }
    DDT_PY="$venv/bin/python"
}
