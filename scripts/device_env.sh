# Sourced by the scripts that run on a lent GPU machine (the device tool). That machine's image has
# PyTorch but an older transformers and no pycocotools or decord: wheels carried in .whl/ are installed
# first (see docs/training.md for how to fetch them here).
if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$PWD" PYTHONUNBUFFERED=1
