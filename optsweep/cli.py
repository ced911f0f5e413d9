"""The command line: argparse wiring; the work is done elsewhere.

Bad input (a sweep file, an argument, a results directory) prints one line,
``optsweep: error: ...``, and exits with code 2, without a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import shlex
import signal
import sys
import time
from pathlib import Path

from . import __version__, interrupts
from .errors import ConfigError, OptsweepError

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, no usage dump
        self.exit(EXIT_USAGE, f"optsweep: error: {message} (see: {self.prog} --help)\n")


def _positive_int(name: str, low: int = 1, why: str = ""):
    def parse(s: str) -> int:
        try:
            v = int(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be an integer (got {s!r})") from None
        if v < low:
            raise argparse.ArgumentTypeError(f"{name} must be >= {low}{why} (got {v})")
        return v

    return parse


def _n_jobs(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--n-jobs must be an integer (got {s!r})") from None
    if v == 0 or v < -1:
        raise argparse.ArgumentTypeError(f"--n-jobs must be -1 (all cores) or >= 1 (got {v})")
    return v


def _vectorize(s: str) -> int | str:
    if s == "auto":
        return s  # resolved for the sweep's sampler (config.auto_vectorize)
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--vectorize must be an integer or 'auto' (got {s!r})"
        ) from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"--vectorize must be >= 1 (got {v})")
    return v


def _seconds(s: str) -> float:
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--timeout must be a number of seconds (got {s!r})"
        ) from None
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"--timeout must be > 0 seconds (got {s})")
    return v


def _results_arg(p: argparse.ArgumentParser, many: bool = False) -> None:
    p.add_argument(
        "results",
        nargs="+" if many else None,
        help="a results directory, e.g. results/quickstart",
    )


def _run_options(p: argparse.ArgumentParser) -> None:
    """The options of ``run`` (and ``worker``)."""
    p.add_argument("sweep", help="a sweep file, e.g. sweeps/quickstart.toml")
    p.add_argument("-n", "--n-jobs", type=_n_jobs, help="worker processes (-1: all cores)")
    p.add_argument(
        "--trials",
        type=_positive_int("--trials"),
        metavar="N",
        help="trial budget of the study (its trials in all, not this run's)",
    )
    p.add_argument(
        "--timeout", type=_seconds, metavar="S", help="stop asking for trials after S seconds"
    )
    p.add_argument(
        "--storage", help="an Optuna storage URL (default: a journal file in the results)"
    )
    p.add_argument(
        "--deterministic",
        action="store_true",
        default=None,
        help="reproducible study whatever n_jobs (batched ask/tell in trial order)",
    )
    p.add_argument("--backend", choices=("loky", "dask"), help="where trials run (loky)")
    p.add_argument("--scheduler", metavar="URL", help="the Dask scheduler, tcp://HOST:PORT")
    p.add_argument(
        "--heartbeat",
        type=_positive_int("--heartbeat"),
        metavar="S",
        help="server storage: seconds between heartbeats of running trials (10)",
    )
    p.add_argument(
        "--grace-period",
        type=_positive_int("--grace-period"),
        metavar="S",
        help="server storage: silence after which a running trial is lost (3x)",
    )
    p.add_argument(
        "--vectorize",
        type=_vectorize,
        metavar="K",
        help="ask K trials at once and train them as NumPy populations, one per batch size"
        " ('auto': 64 with TPE, CMA-ES, GP or NSGA-II; the whole budget, up to 1024, with"
        " random, grid or QMC sampling); with a timeout, fewer where the run's pace would"
        " not finish K before it",
    )
    p.add_argument("--results-root", default="results", help="where studies go (default: results)")
    p.add_argument("--no-report", action="store_true", help="do not write the report at the end")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="optsweep",
        description="Hyperparameter sweeps for NumPy neural networks (Optuna, joblib, pandas).",
    )
    # -q/-v work before or after the command; after it they must not reset the
    # value given before it, hence SUPPRESS as the subcommands' default
    quiet = "no progress bar, errors only"
    verbose = "more logging (run: a line per trial; -vv: debug)"
    parser.add_argument("-q", "--quiet", action="store_true", help=quiet)
    parser.add_argument("-v", "--verbose", action="count", default=0, help=verbose)
    parser.add_argument("--version", action="version", version=f"optsweep {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help=quiet)
    common.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS, help=verbose)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub_kw = {"parents": [common]}

    run = sub.add_parser(
        "run",
        **sub_kw,
        help="run or resume a sweep",
        description=(
            "Run the sweep file's study, or resume it up to its budget. Writes the study, "
            "the trials and curves tables and the report to RESULTS_ROOT/NAME/."
        ),
    )
    _run_options(run)

    wk = sub.add_parser(
        "worker",
        **sub_kw,
        help="join a shared study (server storage) and run trials until its budget is met",
        description="Run trials of the sweep's study on a server storage shared by workers on "
        "any number of hosts; every worker's trials count towards the budget. Same options "
        "as run; --storage is required.",
    )
    _run_options(wk)

    st = sub.add_parser(
        "status", **sub_kw, help="trials by state, why trials failed, best trial, time spent"
    )
    _results_arg(st, many=True)

    ex = sub.add_parser(
        "export", **sub_kw, help="rebuild the trials and curves tables from the storage"
    )
    _results_arg(ex, many=True)
    ex.add_argument(
        "--format", choices=("parquet", "csv"), help="table format (default: the sweep's)"
    )

    cf = sub.add_parser(
        "confirm",
        **sub_kw,
        help="retrain the top configurations with fresh seeds (mean, sd, 95%% interval)",
    )
    _results_arg(cf)
    cf.add_argument("--top", type=_positive_int("--top"), default=3, help="configurations (3)")
    cf.add_argument(
        "--seeds",
        type=_positive_int("--seeds", 2, " (a spread needs two runs)"),
        default=5,
        help="seeds each (5)",
    )
    cf.add_argument(
        "-n", "--n-jobs", type=_n_jobs, default=-1, help="worker processes (-1: all cores)"
    )

    rp = sub.add_parser(
        "report",
        **sub_kw,
        help="write RESULTS/report/ (plots, report.md, report.html)",
        description="Regenerate the report from the stored tables; with several "
        "results directories, also compare them side by side.",
    )
    _results_arg(rp, many=True)
    rp.add_argument("--out", help="with several studies: where the comparison goes")
    rp.add_argument(
        "-n",
        "--n-jobs",
        type=_n_jobs,
        default=-1,
        help="processes drawing the figures (-1: all cores)",
    )
    return parser


#: what :func:`main` returns for Ctrl-C, as a shell reports a death by SIGINT
EXIT_INTERRUPTED = 128 + signal.SIGINT


def entry() -> None:
    """The ``optsweep`` command (and ``python -m optsweep``): :func:`main`,
    ending after Ctrl-C as killed by SIGINT, which a shell tells from an
    exit with status 130: a loop such as ``for s in sweeps/*.toml; do
    optsweep run $s; done`` then stops rather than starting the next sweep
    (https://www.cons.org/cracauer/sigint.html; Python does the same for an
    uncaught KeyboardInterrupt).

    SIGTERM (``kill PID``, ``timeout``, a batch scheduler's stop) stops the
    command as Ctrl-C does, the finished trials kept and the tables written,
    and it exits with status 143 (128 + SIGTERM)."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not an ignored one
        signal.signal(signal.SIGINT, _on_sigint)
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _on_sigint)
    code = main()
    if code == EXIT_INTERRUPTED:
        for s in (signal.SIGINT, signal.SIGTERM):  # ending: another changes nothing
            signal.signal(s, signal.SIG_IGN)
        _stop_workers()
        if interrupts.taken == signal.SIGTERM:
            sys.exit(128 + signal.SIGTERM)
        # Python ends a process whose KeyboardInterrupt went uncaught so,
        # after its clean-up (atexit: joblib's worker pool and memory maps);
        # main has said what happened, so no traceback
        sys.excepthook = _quiet_interrupt
        raise KeyboardInterrupt
    sys.exit(code)


def _stop_workers() -> None:
    """End the worker processes still alive after a Ctrl-C or SIGTERM. They
    ignore both (the main process handles them, :class:`~.pool.PoolStart`), and joblib
    ends them as it unwinds; but a second Ctrl-C (pressed twice, or ``timeout
    -s INT``, which signals the command and then its group) can cut that
    short, and Python's exit then waited for them for ever (multiprocessing
    joins its children at exit)."""
    import multiprocessing
    import threading

    for p in multiprocessing.active_children():
        with contextlib.suppress(ProcessLookupError):  # gone already
            os.kill(p.pid, signal.SIGKILL)  # they ignore SIGINT and SIGTERM
        p.join(timeout=5)  # returns at once for one that joblib has reaped
    # The pool's queue feeders are daemon threads, which Python freezes at
    # exit wherever they are: one ending just then, half-way through its
    # queue's lock finalizers (the semaphore unlinked, not yet unregistered),
    # made loky's resource tracker print warnings of a leaked semaphore.
    # They end once joblib has closed their queues, within milliseconds.
    deadline = time.monotonic() + 2.0
    for t in threading.enumerate():
        if t.daemon and t.name == "QueueFeederThread":
            t.join(timeout=max(deadline - time.monotonic(), 0))


_sigint_seen = False


def _on_sigint(signum: int, frame: object) -> None:
    """Python's own Ctrl-C handler (for SIGTERM too), remembering the
    interrupt: one raised inside a weakref callback while a module imports is
    only printed ("Exception ignored in ... KeyboardInterrupt") and the
    command would go on to run the whole sweep; :func:`_cmd_run` raises it
    again first. The same press delivered twice is taken once
    (:func:`~.interrupts.new_press`)."""
    global _sigint_seen
    if not interrupts.new_press(signum):  # the same Ctrl-C again: taken already
        return
    _sigint_seen = True
    raise KeyboardInterrupt


def _quiet_interrupt(kind, value, tb) -> None:
    if not issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, value, tb)


def main(argv: list[str] | None = None) -> int:
    # Optuna's importance package imports scikit-learn's ensembles whenever
    # scikit-learn is installed, for its fANOVA evaluator, which optsweep does
    # not use (its importances are PED-ANOVA's): 0.7 s of every report. This
    # process never needs them; their import fails here, which Optuna allows.
    sys.modules.setdefault("sklearn.ensemble", None)
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * args.verbose if not args.quiet else logging.ERROR
    logging.basicConfig(
        level=max(level, logging.DEBUG), format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return _COMMANDS[args.command](args)
    except (ConfigError, FileNotFoundError, NotADirectoryError) as e:
        msg = (
            str(e)
            if not isinstance(e, OSError) or not e.filename
            else f"{e.filename}: {e.strerror}"
        )
        print(f"optsweep: error: {msg}", file=sys.stderr)
        return EXIT_USAGE
    except OptsweepError as e:
        print(f"optsweep: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # before a sweep starts, or while a report is drawn
        print("optsweep: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `optsweep status ... | head -1`: the reader has gone
        # no traceback, and none again when Python flushes stdout at exit
        # (the recipe of Python's documentation of SIGPIPE)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 128 + signal.SIGPIPE


def _cmd_run(args) -> int:
    from .config import auto_vectorize, check_vectorize, load_sweep
    from .results import INTERRUPTED
    from .runner import budget_met, nothing_to_run, run_sweep

    sweep = load_sweep(args.sweep)
    overrides = {}
    if args.n_jobs is not None:
        overrides["n_jobs"] = args.n_jobs
    if args.trials is not None:
        overrides["n_trials"] = args.trials
    if args.timeout is not None:
        overrides["timeout"] = args.timeout
    if args.storage:
        overrides["storage"] = args.storage
    if args.deterministic:
        overrides["deterministic"] = True
    if args.vectorize == "auto":
        overrides["vectorize"] = auto_vectorize(sweep.study.sampler)
    elif args.vectorize is not None:
        overrides["vectorize"] = args.vectorize
    for key in ("backend", "scheduler", "heartbeat", "grace_period"):
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    if args.command == "worker":
        overrides.setdefault("report", False)
    if args.no_report:
        overrides["report"] = False
    sweep = sweep.with_overrides(**overrides)
    if args.vectorize is not None:  # named as the user gave it
        check_vectorize(sweep, "--vectorize", args.vectorize)
    from tqdm.contrib.logging import logging_redirect_tqdm

    if _sigint_seen:  # a Ctrl-C that an import swallowed (see _on_sigint)
        raise KeyboardInterrupt
    # log lines (a trial's with -v, warnings) above the progress bar, not through it
    with logging_redirect_tqdm() if not args.quiet else contextlib.nullcontext():
        s = run_sweep(sweep, root=args.results_root, progress=not args.quiet)
    c = s.counts
    best = "none yet" if s.best_value is None else f"{s.best_value:.6g}"
    if not args.quiet:
        # interrupted or lost trials apart from failures, as optsweep status shows them
        again = ""
        if c[INTERRUPTED]:
            todo = f"{s.pending} to run again on resume" if s.pending else "all run again since"
            again = f", {c[INTERRUPTED]} interrupted or lost ({todo})"
        print(
            f"{sweep.name}: {s.ran} trial(s) this run in {s.seconds:.1f} s; study has "
            f"{c['COMPLETE']} complete, {c['PRUNED']} pruned, {c['FAIL']} failed{again}; "
            f"best {sweep.study.metrics[0]} {best}"
        )
        if (done := budget_met(s, sweep)) is not None:
            print(nothing_to_run(sweep, done))
        for line in _best_per_optimizer(s.directory):
            print(line)
        print(f"results: {s.directory}/")
    if s.interrupted:
        print(
            f"interrupted: finished trials are kept; run `{_resume_command(args)}` to resume",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    if sweep.execution.report and not s.interrupted:
        # drawn by the sweep's worker processes, still running
        n_jobs = -1 if sweep.execution.backend == "dask" else sweep.execution.n_jobs
        _write_report([s.directory], None, args.quiet, n_jobs)
    return 0


def _best_per_optimizer(directory: Path) -> list[str]:
    """``  adam      0.94 (trial 2)`` lines from the trials table, then why
    trials failed (``failed: gd diverged 2 (lr 0.8-0.9)``), if some did."""
    from .analysis import best_per_optimizer, without_complete
    from .results import load
    from .status import failure_line

    res = load(directory)  # its table knows the study's direction
    best = best_per_optimizer(res.trials)
    why = failure_line(res.trials)
    if best.empty:
        return [why] if why else []
    values = [f"{v:.6g}" for v in best["value"]]
    width = max(map(len, values))
    lines = [f"best {res.meta['metrics'][0]} per optimizer:"]
    for r, v in zip(best.itertuples(), values):
        lines.append(f"  {r.optimizer:<9} {v:<{width}}  (trial {r.number})")
    for r in without_complete(res.trials).itertuples():  # said, not left out
        lines.append(f"  {r.optimizer:<9} no complete trial ({r.trials})")
    return [*lines, why] if why else lines


def _write_report(dirs: list[Path], out: str | None, quiet: bool, n_jobs: int = -1) -> None:
    from .report import write_report

    for path in write_report(dirs, out, n_jobs):
        if not quiet:
            print(f"report: {path}")


def _resume_command(args) -> str:
    """The command that resumes an interrupted run: the same one, with the
    options that say where the study is and its budget (a URL's password
    masked)."""
    from .storage import shown

    parts = ["optsweep", args.command, args.sweep]
    if args.storage:
        parts += ["--storage", shown(args.storage)]
    if args.results_root != "results":
        parts += ["--results-root", args.results_root]
    if args.trials:
        parts += ["--trials", str(args.trials)]
    return shlex.join(parts)


def _studies_given(args) -> list[Path]:
    """The results directories given: ``results/*`` also names the results
    README and the comparisons there, which are left out, saying so, when
    studies remain (two or more); a path that does not exist stays, and is
    an error."""
    dirs = list(dict.fromkeys(Path(d) for d in args.results))
    studies = [d for d in dirs if (d / "meta.json").exists()]
    others = [d for d in dirs if d.exists() and d not in studies]
    if len(studies) >= 2 and others:
        dirs = [d for d in dirs if d not in others]
        if not args.quiet:
            print(
                f"left out, not results directories: {', '.join(map(str, others))}",
                file=sys.stderr,
            )
    return dirs


def _cmd_status(args) -> int:
    from .status import status_text

    print("\n\n".join(status_text(d) for d in _studies_given(args)))
    return 0


def _cmd_export(args) -> int:
    from .status import export

    for d in _studies_given(args):
        for p in export(d, args.format):
            print(f"wrote {p}")
    return 0


def _cmd_report(args) -> int:
    dirs = _studies_given(args)
    if args.out and len({d.resolve() for d in dirs}) < 2:
        raise ConfigError(
            "--out is where the comparison of several studies goes; a study's own report "
            f"goes to {dirs[0] / 'report'} (got {args.out!r})"
        )
    from .status import export_if_missing

    for d in dirs:  # write_report says which is not a results directory
        if export_if_missing(d) and not args.quiet:  # a report of a run in progress
            print(f"{d}: tables written from the study's storage")
    _write_report(dirs, args.out, args.quiet, args.n_jobs)
    return 0


def _cmd_confirm(args) -> int:
    import joblib

    from .confirm import confirm, summary_text

    n_jobs = joblib.cpu_count() if args.n_jobs == -1 else args.n_jobs
    runs = confirm(Path(args.results), args.top, args.seeds, n_jobs)
    if not args.quiet:
        from .results import load

        res = load(Path(args.results))
        print(summary_text(runs, res.trials, res.meta))
    _write_report([Path(args.results)], None, args.quiet, n_jobs)
    return 0


def _cmd_worker(args) -> int:
    if not args.storage or "://" not in args.storage:
        raise ConfigError(
            "worker needs --storage with a server URL shared by the workers, e.g. "
            "postgresql+psycopg://USER:PASSWORD@HOST/DB "
            + (f"(got {args.storage!r})" if args.storage else "(not set)")
        )
    return _cmd_run(args)


_COMMANDS = {
    "worker": _cmd_worker,
    "run": _cmd_run,
    "status": _cmd_status,
    "export": _cmd_export,
    "report": _cmd_report,
    "confirm": _cmd_confirm,
}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
