"""The `n2g` command: `exemplars` mines max-activating windows, `fit` turns them into graphs, `show` prints or draws
what was mined or fitted, `predict` compares a graph with its neuron on any text, `report` scores sampled neurons;
the store commands (`ingest`, `load`, `export`, `neo4j`) are in `n2g.cli.store`.

Every option's default and help come from the stage's config dataclass (`n2g.cli.options`). Errors the user can
cause print one line and exit with status 2 (`n2g.cli.guard`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from n2g import __version__
from n2g.cli import serve as serve_command
from n2g.cli import store as store_commands
from n2g.cli.guard import run_click
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
from n2g.fit.fitter import FitConfig

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


@click.group(context_settings=CONTEXT, help="Neuron to Graph: explain every neuron of a language model as a graph "
             "of the tokens and contexts it fires on, and search the graphs.")
@click.version_option(__version__, "--version", prog_name="n2g")
def cli() -> None:
    pass


def main(argv: Sequence[str] | None = None) -> int:
    return run_click(cli, argv, prog="n2g")


@cli.command(help="Mine every requested neuron's top-k max-activating windows in one forward sweep (with per-token "
             "activations, its max activation and firing count, and a random window sample). Resumes an "
             "interrupted run in the same --out directory.")
@model_options()
@corpus_option
@layers_option
@neurons_option
@click.option("--out", required=True, help="output directory (created; an unfinished run there resumes)")
@config_options(MiningConfig)
@progress_option
def exemplars(**values: Any) -> int:
    from n2g.exemplars.run import mine_exemplars
    from n2g.model.loading import ModelConfig
    from n2g.specs import parse_neuron_selection, union_of_neurons

    model = build_config(ModelConfig, values).load()
    selection = parse_neuron_selection(values["layers"], values["neurons"], model.n_layers, model.d_mlp)
    neurons = union_of_neurons(selection)
    config = build_config(MiningConfig, values, layers=tuple(selection),
                          neurons=None if len(neurons) == model.d_mlp else tuple(neurons))
    manifest = mine_exemplars(model, values["corpus"], values["out"], config,
                              progress=show_progress(values["progress"]))
    print(f"exemplars for {len(manifest['layers'])} layers x {len(manifest['neurons'])} neurons "
          f"from {manifest['tokens']} tokens ({manifest['windows']} windows) in {values['out']}")
    return 0


@cli.command(help="Prune, saliency, augmentation, trie and scores for every requested neuron, many neurons per "
             "forward pass. Writes one JSON graph per neuron to --out; an interrupted run resumes there and "
             "finished neurons are never redone.")
@model_options(recorded="the exemplars'")
@click.option("--exemplars", "exemplar_dir", required=True, help="directory written by `n2g exemplars`")
@click.option("--out", required=True, help="graph directory (created; resumes an unfinished fit)")
@layers_option
@neurons_option
@config_options(FitConfig)
@click.option("--paper-faithful", is_flag=True, help="the original's settings: window split 10/10, one pivot per "
              "window, first-insertion values, longest match, no pattern check and no sweep (overrides those)")
@progress_option
def fit(**values: Any) -> int:
    from n2g.exemplars.files import ExemplarSet
    from n2g.fit.run import fit_graphs

    exemplars = ExemplarSet(values["exemplar_dir"])
    model = recorded_model(values, exemplars.manifest["settings"])
    layers, neurons = fit_selection(values, exemplars, model.n_layers, model.d_mlp)
    config = fit_config(values)
    summary = fit_graphs(model, exemplars, values["out"], layers, neurons, config,
                         progress=show_progress(values["progress"]))
    print(f"graphs in {values['out']}: {summary.line()} ({summary.fitted_now} fitted now in {summary.seconds:.1f} s)")
    return 0


def fit_selection(values: dict[str, Any], exemplars: Any, n_layers: int, d_mlp: int
                  ) -> tuple[list[int], dict[int, list[int]] | None]:
    """Layers and neurons to fit: by default every mined neuron of every mined layer."""
    from n2g.specs import parse_index_spec, parse_neuron_selection

    if values["neurons"].strip().lower() in ("all", "*"):
        layers = exemplars.layers if values["layers"] is None else parse_index_spec(values["layers"], n_layers, "layer")
        return list(layers), None
    selection = parse_neuron_selection(values["layers"], values["neurons"], n_layers, d_mlp,
                                       default_layers=exemplars.layers)
    return list(selection), selection


def recorded_model(values: dict[str, Any], recorded: dict[str, Any]) -> Any:
    """The model (and BOS policy) earlier results were made with, unless the command line overrides them."""
    from n2g.model.loading import ModelConfig

    config = build_config(ModelConfig, values)
    overrides = {"model": config.model or recorded["model"],
                 "prepend_bos": recorded["prepend_bos"] if config.prepend_bos is None else config.prepend_bos}
    return build_config(ModelConfig, {**values, **overrides}).load()


GRAPH_FORMATS = ("text", "svg", "png", "dot", "json")


@cli.command(help="A neuron's fitted graph as text, drawn (svg, png), or as dot / json, from a graph directory "
             "(--graphs) or a store (--db); or its mined windows (--exemplars), or the neurons whose top windows "
             "peak on a token (--exemplars with --peak-token). Several neurons at once: `n2g show 1:144 0:1501`.")
@click.argument("neurons", nargs=-1, metavar="[NEURON]...")
@click.option("--neuron", "neuron_flags", multiple=True, hidden=True)
@click.option("--graphs", help="directory written by `n2g fit` (or an ingest work directory's graphs/)")
@click.option("--db", help="a store built by `n2g ingest` / `n2g load` (LadybugDB file or Neo4j address)")
@click.option("--exemplars", "exemplar_dir", help="directory written by `n2g exemplars`")
@click.option("--peak-token", help="list neurons whose top windows mostly peak on this token (--exemplars)")
@click.option("--format", "fmt", type=click.Choice(GRAPH_FORMATS), default="text", show_default=True)
@click.option("--out", help="file (one neuron) or directory (several) for svg/png/dot/json "
              "(default: neuron_L_N.FORMAT here; json and dot: stdout)")
@click.option("--top", type=click.IntRange(min=1), default=5, show_default=True,
              help="how many windows / neurons to print")
@click.option("--model", default=None, help="model whose tokenizer decodes tokens (default: the miner's), or the "
              "store's model when it holds several")
def show(**values: Any) -> int:
    from n2g.specs import parse_neuron_id

    refs = [parse_neuron_id(text) for text in (*values["neurons"], *values["neuron_flags"])]
    sources = [name for name in ("graphs", "db", "exemplar_dir") if values[name]]
    if len(sources) != 1:
        raise N2GError("give one of --graphs DIR, --db STORE (fitted graphs) or --exemplars DIR (mined windows)")
    if values["exemplar_dir"]:
        from n2g.exemplars.display import print_neuron, print_peak_token_neurons
        from n2g.exemplars.files import ExemplarSet

        exemplars = ExemplarSet(values["exemplar_dir"])
        if values["peak_token"] is not None:
            print_peak_token_neurons(exemplars, values["peak_token"], values["top"], values["model"])
        elif not refs:
            raise N2GError("give a NEURON (LAYER:NEURON) or --peak-token TOKEN")
        for ref in refs:
            print_neuron(exemplars, ref, values["top"], values["model"])
        return 0
    if not refs:
        raise N2GError("give the NEURON to show, as LAYER:NEURON (several: 1:144 0:1501)")
    with graph_source(values["graphs"], values["db"], values["model"]) as source:
        graphs = [source.graph(ref) for ref in refs]
    _show_graphs(graphs, values["fmt"], values["out"])
    return 0


def _show_graphs(graphs: list[Any], fmt: str, out: str | None) -> None:
    from n2g.graphs.display import graph_summary
    from n2g.graphs.rendering import render

    if fmt == "text":
        print("\n\n".join(graph_summary(graph) for graph in graphs))
        return
    if out in (None, "-") and fmt in ("json", "dot"):
        for graph in graphs:
            sys.stdout.write(render(graph, fmt).decode("utf-8") + "\n")
        return
    if out is not None and len(graphs) > 1:
        Path(out).mkdir(parents=True, exist_ok=True)
    for graph in graphs:
        name = f"neuron_{graph.layer}_{graph.neuron}.{fmt}"
        path = Path(name) if out is None else Path(out) / name if len(graphs) > 1 else Path(out)
        path.write_bytes(render(graph, fmt))
        print(f"wrote {path}")


@cli.command(help="A graph's prediction next to the neuron's real activation, per token of TEXT ('-' reads "
             "stdin), for one or more neurons (the model is loaded once).")
@click.argument("neurons", nargs=-1, required=True, metavar="NEURON... TEXT")
@click.option("--graphs", help="directory written by `n2g fit`")
@click.option("--db", help="a store built by `n2g ingest` / `n2g load`")
@click.option("--text-file", type=click.Path(dir_okay=False, allow_dash=True), help="read TEXT from this file "
              "('-': stdin) instead of the last argument")
@model_options(recorded="the graphs'")
def predict(**values: Any) -> int:
    from n2g.graphs.display import prediction_table
    from n2g.specs import parse_neuron_id

    args = list(values["neurons"])
    if values["text_file"]:
        text = read_text(values["text_file"])
    elif len(args) >= 2:
        text = read_text("-") if args[-1] == "-" else args.pop()
    else:
        raise N2GError("give NEURON... TEXT (or --text-file FILE)")
    refs = [parse_neuron_id(item) for item in args]
    with graph_source(values["graphs"], values["db"], None) as source:
        graphs = [source.graph(ref) for ref in refs]
        model = recorded_model(values, source.model_record(graphs[0].model))
    print("\n\n".join(prediction_table(graph, model, text) for graph in graphs))
    return 0


def read_text(source: str) -> str:
    """Text from a file or stdin ('-'), refused in one line when it is not UTF-8."""
    data = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise N2GError(f"{'stdin' if source == '-' else source} is not UTF-8 text ({err.reason} at byte "
                       f"{err.start})") from err


class graph_source:  # noqa: N801 - used as a context manager, reads like a function
    """Fitted graphs from a graph directory (`--graphs`) or a store (`--db`), and the model they were made with."""

    def __init__(self, graphs: str | None, db: str | None, model: str | None) -> None:
        if bool(graphs) == bool(db):
            raise N2GError("give --graphs DIR (a graph directory) or --db STORE, not both")
        self.model = model
        self.directory = self.search = None
        if graphs:
            from n2g.graphs.files import GraphDirectory

            self.directory = GraphDirectory(graphs)
        else:
            from queries.search import NeuronSearch

            self.search = NeuronSearch(db)

    def __enter__(self) -> graph_source:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.search is not None:
            self.search.close()

    def graph(self, ref: Any) -> Any:
        if self.directory is not None:
            return self.directory.graph(*ref)
        return self.search.graph(str(ref), self.model)

    def model_record(self, model: str) -> dict[str, Any]:
        """What a model load needs: the model spec and its BOS policy, as recorded with the graphs."""
        if self.directory is not None:
            manifest = self.directory.manifest()
            return {"model": manifest["model"], "prepend_bos": manifest["prepend_bos"]}
        return self.search.model_record(model)


@cli.command(help="Score sampled neurons per layer: samples --neurons-per-layer neurons of each layer (fixed "
             "--seed), mines their exemplars, fits their graphs and writes report.json, report.md (the paper's "
             "Table 1 layout), plots/*.png, neurons.csv and gallery.html into --out. Every stage resumes after an "
             "interruption.")
@model_options()
@corpus_option
@click.option("--layers", default="0:5", show_default=True, help="layers, inclusive ranges: 0:5, 0,5,10 or all")
@click.option("--neurons-per-layer", type=click.IntRange(min=1), default=32, show_default=True,
              help="neurons sampled from each layer")
@click.option("--out", required=True, help="report directory (created; an unfinished report there resumes)")
@click.option("--paper-mode", is_flag=True,
              help="also fit the same neurons with the paper's settings and show both side by side")
@config_options(MiningConfig)
@config_options(FitConfig, skip={"seed"})
@click.option("--examples", type=click.IntRange(min=1), default=6, show_default=True,
              help="top windows shown per neuron in the gallery")
@click.option("--no-svg", is_flag=True, help="leave the graph drawings out of the gallery")
@progress_option
def report(**values: Any) -> int:
    from n2g.graphs.scoring import format_score
    from n2g.model.loading import ModelConfig
    from n2g.report.run import ReportPlan, run_report
    from n2g.specs import parse_index_spec

    model = build_config(ModelConfig, values).load()
    layers = parse_index_spec(values["layers"], model.n_layers, "layer")
    plan = ReportPlan(model_name=values["model"], corpus=values["corpus"], layers=layers,
                      neurons_per_layer=values["neurons_per_layer"], out=Path(values["out"]),
                      mining=build_config(MiningConfig, values, layers=tuple(layers)),
                      fit=fit_config(values, seed=values["seed"]), seed=values["seed"],
                      paper_mode=values["paper_mode"], examples_per_neuron=values["examples"],
                      gallery_svg=not values["no_svg"], progress=show_progress(values["progress"]))
    result = run_report(model, plan)
    ours = result["overall"]["default"]
    margin = result["comparison"]["default"]["mean_margin_over_token_lookup"]
    print(f"report in {plan.out}: {ours['fitted']} fitted, {ours['dead']} dead, {ours['failed']} failed; held-out "
          f"F1 N2G {format_score(ours['n2g_test_f1'])} vs token lookup {format_score(ours['token_lookup_test_f1'])} "
          f"(margin {format_score(margin)}); see report.md and gallery.html")
    return 0


for command in store_commands.COMMANDS:
    cli.add_command(command)
cli.add_command(serve_command.serve)  # `n2g serve`: the web app (n2g.serve)

if __name__ == "__main__":
    sys.exit(main())
