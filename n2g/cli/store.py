"""The store commands of `n2g`: `ingest` (exemplars -> graphs -> store), `load` (graph directories -> store),
`export --format neo4j-admin` (CSV files for Neo4j's bulk importer) and `neo4j start|stop|status|import` (a local
Neo4j server without Docker, and its bulk import)."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any

import click

from ingest.store import DEFAULT_DB
from n2g.cli.options import (
    build_config,
    config_options,
    corpus_option,
    fit_config,
    layers_option,
    model_options,
    neurons_option,
    progress_option,
    show_progress,
)
from n2g.errors import N2GError
from n2g.exemplars.miner import MiningConfig
from n2g.exemplars.run import QUANTILES_NOT_CHUNKED
from n2g.fit.fitter import FitConfig

DB_HELP = (f"LadybugDB file (default: {DEFAULT_DB} in the working directory) or a Neo4j address "
           "(neo4j://host:7687, bolt://..., neo4j+s://...; credentials from NEO4J_USER / NEO4J_PASSWORD)")


def store_options(function: Any) -> Any:
    function = click.option("--load-batch", type=click.IntRange(min=1), default=None,
                            help="neurons per store transaction (default: 10,000 for LadybugDB, 1,000 for Neo4j)"
                            )(function)
    return click.option("--db", default=DEFAULT_DB, show_default=True, help=DB_HELP)(function)


def source_options(function: Any) -> Any:
    function = click.option("--graphs", multiple=True, help="a graph directory written by `n2g fit` (repeatable)"
                            )(function)
    return click.option("--work-dir", help="an `n2g ingest` work directory (all its shards)")(function)


@click.command(help="Mine exemplars, fit a graph for every requested neuron and load the graphs into the store. "
               "Re-running the same command after an interruption finishes the job; re-running a finished job "
               "changes nothing.")
@model_options()
@corpus_option
@layers_option
@neurons_option
@click.option("--work-dir", default="n2g-work", show_default=True,
              help="where exemplars and graphs are kept between runs")
@click.option("--shard", help="I/N: take every N-th requested neuron of each layer starting at I "
              "(into WORK/shard-I-of-N), for runs started by hand on several GPUs or machines")
@click.option("--ray", "ray_address", metavar="local|auto|ADDRESS",
              help="run the stages as Ray tasks: local starts a Ray on this machine, auto joins the cluster this "
              "machine is part of, ADDRESS joins that cluster (needs pip install \"n2g[ray]\")")
@click.option("--ray-workers", type=click.IntRange(min=1), default=None,
              help="with --ray: workers (default: one per GPU of the cluster; without GPUs one per CPU up to 4 "
              "CPUs, else one per 4 CPUs)")
@config_options(MiningConfig)
@config_options(FitConfig, skip={"seed"})
@click.option("--paper-faithful", is_flag=True, help="fit with the original's settings (see `n2g fit --help`)")
@store_options
@progress_option
def ingest(**values: Any) -> int:
    from ingest.pipeline import IngestPlan, Shard, mining_config, run_ingest
    from ingest.store import writing_store
    from n2g.model.loading import ModelConfig
    from n2g.specs import parse_neuron_selection, selection_size

    shard = Shard.parse(values["shard"])
    if values["ray_address"] and values["shard"]:
        raise N2GError("--ray spreads the whole job over the cluster's workers; --shard is for runs started by "
                       "hand: give one of them")
    if values["ray_workers"] and not values["ray_address"]:
        raise N2GError("--ray-workers needs --ray")
    if values["ray_address"] and values["quantile_windows"]:
        raise N2GError(QUANTILES_NOT_CHUNKED)
    with writing_store(values["db"]) as store, ExitStack() as stack:
        model_config = build_config(ModelConfig, values)
        workers = None
        if values["ray_address"]:
            from ingest.distributed import RayConfig, RayWorkers

            workers = stack.enter_context(RayWorkers(RayConfig(values["ray_address"], values["ray_workers"]),
                                                     model_config, show_progress(values["progress"])))
            model = workers.driver_model()
        else:
            model = model_config.load()
        selection = shard.take(parse_neuron_selection(values["layers"], values["neurons"], model.n_layers,
                                                      model.d_mlp))
        if not selection_size(selection):
            raise N2GError(f"shard {values['shard']} of --neurons {values['neurons']} is empty: use fewer shards")
        plan = IngestPlan(corpus=values["corpus"], neurons={k: v for k, v in selection.items() if v},
                          work_dir=shard.work_dir(Path(values["work_dir"])), db=values["db"],
                          mining=mining_config(build_config(MiningConfig, values), selection, model.d_mlp),
                          fit=fit_config(values, seed=values["seed"]), load_batch=values["load_batch"],
                          progress=show_progress(values["progress"]))
        print(run_ingest(model, plan, store, workers).line())
    return 0


def _sources(values: dict[str, Any]) -> list[Any]:
    from ingest.store_loader import find_graph_directories, graph_sources

    if bool(values["work_dir"]) == bool(values["graphs"]):
        raise N2GError("give --work-dir DIR (an `n2g ingest` work directory) or --graphs DIR ..., not both")
    directories = find_graph_directories(Path(values["work_dir"])) if values["work_dir"] else \
        [Path(g) for g in values["graphs"]]
    return graph_sources(directories)


@click.command(help="Store every graph of the given graph directories, or of every shard under --work-dir. "
               "Neurons already stored are skipped.")
@source_options
@store_options
@progress_option
def load(**values: Any) -> int:
    from ingest.store import writing_store
    from ingest.store_loader import load_graphs

    sources = _sources(values)
    with writing_store(values["db"]) as store:
        for source in sources:
            result = load_graphs(store, source, values["load_batch"], show_progress(values["progress"]),
                                 f"load {source.directory.dir}")
            print(f"{source.directory.dir}: {result.stored_now} neurons stored now, {result.skipped} already stored")
    return 0


@click.command(help="Write graphs as CSV files for `neo4j-admin database import full`: the fast path for a whole "
               "model's first load into Neo4j (CSV and header files, import.sh with the neo4j-admin command, and "
               "schema.cypher).")
@click.argument("out", metavar="DIR")
@click.option("--format", "fmt", type=click.Choice(["neo4j-admin"]), default="neo4j-admin", show_default=True)
@source_options
def export(**values: Any) -> int:
    from ingest.neo4j_admin_export import export_graphs

    rows = export_graphs(_sources(values), values["out"])
    out = Path(values["out"])
    print(f"wrote {rows:,} rows to {out}; with n2g's local server stopped, load them with: n2g neo4j import {out} "
          f"--home {NEO4J_HOME} (then n2g neo4j start --home {NEO4J_HOME}); into another Neo4j installation: "
          f"{out / 'import.sh'}, then {out / 'schema.cypher'} once it is up")
    return 0


NEO4J_HOME = "n2g-neo4j"


@click.group(help="A local Neo4j Community server without Docker: built once from Maven Central (needs Java 17+ and "
             "Maven), Bolt on 127.0.0.1 with auth on, the password from NEO4J_PASSWORD (8+ characters).")
def neo4j() -> None:
    pass


def home_option(function: Any) -> Any:
    return click.option("--home", default=NEO4J_HOME, show_default=True,
                        help="the server's directory: its data, logs, pid and port files")(function)


@neo4j.command(help="Start the server in the background and wait until it answers Cypher.")
@home_option
@click.option("--port", type=click.IntRange(min=1, max=65535), default=7687, show_default=True,
              help="Bolt port on 127.0.0.1")
@click.option("--heap", default="1g", show_default=True, help="JVM heap (-Xmx)")
@click.option("--pagecache", default="256m", show_default=True, help="Neo4j page cache")
def start(home: str, port: int, heap: str, pagecache: str) -> int:
    from ingest import neo4j_server

    running = neo4j_server.status(home)
    if running is not None:
        print(f"Neo4j already running at {running.uri} (data in {home}, pid {running.pid})")
        return 0
    started = neo4j_server.start(home, port, heap=heap, pagecache=pagecache)
    if started.schema_applied:
        print(f"created the imported store's constraints and indexes ({started.schema_applied} statements)")
    print(f"Neo4j {neo4j_server.NEO4J_VERSION} ready at {started.uri} (data in {home}, pid {started.pid}); "
          f"stop it with: n2g neo4j stop --home {home}")
    return 0


@neo4j.command(help="Stop the server (SIGTERM; its data is kept).")
@home_option
def stop(home: str) -> int:
    from ingest import neo4j_server

    print(f"Neo4j in {home} stopped" if neo4j_server.stop(home) else f"no Neo4j running in {home}")
    return 0


@neo4j.command(help="Whether the server runs, and where it answers (exit 1 when it does not run).")
@home_option
def status(home: str) -> int:
    from ingest import neo4j_server

    running = neo4j_server.status(home)
    if running is None:
        print(f"no Neo4j running in {home}")
        return 1
    print(f"Neo4j running at {running.uri} (data in {home}, pid {running.pid})")
    return 0


@neo4j.command("import", help="Bulk-load an `n2g export --format neo4j-admin` directory with neo4j-admin "
               "(`database import full`): the fastest first load of a whole model. It REPLACES the server's "
               "database, and needs the server stopped; the next `n2g neo4j start` creates the constraints and "
               "indexes (the export's schema.cypher) before it reports ready.")
@click.argument("csv_dir", metavar="CSV_DIR")
@home_option
@click.option("--heap", default="1g", show_default=True, help="neo4j-admin's JVM heap (-Xmx)")
def import_(csv_dir: str, home: str, heap: str) -> int:
    from ingest import neo4j_server

    if neo4j_server.status(home) is not None:
        raise N2GError(f"Neo4j is running in {home}: stop it first (n2g neo4j stop --home {home}); the import "
                       "replaces its database")
    done = neo4j_server.import_export(home, csv_dir, heap=heap)
    print(f"imported {done.nodes:,} nodes and {done.relationships:,} relationships into {home} in "
          f"{done.seconds:.1f} s; start it with: n2g neo4j start --home {home}")
    return 0


COMMANDS: list[click.Command] = [ingest, load, export, neo4j]
