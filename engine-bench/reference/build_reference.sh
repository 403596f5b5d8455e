#!/usr/bin/env bash
# Builds the reference's decision branches (CLIP-Branches' bundled `decisionbranches`,
# Cython) into a venv, for run_reference.py. Kept out of CI.
#
# Usage: engine-bench/reference/build_reference.sh CLIP_BRANCHES_CHECKOUT VENV
#   CLIP_BRANCHES_CHECKOUT: a clone of https://github.com/cluel01/clip-branches
#   VENV: the Python venv to create or reuse (NumPy < 2 and Cython < 3, as the reference needs, scikit-learn, pandas)
set -euo pipefail
checkout=$(realpath "$1")
venv=$2
src=$checkout/apps/search/decisionbranches
[[ -f $src/decisionbranches/cython/functions.pyx ]] || {
  echo "error: $src/decisionbranches/cython/functions.pyx not found; pass a clip-branches checkout" >&2
  exit 1
}
[[ -x $venv/bin/python ]] || python3 -m venv "$venv"
"$venv/bin/pip" install -q "numpy<2" "cython<3" scikit-learn pandas setuptools
cd "$src"
# Only the two extensions the classifier needs; the bundled kd-trees are not used (the
# runner scans the features, which returns the same ids as a box query).
"$venv/bin/python" - <<'PY'
import numpy as np
from Cython.Build import cythonize
from setuptools import setup
from setuptools.extension import Extension

setup(
    name="decisionbranches-reference",
    script_args=["build_ext", "--inplace", "-q"],
    ext_modules=cythonize(
        [
            Extension("decisionbranches.cython.utils", ["decisionbranches/cython/utils.pyx"]),
            Extension(
                "decisionbranches.cython.functions",
                ["decisionbranches/cython/functions.pyx"],
                include_dirs=[np.get_include()],
            ),
        ],
        quiet=True,
    ),
)
PY
echo "built: $src (run_reference.py --reference $src)"
