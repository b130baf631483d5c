#!/usr/bin/env bash
# $RTIO_PYTHON for tests/node: the Node helpers run `$RTIO_PYTHON tests/node/socketio_server.py
# ARGS...`; this runs tests/asgi/socketio_server.py ARGS... instead (the same app via ASGI;
# $RTIO_ASGI_SERVER chooses the server).
here="$(cd "$(dirname "$0")" && pwd)"
shift
exec "$here/../../.venv/bin/python" "$here/socketio_server.py" "$@"
