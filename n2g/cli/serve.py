"""`n2g serve`: browse and search a store in a web browser, and query it over HTTP (`n2g.serve`).

    n2g serve --db n2g.lbdb                      http://127.0.0.1:8000 (this machine only)
    n2g serve --db bolt://localhost:7687 --port 8080
    n2g serve --db n2g.lbdb --host 0.0.0.0       reachable from other machines: it serves read-only, without login
"""

from __future__ import annotations

import sys

import click

from ingest.store import DEFAULT_DB

DB_HELP = ("LadybugDB file or Neo4j address (neo4j://host:7687, bolt://...; credentials from NEO4J_USER / "
           "NEO4J_PASSWORD); opened read-only")


@click.command(help="Serve a store as a local web app: a search page (a token, a token after its context, a text), "
               "neuron pages (drawn graph, scores beside the baselines, shaded windows, similar neurons, Cypher), "
               "model pages, and a JSON API with n2g-search's searches (/api/search, /openapi.json). Read-only.")
@click.option("--db", default=DEFAULT_DB, show_default=True, help=DB_HELP)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="address to listen on: 127.0.0.1 is this machine only; 0.0.0.0 every network it is on")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--exemplars", "exemplar_dirs", multiple=True, type=click.Path(file_okay=False),
              help="an exemplar directory the graphs were fitted from, for shaded windows on neuron pages "
              "(repeatable; exemplars/ and n2g-work/ beside the store are found by themselves)")
@click.option("--work-dir", "work_dirs", multiple=True, type=click.Path(file_okay=False),
              help="an `n2g ingest` work directory, for its exemplars (repeatable)")
@click.option("--access-log/--no-access-log", default=False, show_default=True, help="print every request")
def serve(db: str, host: str, port: int, exemplar_dirs: tuple[str, ...], work_dirs: tuple[str, ...],
          access_log: bool) -> int:
    import uvicorn

    from n2g.errors import N2GError
    from n2g.serve.app import create_app

    app = create_app(db, exemplar_dirs, work_dirs)
    backend = app.state.backend
    models = backend.models()
    print(f"n2g serve: {backend.location} (read-only), {len(models)} model(s): "
          f"{', '.join(m.name for m in models) or 'none'}", file=sys.stderr, flush=True)
    loaded = backend.preload()
    for info in models:
        windows = "mined windows from " + ", ".join(map(str, backend.exemplar_dirs(info.name))) \
            if backend.exemplar_dirs(info.name) and info.name in loaded else \
            "the stored examples" + (" with predictions" if info.name in loaded else "")
        print(f"  {info.name}: neuron pages show {windows}", file=sys.stderr, flush=True)
    shown = f"[{host}]" if ":" in host else host
    print(f"n2g serve: http://{shown}:{port}/ (Ctrl-C stops)", file=sys.stderr, flush=True)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=access_log,
                            server_header=False)
    server = uvicorn.Server(config)
    try:
        server.run()
    except SystemExit as stop:  # uvicorn exits when it cannot bind
        raise N2GError(f"cannot listen on {host}:{port} (in use, or not an address of this machine)") from stop
    if not server.started:
        raise N2GError(f"cannot listen on {host}:{port} (in use, or not an address of this machine)")
    return 0
