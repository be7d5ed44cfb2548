"""The store commands of `n2g`: `ingest` (exemplars -> graphs -> store), `load` (graph directories -> store) and
`export --format neo4j-admin` (CSV files for Neo4j's bulk importer)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from ingest.store import DEFAULT_DB, GraphStore, open_store
from ingest.store_loader import GraphSource
from n2g.cli.main import add_corpus_and_neuron_options, add_model_options, add_pipeline_options, positive
from n2g.errors import N2GError

if TYPE_CHECKING:
    from ingest.pipeline import Coverage, Shard

DB_HELP = (f"LadybugDB file (default: {DEFAULT_DB} in the working directory) or a Neo4j address "
           "(neo4j://host:7687, bolt://..., neo4j+s://...; credentials from NEO4J_USER / NEO4J_PASSWORD)")


def add_commands(commands: argparse._SubParsersAction) -> None:
    _add_ingest(commands)
    _add_load(commands)
    _add_export(commands)


def _add_ingest(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("ingest", help="exemplars -> graphs -> store for every requested neuron, resumable",
                            description="Mine exemplars, fit a graph for every requested neuron and load the graphs "
                            "into the store. Re-running the same command after an interruption finishes the job; "
                            "re-running a finished job changes nothing.")
    add_model_options(p)
    add_corpus_and_neuron_options(p)
    p.add_argument("--work-dir", default="n2g-work", help="where exemplars and graphs are kept between runs")
    p.add_argument("--shard", help="I/N: take every N-th requested neuron starting at I (into WORK/shard-I-of-N)")
    add_pipeline_options(p)
    p.add_argument("--seed", type=int, default=0, help="seed of the random windows and the train/test split")
    _add_store_options(p)
    p.set_defaults(handler=_run_ingest)


def _add_load(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("load", help="load graph directories (from `n2g fit` or `n2g ingest`) into a store",
                            description="Store every graph of the given graph directories, or of every shard "
                            "under --work-dir. Neurons already stored are skipped.")
    _add_sources(p)
    _add_store_options(p)
    p.set_defaults(handler=_run_load)


def _add_export(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("export", help="write graphs as CSV files for `neo4j-admin database import full`",
                            description="The fast path for a whole model's first load into Neo4j: CSV and header "
                            "files, import.sh with the neo4j-admin command, and schema.cypher.")
    p.add_argument("out", metavar="DIR", help="directory to write (created)")
    p.add_argument("--format", choices=("neo4j-admin",), default="neo4j-admin")
    _add_sources(p)
    p.set_defaults(handler=_run_export)


def _add_store_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", default=DEFAULT_DB, help=DB_HELP)
    p.add_argument("--load-batch", type=positive, default=None,
                   help="neurons per store transaction (default: 10,000 for LadybugDB, 1,000 for Neo4j)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def _add_sources(p: argparse.ArgumentParser) -> None:
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--work-dir", help="an `n2g ingest` work directory (all its shards)")
    source.add_argument("--graphs", nargs="+", help="graph directories written by `n2g fit`")


def _run_ingest(args: argparse.Namespace) -> int:
    from ingest.pipeline import Shard

    shard = Shard.parse(args.shard)
    with open_store(args.db) as store:
        print(_ingest(args, shard, store).line())
    return 0


def _ingest(args: argparse.Namespace, shard: Shard, store: GraphStore) -> Coverage:
    from ingest.pipeline import IngestPlan, default_fit, run_ingest
    from n2g.exemplars.run import default_mining
    from n2g.model.loading import load_model
    from n2g.specs import parse_index_spec

    model = load_model(args.model, device=args.device, dtype=args.dtype, prepend_bos=args.prepend_bos)
    layers = parse_index_spec(args.layers, model.n_layers, "layer")
    neurons = shard.take(parse_index_spec(args.neurons, model.d_mlp, "neuron"))
    if not neurons:
        raise N2GError(f"shard {args.shard} of --neurons {args.neurons} is empty: use fewer shards")
    mining = default_mining(model, layers, None if len(neurons) == model.d_mlp else neurons, args.max_tokens,
                            args.top_k, args.seed)
    plan = IngestPlan(corpus=args.corpus, layers=layers, neurons=neurons, work_dir=shard.work_dir(Path(args.work_dir)),
                      db=args.db, mining=mining, fit=default_fit(args.augment, args.token_matching, args.seed),
                      load_batch=args.load_batch, progress=not args.no_progress)
    return run_ingest(model, plan, store)


def _sources(args: argparse.Namespace) -> list[GraphSource]:
    from ingest.store_loader import find_graph_directories, graph_sources

    directories = find_graph_directories(Path(args.work_dir)) if args.work_dir else [Path(g) for g in args.graphs]
    return graph_sources(directories)


def _run_load(args: argparse.Namespace) -> int:
    from ingest.store_loader import load_graphs

    sources = _sources(args)
    with open_store(args.db) as store:
        for source in sources:
            result = load_graphs(store, source, args.load_batch, not args.no_progress, f"load {source.directory.dir}")
            print(f"{source.directory.dir}: {result.stored_now} neurons stored now, {result.skipped} already stored")
    return 0


def _run_export(args: argparse.Namespace) -> int:
    from ingest.neo4j_admin_export import export_graphs

    rows = export_graphs(_sources(args), args.out)
    print(f"wrote {rows} rows to {args.out}; load them with {Path(args.out) / 'import.sh'}")
    return 0
