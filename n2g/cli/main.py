"""The `n2g` command: `n2g exemplars` mines max-activating windows, `n2g fit` turns them into graphs,
`n2g show` prints or draws what was mined or fitted, `n2g predict` compares a graph with its neuron on any text.

Errors the user can cause print one line and exit with status 2 (see `n2g.errors`).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from n2g.errors import N2GError

if TYPE_CHECKING:
    from n2g.model.loading import LoadedModel

EXIT_USER_ERROR = 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return run_guarded(lambda: args.handler(args), prog="n2g")


def run_guarded(action: Callable[[], int], prog: str) -> int:
    """Run a command; an `N2GError` (or a missing file) becomes one line on stderr and exit status 2."""
    _quiet_libraries()
    try:
        return action()
    except N2GError as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
    except FileNotFoundError as err:
        print(f"{prog}: error: file not found: {err.filename}", file=sys.stderr)
    except OSError as err:  # permissions, a full disk, a file where a directory should be
        where = f": {err.filename}" if err.filename else ""
        print(f"{prog}: error: {err.strerror or err}{where}", file=sys.stderr)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
    return EXIT_USER_ERROR


def _quiet_libraries() -> None:
    """Library chatter (deprecations, per-tensor progress bars) would bury n2g's own progress output."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")
    warnings.filterwarnings("ignore")
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    for noisy in ("transformers", "transformer_lens", "huggingface_hub", "datasets", "neo4j"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL if noisy == "neo4j" else logging.ERROR)
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    except ImportError:
        pass


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="n2g", description="Neuron to Graph: explain every neuron of a "
                                     "language model as a graph of the tokens and contexts it fires on.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_exemplars(commands)
    _add_fit(commands)
    _add_show(commands)
    _add_predict(commands)
    _add_report(commands)
    from n2g.cli.store import add_commands  # the store commands: ingest, load, export

    add_commands(commands)
    return parser


def add_model_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model")
    group.add_argument("--model", default="smollm2-135m",
                       help="smollm2-135m (offline default), a Hugging Face name (gpt2, EleutherAI/pythia-70m), "
                            "a local HF directory or a .gguf file")
    group.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (cuda when present)")
    group.add_argument("--dtype", default="auto", help="fp32, bf16, fp16 or auto (bf16 on GPU, fp32 on CPU)")
    bos = group.add_mutually_exclusive_group()
    bos.add_argument("--bos", dest="prepend_bos", action="store_true", default=None,
                     help="prepend BOS to every window (default: the model family's own convention)")
    bos.add_argument("--no-bos", dest="prepend_bos", action="store_false", help="never prepend BOS")


def add_corpus_and_neuron_options(parser: argparse.ArgumentParser) -> None:
    """What to mine: the corpus, and which neurons of which layers (`n2g exemplars`, `n2g ingest`)."""
    parser.add_argument("--corpus", default="python-stdlib",
                        help="python-stdlib (offline default), a .txt/.jsonl/.parquet file or directory, "
                             "or a Hugging Face dataset name (NeelNanda/pile-10k)")
    parser.add_argument("--layers", default="all", help="layers, inclusive ranges: 0:4, 0,5,10 or all")
    parser.add_argument("--neurons", default="all", help="neurons of each layer, inclusive ranges: 0:63 or all")


def add_token_matching_option(parser: argparse.ArgumentParser) -> None:
    from n2g.model.token_keys import MATCHING_MODES

    parser.add_argument("--token-matching", choices=MATCHING_MODES, default="exact",
                        help="compare tokens exactly, or normalised (case of title words, surrounding spaces)")


def add_pattern_check_options(parser: argparse._ActionsContainer) -> None:
    """`--end-precision P` and `--no-pattern-check`, for `n2g fit` and `n2g report`."""
    from n2g.fit.pattern_check import DEFAULT_END_PRECISION

    parser.add_argument("--end-precision", type=float, default=DEFAULT_END_PRECISION, metavar="P",
                        help="check patterns on the training windows and half the random windows: a partial "
                             "pattern firing at >= P of its matches there becomes an end (default %(default)s)")
    parser.add_argument("--no-pattern-check", action="store_true",
                        help="keep the patterns as pruning and saliency made them (the paper's way)")


def pattern_check(args: argparse.Namespace) -> float | None:
    if args.no_pattern_check:
        return None
    if not 0.0 < args.end_precision <= 1.0:
        raise N2GError(f"--end-precision must be in (0, 1], got {args.end_precision}")
    return float(args.end_precision)


def add_pipeline_options(parser: argparse.ArgumentParser) -> None:
    """How much to mine and how to fit, for the commands that run the whole pipeline (`n2g ingest`, `n2g report`)."""
    from n2g.fit.augmentation import AUGMENTERS

    parser.add_argument("--max-tokens", type=positive, default=None,
                        help="corpus tokens to mine (default: 200,000 on CPU, 5,000,000 on GPU)")
    parser.add_argument("--top-k", type=positive, default=20, help="exemplar windows kept per neuron")
    parser.add_argument("--augment", choices=AUGMENTERS, default="lm", help="augmentation (see `n2g fit --help`)")
    add_token_matching_option(parser)


def _add_exemplars(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("exemplars", help="mine every neuron's top-k max-activating windows",
                            description="One forward sweep over a corpus that keeps, for every neuron of the "
                            "given layers, its top-k deduplicated max-activating windows with per-token "
                            "activations, its max activation and firing count, and a random window sample. "
                            "Resumes an interrupted run in the same --out directory.")
    add_model_options(p)
    add_corpus_and_neuron_options(p)
    p.add_argument("--text-field", default="text", help="field holding the text in .jsonl/.parquet/datasets")
    p.add_argument("--out", required=True, help="output directory (created; an unfinished run there resumes)")
    p.add_argument("--top-k", type=positive, default=20, help="windows kept per neuron")
    p.add_argument("--window-len", type=positive, default=64, help="tokens per window")
    p.add_argument("--max-tokens", type=positive, default=None, help="stop after this many corpus tokens")
    p.add_argument("--max-windows-per-doc", type=positive, default=None,
                   help="at most this many windows from one document (spreads a token budget over more files)")
    p.add_argument("--batch-size", type=positive, default=32, help="windows per forward pass")
    p.add_argument("--random-windows", type=_non_negative, default=256,
                   help="size of the random window sample kept for out-of-distribution evaluation")
    p.add_argument("--dedup-context", type=positive, default=8,
                   help="windows whose last N tokens up to the neuron's peak are equal count once")
    p.add_argument("--fire-threshold", type=float, default=0.0, help="activation above which a token fired")
    p.add_argument("--seed", type=int, default=0, help="seed of the random window sample")
    p.add_argument("--checkpoint-every", type=float, default=60.0, metavar="SECONDS")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=_run_exemplars)


def _add_fit(commands: argparse._SubParsersAction) -> None:
    from n2g.fit.augmentation import AUGMENTERS, LM_DTYPES

    p = commands.add_parser("fit", help="fit a graph for every neuron from its exemplars",
                            description="Prune, saliency, augmentation, trie and scores for every requested neuron, "
                            "many neurons per forward pass. Writes one JSON graph per neuron to --out; an interrupted "
                            "run resumes there and finished neurons are never redone.")
    add_model_options(p)
    p.set_defaults(model=None)
    p.add_argument("--exemplars", required=True, help="directory written by `n2g exemplars`")
    p.add_argument("--out", required=True, help="graph directory (created; resumes an unfinished fit)")
    p.add_argument("--layers", default="all", help="layers to fit, inclusive ranges (default: all mined)")
    p.add_argument("--neurons", default="all", help="neurons to fit, inclusive ranges (default: all mined)")
    p.add_argument("--augment", choices=AUGMENTERS, default="lm",
                   help="substitutes from the model's own next-token distribution (lm), DistilBERT fill-mask "
                        "(distilbert, needs a local model) or none")
    p.add_argument("--augment-model", default=None, help="local DistilBERT directory for --augment distilbert")
    p.add_argument("--lm-dtype", choices=LM_DTYPES, default="auto",
                   help="dtype of --augment lm's ranking passes: auto = bf16 where the device has it natively, "
                        "model = the model's own (kept variants are always measured in the model's dtype)")
    p.add_argument("--sweep", type=_non_negative, default=64, metavar="N",
                   help="pivot sweep: per source prompt, measure the N substitutes of the pivot the gradient ranks "
                        "best; those that fire become new roots in the source's context (0: off)")
    p.add_argument("--sweep-prompts", type=positive, default=6, metavar="M",
                   help="pivot sweep source prompts per neuron: the strongest of each distinct pivot token")
    add_token_matching_option(p)
    p.add_argument("--max-context", type=positive, default=64, help="tokens before the pivot pruning may keep")
    p.add_argument("--prune-ratio", type=float, default=0.5, help="share of activation a pruned prompt keeps")
    p.add_argument("--post-context", type=_non_negative, default=0, help="tokens after the pivot to keep")
    p.add_argument("--pivots-per-window", type=positive, default=8,
                   help="firing tokens of each training window to explain, strongest first (paper: 1)")
    p.add_argument("--activation-threshold", type=float, default=0.5, help="x a_max for a trie root / firing")
    p.add_argument("--importance-threshold", type=float, default=0.75, help="importance for a context node")
    p.add_argument("--token-budget", type=positive, default=None,
                   help="padded tokens per forward pass (default: 4096 on CPU, 65536 on GPU)")
    p.add_argument("--group-size", type=positive, default=None,
                   help="neurons fitted together and written at once (default: 256 on CPU, 2048 on GPU)")
    p.add_argument("--sequential", action="store_true", help="one neuron at a time (for speed comparisons)")
    add_paper_rule_options(p)
    p.add_argument("--seed", type=int, default=0, help="seed of the train/test split")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=_run_fit)


def add_paper_rule_options(parser: argparse.ArgumentParser) -> None:
    """Where our method departs from the paper's, each choice (`n2g fit`); `--paper-faithful` takes them all."""
    from n2g.fit.fitter import SPLITS
    from n2g.graphs.neuron_graph import NODE_VALUES, PREDICTION_RULES

    group = parser.add_argument_group("method rules (ours first; the paper's second)")
    group.add_argument("--split", choices=SPLITS, default="document",
                       help="held-out windows from documents the graph never saw, or any windows (paper)")
    group.add_argument("--node-values", choices=NODE_VALUES, default="aggregate",
                       help="trie node values over every path, or the first insertion's (paper)")
    group.add_argument("--prediction", choices=PREDICTION_RULES, default="best",
                       help="the largest activation of any complete match, or the longest match's (paper)")
    add_pattern_check_options(group)
    group.add_argument("--paper-faithful", action="store_true",
                       help="the original's settings: window split 10/10, one pivot per window, first-insertion "
                            "values, longest match (overrides the four options above)")


def _add_show(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("show", help="print or draw a neuron's graph, its exemplars, or neurons by peak token",
                            description="With --graphs: a neuron's fitted graph as text, or drawn (svg, png), "
                            "or as dot / json. With --exemplars: its mined windows, or the neurons that peak on a "
                            "token.")
    p.add_argument("neuron_id", nargs="?", metavar="NEURON", help="LAYER:NEURON, e.g. 1:337")
    p.add_argument("--graphs", help="directory written by `n2g fit`")
    p.add_argument("--exemplars", help="directory written by `n2g exemplars`")
    p.add_argument("--neuron", dest="neuron_flag", help=argparse.SUPPRESS)
    p.add_argument("--peak-token", help="list neurons whose top windows mostly peak on this token (--exemplars)")
    p.add_argument("--format", choices=("text", "svg", "png", "dot", "json"), default="text")
    p.add_argument("--out", help="file to write svg/png/dot/json to (default: NEURON.FORMAT; json/dot: stdout)")
    p.add_argument("--top", type=positive, default=5, help="how many windows / neurons to print")
    p.add_argument("--model", default=None, help="model whose tokenizer decodes tokens (default: the miner's)")
    p.set_defaults(handler=_run_show)


def _add_predict(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("predict", help="a graph's prediction next to the neuron's real activation, per token")
    p.add_argument("neuron_id", metavar="NEURON", help="LAYER:NEURON, e.g. 1:337")
    p.add_argument("text", help="the text to predict on ('-' reads stdin)")
    p.add_argument("--graphs", required=True, help="directory written by `n2g fit`")
    add_model_options(p)
    p.set_defaults(model=None)
    p.set_defaults(handler=_run_predict)


def _add_report(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("report", help="score sampled neurons per layer: Table 1, plots and an HTML gallery",
                            description="Samples --neurons-per-layer neurons of each layer (fixed --seed), mines "
                            "their exemplars, fits their graphs and writes report.json, report.md (the paper's "
                            "Table 1 layout), plots/*.png, neurons.csv and gallery.html into --out. Every stage "
                            "resumes after an interruption.")
    add_model_options(p)
    p.add_argument("--corpus", default="python-stdlib", help="as for `n2g exemplars`")
    p.add_argument("--layers", default="0:5", help="layers, inclusive ranges: 0:5, 0,5,10 or all")
    p.add_argument("--neurons-per-layer", type=positive, default=32, help="neurons sampled from each layer")
    p.add_argument("--out", required=True, help="report directory (created; an unfinished report there resumes)")
    p.add_argument("--paper-mode", action="store_true",
                   help="also fit the same neurons with the paper's settings and show both side by side")
    add_pipeline_options(p)
    add_pattern_check_options(p)
    p.add_argument("--examples", type=positive, default=6, help="top windows shown per neuron in the gallery")
    p.add_argument("--no-svg", action="store_true", help="leave the graph drawings out of the gallery")
    p.add_argument("--seed", type=int, default=0, help="seed of the neuron sample, random windows and split")
    p.add_argument("--no-progress", action="store_true", help="no progress output")
    p.set_defaults(handler=_run_report)


def _run_report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from n2g.exemplars.run import default_mining
    from n2g.fit.augmentation import AugmentConfig
    from n2g.fit.fitter import FitConfig
    from n2g.graphs.scoring import format_score
    from n2g.model.loading import load_model
    from n2g.report.run import ReportPlan, run_report
    from n2g.specs import parse_index_spec

    model = load_model(args.model, device=args.device, dtype=args.dtype, prepend_bos=args.prepend_bos)
    layers = parse_index_spec(args.layers, model.n_layers, "layer")
    plan = ReportPlan(model_name=args.model, corpus=args.corpus, layers=layers,
                      neurons_per_layer=args.neurons_per_layer, out=Path(args.out),
                      mining=default_mining(model, layers, None, args.max_tokens, args.top_k, args.seed),
                      fit=FitConfig(seed=args.seed, token_matching=args.token_matching,
                                    augment=AugmentConfig(method=args.augment), end_precision=pattern_check(args)),
                      seed=args.seed, paper_mode=args.paper_mode, examples_per_neuron=args.examples,
                      gallery_svg=not args.no_svg, progress=not args.no_progress)
    report = run_report(model, plan)
    ours = report["overall"]["default"]
    margin = report["comparison"]["default"]["mean_margin_over_token_lookup"]
    print(f"report in {plan.out}: {ours['fitted']} fitted, {ours['dead']} dead, {ours['failed']} failed; held-out "
          f"F1 N2G {format_score(ours['n2g_test_f1'])} vs token lookup {format_score(ours['token_lookup_test_f1'])} "
          f"(margin {format_score(margin)}); see report.md and gallery.html")
    return 0


def positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be zero or more, got {text}")
    return value


def _run_exemplars(args: argparse.Namespace) -> int:
    from n2g.exemplars.miner import MiningConfig
    from n2g.exemplars.run import mine_exemplars
    from n2g.model.loading import load_model
    from n2g.specs import parse_index_spec

    model = load_model(args.model, device=args.device, dtype=args.dtype, prepend_bos=args.prepend_bos)
    layers = parse_index_spec(args.layers, model.n_layers, "layer")
    neurons = None if args.neurons.strip().lower() == "all" else \
        tuple(parse_index_spec(args.neurons, model.d_mlp, "neuron"))
    config = MiningConfig(layers=tuple(layers), neurons=neurons, top_k=args.top_k, window_len=args.window_len,
                          max_tokens=args.max_tokens,
                          max_windows_per_doc=args.max_windows_per_doc, batch_size=args.batch_size,
                          n_random_windows=args.random_windows, dedup_context=args.dedup_context,
                          fire_threshold=args.fire_threshold, seed=args.seed, text_field=args.text_field,
                          checkpoint_every_s=args.checkpoint_every)
    manifest = mine_exemplars(model, args.corpus, args.out, config, progress=not args.no_progress)
    print(f"exemplars for {len(manifest['layers'])} layers x {len(manifest['neurons'])} neurons "
          f"from {manifest['tokens']} tokens ({manifest['windows']} windows) in {args.out}")
    return 0


def _load_recorded_model(args: argparse.Namespace, model: str, prepend_bos: bool) -> LoadedModel:
    """The model (and BOS policy) earlier results were made with, unless the command line overrides them."""
    from n2g.model.loading import load_model

    return load_model(args.model or model, device=args.device, dtype=args.dtype,
                      prepend_bos=prepend_bos if args.prepend_bos is None else args.prepend_bos)


def _run_fit(args: argparse.Namespace) -> int:
    from n2g.exemplars.files import ExemplarSet
    from n2g.fit.augmentation import AugmentConfig
    from n2g.fit.fitter import FitConfig
    from n2g.fit.run import fit_graphs
    from n2g.specs import parse_index_spec

    exemplars = ExemplarSet(args.exemplars)
    settings = exemplars.manifest["settings"]
    model = _load_recorded_model(args, settings["model"], settings["prepend_bos"])
    layers = exemplars.layers if args.layers.strip().lower() == "all" else \
        parse_index_spec(args.layers, model.n_layers, "layer")
    neurons = None if args.neurons.strip().lower() == "all" else parse_index_spec(args.neurons, model.d_mlp, "neuron")
    config = FitConfig(seed=args.seed, max_context=args.max_context, prune_ratio=args.prune_ratio,
                       post_context=args.post_context, pivots_per_window=args.pivots_per_window,
                       activation_threshold=args.activation_threshold,
                       importance_threshold=args.importance_threshold, token_matching=args.token_matching,
                       augment=AugmentConfig(method=args.augment, model=args.augment_model, lm_dtype=args.lm_dtype),
                       token_budget=args.token_budget, group_size=args.group_size, sequential=args.sequential,
                       split=args.split, node_values=args.node_values, prediction=args.prediction,
                       end_precision=pattern_check(args), sweep_candidates=args.sweep,
                       sweep_prompts=args.sweep_prompts)
    if args.paper_faithful:
        config = config.paper_faithful()
    summary = fit_graphs(model, exemplars, args.out, layers, neurons, config, progress=not args.no_progress)
    print(f"graphs in {args.out}: {summary.line()} ({summary.fitted_now} fitted now in {summary.seconds:.1f} s)")
    return 0


def _run_show(args: argparse.Namespace) -> int:
    neuron_id = args.neuron_id or args.neuron_flag
    if args.graphs:
        return _show_graph(args, neuron_id)
    if not args.exemplars:
        raise N2GError("give --graphs DIR (a fitted graph) or --exemplars DIR (mined windows)")
    from n2g.exemplars.display import print_neuron, print_peak_token_neurons
    from n2g.exemplars.files import ExemplarSet

    exemplars = ExemplarSet(args.exemplars)
    if args.peak_token is not None:
        print_peak_token_neurons(exemplars, args.peak_token, args.top, args.model)
    elif neuron_id is not None:
        print_neuron(exemplars, neuron_id, args.top, args.model)
    else:
        raise N2GError("give a NEURON (LAYER:NEURON) or --peak-token TOKEN")
    return 0


def _show_graph(args: argparse.Namespace, neuron_id: str | None) -> int:
    from n2g.graphs.display import graph_summary
    from n2g.graphs.files import GraphDirectory
    from n2g.graphs.rendering import render
    from n2g.specs import parse_neuron_id

    if neuron_id is None:
        raise N2GError("give the NEURON to show, as LAYER:NEURON")
    graph = GraphDirectory(args.graphs).graph(*parse_neuron_id(neuron_id))
    if args.format == "text":
        print(graph_summary(graph))
        return 0
    data = render(graph, args.format)
    out = args.out or (None if args.format in ("json", "dot") else f"neuron_{graph.layer}_{graph.neuron}.{args.format}")
    if out is None or out == "-":
        sys.stdout.write(data.decode("utf-8") + "\n")
        return 0
    with open(out, "wb") as handle:
        handle.write(data)
    print(f"wrote {out}")
    return 0


def _run_predict(args: argparse.Namespace) -> int:
    from n2g.graphs.display import prediction_table
    from n2g.graphs.files import GraphDirectory
    from n2g.specs import parse_neuron_id

    directory = GraphDirectory(args.graphs)
    graph = directory.graph(*parse_neuron_id(args.neuron_id))
    manifest = directory.manifest()
    text = sys.stdin.read() if args.text == "-" else args.text
    model = _load_recorded_model(args, manifest["model"], manifest["prepend_bos"])
    print(prediction_table(graph, model, text))
    return 0


if __name__ == "__main__":
    sys.exit(main())
