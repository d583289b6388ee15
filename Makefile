# mmlesson: `make test` and `make lab` work on a fresh machine with nothing installed by hand.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# torch and torchvision are always installed together, as a matched pair from one index: a CPU-only torch wheel
# found on local disk cannot load PyPI's torchvision (`operator torchvision::nms does not exist`).
TORCH_PAIR := torch==2.14.1 torchvision==0.29.1
# Which build of that pair goes into .venv (README, "Install size"):
#   auto      (default) `cpu` on Linux x86_64 without an NVIDIA driver (no `nvidia-smi`), else `registry`;
#   cpu       PyTorch's own CPU-only build (about 0.2 GB to download instead of about 3 GB of CUDA libraries);
#   registry  the package registry's build: bundles CUDA on Linux x86_64, CPU-only on macOS, Windows and Linux aarch64.
# `cpu` falls back to `registry` when PyTorch's index cannot be reached (CI machines reach only the registry).
# Changing TORCH after an install needs `make clean` first.
TORCH ?= auto
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
QUICK_ENV  := MMLESSON_QUICK=1 MMLESSON_OFFLINE=1 MPLBACKEND=agg
# The browser test's Chromium and driver (Debian's packages; override on other systems).
CHROMIUM     ?= /usr/bin/chromium
CHROMEDRIVER ?= /usr/bin/chromedriver

.PHONY: install test unit notebooks lab lab-check browser-tools browser-test bench badges clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@build="$(TORCH)"; \
	if [ "$$build" = auto ]; then \
	  if [ "$$(uname -sm)" = "Linux x86_64" ] && ! command -v nvidia-smi >/dev/null 2>&1; then build=cpu; else build=registry; fi; \
	fi; \
	case "$$build" in \
	  cpu) echo "torch: PyTorch's CPU-only build, from $(TORCH_CPU_INDEX)"; \
	       $(BIN)/python -m pip install --quiet --retries 1 --index-url $(TORCH_CPU_INDEX) $(TORCH_PAIR) \
	       || { echo "torch: PyTorch's CPU index could not be used; installing the registry's build instead"; \
	            $(BIN)/python -m pip install --quiet $(TORCH_PAIR); } ;; \
	  registry) echo "torch: the registry's build"; $(BIN)/python -m pip install --quiet $(TORCH_PAIR) ;; \
	  *) echo "TORCH=$(TORCH) is not a choice: use TORCH=auto, TORCH=cpu or TORCH=registry"; exit 2 ;; \
	esac
	$(BIN)/python -m pip install --quiet -e '.[dev]' $(TORCH_PAIR)
	$(BIN)/python -c "import torch, torchvision, open_clip; print('torch', torch.__version__, '(CUDA ' + torch.version.cuda + ')' if torch.version.cuda else '(CPU-only)', 'torchvision', torchvision.__version__, 'open_clip', open_clip.__version__)"
	@du -sh $(VENV) | sed 's/^/venv size: /'
	touch $(STAMP)

test: install unit notebooks

unit: install
	$(QUICK_ENV) $(BIN)/python -m pytest tests -q

notebooks: install
	$(QUICK_ENV) $(BIN)/python -m pytest --nbval-lax --nbval-current-env --nbval-sanitize-with notebooks/sanitize.cfg notebooks -q -p no:cacheprovider

lab: install
	$(BIN)/jupyter lab notebooks

# Starts JupyterLab on a free local port, checks that it answers, stops it (used by tests/test_lab.py).
lab-check: install
	$(BIN)/python tests/lab_check.py

# Lesson 3 in JupyterLab in a headless Chromium: Run All, type into the search box, check the results grid.
# Installs Selenium into the venv, and Chromium + its driver with apt-get when missing (as root, as in CI).
browser-tools: install
	$(BIN)/python -c "import selenium" 2>/dev/null || $(BIN)/python -m pip install --quiet -e '.[browser]' $(TORCH_PAIR)
	@if [ ! -x $(CHROMIUM) ] || [ ! -x $(CHROMEDRIVER) ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; \
	  else \
	    echo "make browser-test needs Chromium and its driver ($(CHROMIUM), $(CHROMEDRIVER))."; \
	    echo "Install them with: sudo apt-get install -y chromium chromium-driver   (Debian/Ubuntu)"; \
	    echo "or set CHROMIUM=... CHROMEDRIVER=... (README, For maintainers: the browser test on a laptop)."; \
	    exit 1; \
	  fi; \
	fi

browser-test: browser-tools
	CHROMIUM=$(CHROMIUM) CHROMEDRIVER=$(CHROMEDRIVER) $(BIN)/python tests/browser_check.py

bench: install
	$(BIN)/python bench/run_all.py

# Every "Open in Colab" badge and COURSE_REPO from pyproject's [project.urls] Repository (a fork: REPO=https://github.com/ME/NAME,
# or a clone whose origin is on GitHub; either also rewrites pyproject's address).
badges: install
	$(BIN)/python -m mmlesson badges $(if $(REPO),--repo $(REPO))

clean:
	rm -rf $(VENV) .pytest_cache
