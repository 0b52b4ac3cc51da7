# Two commands do all set-up on a fresh machine with Python 3.11 and gcc:
#   make demo   - create .venv, install the pinned requirements, fetch Fashion-MNIST, run the main job
#   make test   - the same set-up, then the whole test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt pyproject.toml | cksum | cut -d' ' -f1)
FM := data/fashion-mnist/train-images-idx3-ubyte.gz
PHOTOS := data/photos/photos.json

.PHONY: demo test test-fast test-hostile bench data venv clean browser

venv: $(STAMP)
$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; sys.exit(0 if v == (3, 11) else "zfnet needs Python 3.11 (Theano 1.0.5 imports numpy.distutils, gone in 3.12); found %d.%d at $(PYTHON). Set PYTHON=/path/to/python3.11." % v)'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	rm -f $(VENV)/.installed-*; touch $@

data: $(FM) $(PHOTOS)
$(FM): | $(STAMP)
	$(PY) -m zfnet data fetch fashion-mnist
# natural photos (foolbox's 20 labelled ImageNet photos, scikit-image's) from two PyPI wheels
$(PHOTOS): | $(STAMP)
	$(PY) -m zfnet data fetch photos

demo: $(STAMP) $(FM)
	$(PY) -m zfnet demo --out runs/demo

# two pytest workers, one per core, each with one OpenMP/BLAS thread (two 2-thread workers on two
# cores spin-wait on each other: the real Fashion-MNIST epoch took 268 s instead of 99 s); a test
# file stays on one worker, so its session fixtures are shared; each worker compiles into its own
# Theano cache (tests/conftest.py: two processes compiling into one cache race in Theano)
TEST_WORKERS ?= 2
test: $(STAMP) $(FM) $(PHOTOS) browser
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

# The explorer's end-to-end test drives Debian's chromium + chromium-driver; install them
# when we may (root or password-less sudo), else that one test is skipped and says why.
APT_BROWSER = apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 || \
	{ apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium chromium-driver >/dev/null 2>&1; }
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing chromium and chromium-driver for the browser test"; \
	  ( $(APT_BROWSER) ) || echo "could not install chromium; the browser test will be skipped"; \
	elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then \
	  echo "installing chromium and chromium-driver for the browser test (sudo)"; \
	  sudo sh -c '$(APT_BROWSER)' || echo "could not install chromium; the browser test will be skipped"; \
	else echo "chromium/chromedriver missing and no root: the browser test will be skipped"; fi

test-fast: $(STAMP) $(FM) $(PHOTOS)
	$(PY) -m pytest -m "not slow"

# the hostile-input battery (tests/hostile.py): about as long again as make test
test-hostile: $(STAMP) $(FM)
	ZFNET_HOSTILE=1 $(PY) -m pytest tests/test_hostile_inputs.py

bench: $(STAMP)
	$(PY) -m zfnet bench
	$(PY) -m zfnet bench deconv

clean:
	rm -rf $(VENV) runs .pytest_cache
