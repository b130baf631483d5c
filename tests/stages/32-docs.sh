#!/usr/bin/env bash
# The documentation site (mkdocs.yml, docs/): `mkdocs build --strict` in a virtualenv of its
# own (.venv-docs, made or refreshed when pyproject.toml changes, with rtio's `docs` extra),
# so a link to a missing page or anchor, a missing included file (the tutorial's code, the
# deploy configs, CHANGELOG.md) or a docstring mkdocstrings cannot render fails the stage.
# Then the tutorial's code: ruff on docs/, and its tests (pytest docs/tutorial) in .venv.
# The site goes to $ARTIFACTS/site.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT"

stamp=".venv-docs/.rtio-stamp"
want="$(sha256sum <pyproject.toml | cut -c1-16)"
if [[ ! -x .venv-docs/bin/python || ! -f $stamp || "$(cat "$stamp")" != "$want" ]]; then
  echo "[docs] creating .venv-docs and installing rtio[docs]"
  [[ -x .venv-docs/bin/python ]] || python3 -m venv .venv-docs || exit 1
  .venv-docs/bin/pip install -q --disable-pip-version-check -e '.[docs]' || exit 1
  echo "$want" >"$stamp"
fi
rc=0
rm -rf "$ARTIFACTS/site"
# NO_MKDOCS_2_WARNING: mkdocs-material's banner about its own future, not about this site
NO_MKDOCS_2_WARNING=1 .venv-docs/bin/mkdocs build --strict --site-dir "$ARTIFACTS/site" \
  >"$ARTIFACTS/mkdocs.log" 2>&1 || rc=1
grep -E "WARNING|ERROR|Aborted|Documentation built" "$ARTIFACTS/mkdocs.log"
[[ $rc -eq 0 ]] || { echo "mkdocs build --strict failed: see above ($ARTIFACTS/mkdocs.log)"; tail -20 "$ARTIFACTS/mkdocs.log"; }
# the API reference really was generated (an empty page would pass the build)
for page in server socket client testing asgi cluster; do
  n=$(grep -o 'class="doc doc-heading"\|doc-heading' "$ARTIFACTS/site/reference/$page/index.html" 2>/dev/null | wc -l)
  [[ $n -gt 0 ]] || { echo "reference/$page: no API entries generated"; rc=1; }
done
.venv/bin/ruff check docs || rc=1
.venv/bin/pytest docs/tutorial -q -p no:cacheprovider || rc=1
exit $rc
