# Set-up and everyday commands. Everything lives in .venv (Python 3.11).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
STAMP := $(VENV)/.installed
# lava-nc 0.10 / lava-dl 0.6 declare Python < 3.11 and old torch pins, norse 1.1 pulls torchvision,
# neurobench 2.3 declares torchaudio, tonic and numba, which its harness and metrics never import
# (they need snntorch, torch, numpy and tqdm: tests/test_neurobench.py): their real dependencies
# come from pyproject.toml, these come without theirs. neurobench and snntorch: constraints.txt.
NODEPS := lava-nc==0.10.0 lava-dl==0.6.0
NODEPS_SDIST := norse==1.1.0
NODEPS_PINNED := neurobench snntorch
# Debian packages that only the examples and the slow tests need (espeak-ng, chromium)
APT := $(if $(filter 0,$(shell id -u)),,sudo) apt-get

.PHONY: install test test-slow style fuzz demo docs notebooks espeak keywords keyword-stream scv2-synthetic bench constraints clean

$(PY):
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), f"need Python 3.11, $(PYTHON) is {sys.version.split()[0]}"'
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(PY) pyproject.toml constraints.txt Makefile
	$(PIP) install -c constraints.txt setuptools setuptools-scm wheel
	$(PIP) install -c constraints.txt -e '.[test]'
	$(PIP) install --no-deps --ignore-requires-python $(NODEPS)
	$(PIP) install --no-deps --no-build-isolation $(NODEPS_SDIST)
	$(PIP) install --no-deps -c constraints.txt $(NODEPS_PINNED)
	@touch $(STAMP)

install: $(STAMP)

# code style first (ruff: lint and format, settings in pyproject.toml; `make style` applies it)
test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest -q -m "not slow"

style: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# the slow suites: the HTML reports in headless Chromium (the Debian package, installed here), and
# the suites that read the trained model's weights again under seeds 1-3 (tests/test_seeds.py)
test-slow: install
	@command -v chromium >/dev/null || $(APT) install -y -q chromium || ($(APT) update -q && $(APT) install -y -q chromium)
	$(PY) -m pytest -q -m slow

# ten times the mutations of make test's fuzz suite (some 5,700 files)
fuzz: install
	LMUNEURO_FUZZ_SCALE=10 $(PY) -m pytest -q tests/test_fuzz.py

demo: install
	$(VENV)/bin/lmuneuro demo

# the example notebooks executed in place, stored with their outputs (a few minutes on 2 cores)
notebooks: install
	$(PY) examples/notebooks.py

# the documentation site (mkdocs.yml; strict: a broken link or reference fails) into site/
docs: install
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict -d site

# espeak-ng (Debian package) is the synthesised data sets' own dependency, not the core install's
espeak:
	@command -v espeak-ng >/dev/null || $(APT) install -y -q espeak-ng || ($(APT) update -q && $(APT) install -y -q espeak-ng)

keywords: install espeak
	$(PY) examples/spoken_keywords.py

# Always-on keyword spotting (docs/detection.md): 8 / 2 / 8 streams of STREAM_MINUTES each, the
# clip model of `make keywords` fine-tuned for STREAM_EPOCHS on windows of the training streams
# (7-14 minutes an epoch on 2 shared cores), converted and run on the test streams with the
# read-out's context chosen on the validation streams (docs/results.md).
STREAM_DIR ?= runs/keyword-stream
STREAM_MINUTES ?= 20
STREAM_EPOCHS ?= 6
runs/keywords/model.pt:
	$(MAKE) keywords
keyword-stream: install espeak runs/keywords/model.pt
	$(VENV)/bin/lmuneuro synthesize keyword-stream --minutes $(STREAM_MINUTES) -o $(STREAM_DIR)/data
	$(VENV)/bin/lmuneuro train --preset spiking-lmuformer-keywords-stream --dataset keyword-stream \
		--data-dir $(STREAM_DIR)/data --init runs/keywords/model.pt --epochs $(STREAM_EPOCHS) \
		--lr 1e-3 -o $(STREAM_DIR)/model.pt
	$(VENV)/bin/lmuneuro convert $(STREAM_DIR)/model.pt -o $(STREAM_DIR)/model.h5
	$(VENV)/bin/lmuneuro stream $(STREAM_DIR)/model.h5 --stream-dir $(STREAM_DIR)/data \
		--checkpoint $(STREAM_DIR)/model.pt --context 96 --profile loihi2,cmos45-snn,cmos45-ann \
		-o $(STREAM_DIR)/test.html

# The paper's full-size network on the 35 Speech Commands words spoken by espeak-ng: the data set,
# the spiking and the non-spiking preset trained for as many epochs as fit in the minutes given
# (about 90 minutes in all on 2 CPU cores; DEVICE=cuda where there is a GPU), then every figure
# of the README's table. Outputs in SCV2_DIR; checkpoints already there are reused.
SCV2_DIR ?= runs/scv2-synthetic
DEVICE ?= auto
SNN_MINUTES ?= 55
ANN_MINUTES ?= 20
scv2-synthetic: install espeak
	$(PY) examples/scv2_synthetic.py --workdir $(SCV2_DIR) --device $(DEVICE) \
		--snn-minutes $(SNN_MINUTES) --ann-minutes $(ANN_MINUTES)

bench: install
	$(PY) benchmarks/bench_models.py

constraints: install
	@head -2 constraints.txt > constraints.txt.new
	$(PIP) freeze --exclude-editable | grep -v -E '^(lava-nc|lava-dl|norse)==' | sed 's/+cpu$$//' >> constraints.txt.new
	@mv constraints.txt.new constraints.txt

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache runs
