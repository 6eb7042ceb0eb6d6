# Porchlight: `make run` serves the app on the embedded default; `make test` runs the suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi
HOST ?= 127.0.0.1
PORT ?= 5000
# The app builds its links and QR codes from these (or from PUBLIC_BASE_URL when set);
# HOST=0.0.0.0 serves the LAN and makes them carry this machine's LAN address.
export HOST PORT

.PHONY: run test test-fast lint migrate demo clean help npm chromium nginx vendor translations extract pwa-i18n

help:
	@echo "make run   - set up and serve on http://$(HOST):$(PORT) (SQLite under instance/; HOST=0.0.0.0 for phones on the LAN)"
	@echo "make test  - set up and run the whole test suite (as root it installs chromium for the browser tests)"
	@echo "make vendor - npm ci, then copy the browser libraries package-lock.json pins into pwa/vendor/"
	@echo "make test-fast - the suite without its slow parts (browser, schemathesis, faults, served app)"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Porchlight needs Python 3.11 or newer")'
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null && $(PYTHON) -m venv $(VENV); \
	  else echo "python3 -m venv failed: install your distribution's python3-venv package"; exit 1; fi; }
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python requirements.txt
	$(BIN)/pip install -q -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(BIN)/pip install -q -r requirements-dev.txt
	@touch $@

# The compiled catalogs (.mo) are not committed: every .po of every domain under
# app/translations/ is compiled before the app runs or is tested (the app compiles
# stale ones at start-up too). docs/TRANSLATIONS.md says how the catalogs are made.
translations: $(VENV)/.installed
	$(BIN)/python -c 'from app.i18n import compile_catalogs; compile_catalogs()'

# Refresh the server's template (messages.pot) from the sources and merge it into every
# language's messages.po; then translate what is new and `make translations`.
extract: $(VENV)/.installed
	$(BIN)/pybabel extract -F babel.cfg -k lazy_gettext -k _l -o app/translations/messages.pot \
	  --no-location --sort-output app
	$(BIN)/pybabel update -i app/translations/messages.pot -d app/translations -D messages \
	  --no-fuzzy-matching --ignore-obsolete

migrate: $(VENV)/.installed translations
	$(FLASK) db upgrade

demo: migrate
	$(FLASK) demo load

run: demo pwa-i18n
	$(FLASK) run --host $(HOST) --port $(PORT)

# One pytest worker per core (pytest-xdist); the browser tests share one worker, one
# live server and one chromium. WORKERS=0 runs everything in one process.
WORKERS ?= auto
PYTEST := $(BIN)/python -m pytest -n $(WORKERS) --dist loadgroup

test: $(VENV)/.installed-dev npm chromium nginx translations pwa-i18n
	$(PYTEST) $(PYTEST_ARGS)

# Everything but the tests marked slow (see pyproject.toml): for a quick check while working.
test-fast: $(VENV)/.installed-dev npm translations pwa-i18n
	$(PYTEST) -m "not slow" $(PYTEST_ARGS)

# The browser-test tools (axe-core, Lighthouse) and the sources of pwa/vendor/, at the
# versions pinned in package-lock.json. npm ci runs only when the lock file is newer
# than what it last installed (npm writes node_modules/.package-lock.json).
npm: node_modules/.package-lock.json

node_modules/.package-lock.json: package-lock.json
	@if command -v npm >/dev/null; then \
	  echo "npm ci (package-lock.json is newer than node_modules/)"; \
	  npm ci --no-audit --no-fund && touch $@; \
	else \
	  echo "npm not found: install Node.js 20 (with npm) and rerun, or run 'npm ci' yourself."; \
	  echo "Until then the browser tests skip (fail when CI is set): they need axe-core."; \
	fi

# The PWA's browser libraries (Leaflet, tus-js-client, jsQR) are committed under pwa/vendor/,
# so `make run` needs no Node.js. After changing their versions in package.json and
# package-lock.json, this copies the installed files there and rewrites
# pwa/vendor/manifest.json (tests/test_pwa_assets.py checks both against package-lock.json).
# The testing config: the command only copies files and should leave no instance/ state.
vendor: $(VENV)/.installed npm
	@test -f node_modules/.package-lock.json || { echo "make vendor needs npm (Node.js 20)"; exit 1; }
	$(BIN)/flask --app 'app:create_app("testing")' pwa vendor

# The PWA's words in each language: pwa/i18n/<lang>.json (gitignored), built from
# app/translations/<lang>/LC_MESSAGES/pwa.po (docs/TRANSLATIONS-PWA.md). After changing the
# PWA's texts, `flask pwa-i18n extract` updates pwa.pot and the .po files for translators.
pwa-i18n: $(VENV)/.installed
	@$(BIN)/flask --app 'app:create_app("testing")' pwa-i18n build >/dev/null

# Debian's chromium for the browser tests (tests/browser): Playwright drives it; never
# `playwright install`, which downloads a browser of its own.
CHROMIUM ?= /usr/bin/chromium
FONT ?= /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
chromium:
	@if [ -x $(CHROMIUM) ] && [ -f $(FONT) ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing Debian's chromium and fonts for the browser tests"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core >/dev/null; } \
	    || echo "could not install chromium: the browser tests will skip (and fail when CI is set)"; \
	else \
	  echo "$(CHROMIUM) (or a font for it) is missing: the browser tests (tests/browser) will be skipped."; \
	  echo "To enable them run 'make test' as root (it runs: apt-get install chromium fonts-dejavu-core),"; \
	  echo "or install Debian's chromium package yourself."; \
	fi

# Debian's nginx for the fleet test (tests/test_fleet.py), which runs it as its own process in
# front of two app nodes with deploy/nginx/porchlight.conf; the package's own service is not used.
NGINX ?= /usr/sbin/nginx
nginx:
	@if [ -x $(NGINX) ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing Debian's nginx for the fleet test"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null; } \
	    || echo "could not install nginx: the fleet test will skip (and fail when CI is set)"; \
	else \
	  echo "$(NGINX) is missing: the fleet test (tests/test_fleet.py) will be skipped."; \
	  echo "To enable it run 'make test' as root (it runs: apt-get install nginx),"; \
	  echo "or install Debian's nginx package yourself."; \
	fi

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check app tests bench config.py wsgi.py

clean:
	rm -rf $(VENV) node_modules .pytest_cache .ruff_cache
