#!/usr/bin/env bash
# Run every cinder_nb benchmark with one command:  bench/run.sh [--quick] [--only overhead,scale,coldstart,state,datapath,floors]
#
# Creates (once) and uses two venvs under bench/:
#   .venv-nb         cinder_nb core + matplotlib + pandas + ipywidgets (pip install -e .[bench] ...)
#   .venv-cinderlib  the baseline: cinderlib 5.2.0 with cinder 23.5.0 (see below)
# Prints Markdown tables; writes bench/results/{results.md,results.json,benchmarks.png}.
# Not part of the pytest suite. A full run takes about 10-15 minutes on 2 cores.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
python="${PYTHON:-python3}"
log="$here/results/install.log"
mkdir -p "$here/results"
: > "$log"

make_venv() {  # make_venv DIR CHECK_MODULE PIP_ARGS...
    local dir="$1" check="$2"; shift 2
    if [ -x "$dir/bin/python" ] && PYTHONPATH="$repo" "$dir/bin/python" -c "import $check" >/dev/null 2>&1; then
        return 0
    fi
    echo "[bench] creating $dir (pip output in $log)" >&2
    rm -rf "$dir"
    "$python" -m venv "$dir"
    "$dir/bin/pip" install -q --upgrade pip >>"$log" 2>&1
    "$dir/bin/pip" install -q "$@" >>"$log" 2>&1 || { echo "[bench] pip install failed, see $log" >&2; return 1; }
}

# pandas, ipywidgets, itables, anywidget for cinder_nb.notebook (volumes_df); not the whole Jupyter stack (its
# cold start is its own row: it cost ~0.8 s more while cinder_nb imported jsonschema, whose format extras it has).
make_venv "$here/.venv-nb" "cinder_nb.notebook, matplotlib, pandas, ipywidgets" -e "$repo[bench]" pandas ipywidgets \
    "itables>=2.4,<3" "anywidget>=0.9"

# cinderlib 5.2.0 (the retired predecessor) with the Cinder release it supports. Its
# serialization patches oslo.versionedobjects internals that changed after the 2023.2
# release (FieldType.to_primitive), so oslo.versionedobjects is held at 2023.2's 3.2.0;
# without that pin cinderlib.dumps() raises TypeError. The embedded driver class
# (cinder_nb.drivers.localfile) is loaded from this checkout through PYTHONPATH.
cl_python=""
if [ "${BENCH_SKIP_CINDERLIB:-0}" != 1 ]; then
    if make_venv "$here/.venv-cinderlib" "cinderlib, cinder_nb.drivers.localfile" \
            cinderlib==5.2.0 cinder==23.5.0 oslo.versionedobjects==3.2.0; then
        cl_python="$here/.venv-cinderlib/bin/python"
    else
        echo "[bench] cinderlib baseline unavailable; running cinder_nb rows only" >&2
    fi
fi

# Optional extra cold-start row: the repo's development venv (has the Jupyter stack).
dev_python=""
if [ -x "$repo/.venv/bin/python" ] && "$repo/.venv/bin/python" -c "import cinder_nb" >/dev/null 2>&1; then
    dev_python="$repo/.venv/bin/python"
fi

BENCH_CINDERLIB_PYTHON="$cl_python" BENCH_DEV_PYTHON="$dev_python" \
    exec "$here/.venv-nb/bin/python" "$here/run_all.py" "$@"
