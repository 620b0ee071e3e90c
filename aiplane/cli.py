"""Command-line wiring. Thin by design: each handler imports what it needs when it runs, so
``aiplane --help`` and ``aiplane validate`` start without loading HTTP, hera or the solver.

The wiring is the standard library's ``argparse``: a CLI framework built on type hints (typer,
with its click copy and a pydantic ``TypeAdapter`` per argument) cost ``validate`` about 40 ms of
its start-up, for options that are all strings, flags and a few numbers.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, Literal

from aiplane import __version__
from aiplane.errors import AiplaneError

GC_YOUNG_THRESHOLD = 100_000

Args = argparse.Namespace
Handler = Callable[[Args], int]

_debug = False
DESCRIPTION = (
    "Declarative GitOps for AI infrastructure on Kubernetes: validate, render, plan, apply."
)
DETAIL_HELP = (
    "Show every object's field diff (past 100 objects only destructive ones are shown by default)."
)
REQUEST_TIMEOUT_HELP = (
    "Longest wait for one API request, retries included (30s, 2m; 0: no limit, as kubectl). "
    "Connecting, TLS handshake included, is bounded at 10s."
)


def _run(action: Callable[[], int]) -> int:
    """Run a command body: expected errors become clean messages and exit 1, never tracebacks."""
    try:
        return action()
    except AiplaneError as exc:
        _print_error(exc)
        return 1
    except KeyboardInterrupt:
        print("aiplane: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: say so briefly unless --debug asks for the traceback
        if _debug:
            raise
        print(
            f"aiplane: internal error: {type(exc).__name__}: {exc} (rerun with --debug)",
            file=sys.stderr,
        )
        return 1


def _print_error(exc: AiplaneError) -> None:
    if exc.diagnostics:
        for diagnostic in exc.diagnostics:
            print(diagnostic.format(), file=sys.stderr)
        errors = sum(d.severity == "error" for d in exc.diagnostics)
        print(f"{errors} error(s)", file=sys.stderr)
    else:
        print(f"aiplane: {exc}", file=sys.stderr)


# --- command bodies: each imports its handler when it runs ---------------------------------


def validate(args: Args) -> int:
    from aiplane.commands.validate import validate_files

    return validate_files(args.files)


def init(args: Args) -> int:
    from aiplane.commands.init import write_starter

    return write_starter(args.file, args.name)


def schema(args: Args) -> int:
    from aiplane.stack.jsonschema import stack_json_schema_text

    sys.stdout.write(stack_json_schema_text())
    return 0


def render(args: Args) -> int:
    if args.offline or args.for_ is not None:
        from aiplane.commands.render_offline import offline_render_main

        return offline_render_main(args.files, args.out, args.format, args.for_,
                                   flux_source=args.flux_source)  # fmt: skip
    from aiplane.commands.render import render_main

    if not args.files:
        raise AiplaneError("render: name at least one stack file")
    return render_main(args.files, args.out, args.format)


def diff(args: Args) -> int:
    from aiplane.commands.diff import diff_main

    return diff_main(args.file, args.against)


def plan(args: Args) -> int:
    from aiplane.commands.duration import parse_duration
    from aiplane.commands.plan import plan_main

    output: Literal["human", "json", "markdown"] = (
        "json" if args.as_json else "markdown" if args.markdown else "human"
    )
    return plan_main(
        args.file,
        kubeconfig=args.kubeconfig,
        context=args.context,
        output=output,
        out=args.out,
        detailed_exitcode=args.detailed_exitcode,
        against=args.against,
        allow_disruption=args.allow_disruption,
        allow_delete=args.allow_delete,
        request_timeout=parse_duration(args.request_timeout, "--request-timeout"),
        refresh=args.refresh,
        allow_namespace_delete=args.allow_namespace_delete,
        detail=args.detail,
    )


def apply(args: Args) -> int:
    from aiplane.commands.apply import ApplyControls, apply_main
    from aiplane.commands.duration import parse_duration

    controls = ApplyControls(
        wait=args.wait,
        timeout=None if args.timeout is None else parse_duration(args.timeout, "--timeout"),
        request_timeout=parse_duration(args.request_timeout, "--request-timeout"),
        detail=args.detail,
    )
    return apply_main(
        args.target,
        kubeconfig=args.kubeconfig,
        context=args.context,
        yes=args.yes,
        allow_disruption=args.allow_disruption,
        allow_delete=args.allow_delete,
        allow_namespace_delete=args.allow_namespace_delete,
        lock_timeout=args.lock_timeout,
        controls=controls,
    )


def destroy(args: Args) -> int:
    from aiplane.commands.destroy import destroy_main
    from aiplane.commands.duration import parse_duration

    return destroy_main(
        args.file,
        kubeconfig=args.kubeconfig,
        context=args.context,
        yes=args.yes,
        allow_delete=args.allow_delete,
        lock_timeout=args.lock_timeout,
        request_timeout=parse_duration(args.request_timeout, "--request-timeout"),
    )


def import_(args: Args) -> int:
    from aiplane.commands.import_stack import import_main

    return import_main(args.file, args.addresses, kubeconfig=args.kubeconfig,
                       context=args.context, yes=args.yes,
                       allow_disruption=args.allow_disruption,
                       lock_timeout=args.lock_timeout)  # fmt: skip


def force_unlock(args: Args) -> int:
    from aiplane.commands.duration import parse_duration
    from aiplane.commands.unlock import unlock_main

    seconds = parse_duration(args.request_timeout, "--request-timeout")
    return unlock_main(
        args.file, args.holder, kubeconfig=args.kubeconfig, context=args.context,
        request_timeout=seconds,
    )  # fmt: skip


def rbac(args: Args) -> int:
    from aiplane.commands.rbac import rbac_main

    return rbac_main(args.file, args.purpose, args.service_account)


def lock_update(args: Args) -> int:
    from aiplane.commands.lock import lock_update_main

    return lock_update_main(args.files)


def explain(args: Args) -> int:
    from aiplane.commands.explain import explain_main

    return explain_main(args.file, args.as_json)


def status(args: Args) -> int:
    from aiplane.commands.status import status_main

    return status_main(
        args.file,
        kubeconfig=args.kubeconfig,
        context=args.context,
        as_json=args.as_json,
        watch=args.watch,
        sample_seconds=args.sample_seconds,
    )


# --- the parser ------------------------------------------------------------------------------


class _HelpFormatter(argparse.HelpFormatter):
    """argparse's help, plus ``[default: X]`` for options whose default is worth saying."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if default in (None, False, argparse.SUPPRESS) or not action.option_strings:
            return text
        if "%(default)" in text or "default:" in text:
            return text
        return f"{text} [default: {default}]"


def _command(
    commands: Any, name: str, handler: Handler | None, help_text: str
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        help=help_text.split("\n")[0],
        description=help_text,
        formatter_class=_HelpFormatter,
        allow_abbrev=False,
    )
    parser.set_defaults(handler=handler or _needs_subcommand(parser))
    return parser


def _flag(parser: argparse.ArgumentParser, name: str, help_text: str) -> None:
    """``--name/--no-name``, off by default (the pair the previous typer wiring accepted)."""
    parser.add_argument(name, action=argparse.BooleanOptionalAction, default=False, help=help_text)


def _cluster(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kubeconfig", metavar="PATH", help="Path of the kubeconfig.")
    parser.add_argument("--context", metavar="NAME", help="kubeconfig context.")


def _request_timeout(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--request-timeout", metavar="DURATION", default="30s", help=REQUEST_TIMEOUT_HELP
    )


def _yes(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-y", "--yes", action="store_true", help="Do not ask for confirmation.")


def _lock_timeout(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--lock-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="Seconds to wait for the stack lock.",
    )


def _add_validate_init_schema(commands: Any) -> None:
    p = _command(commands, "validate", validate, "Check stack files: schema, cross-references "
                 "and GPU feasibility. Exit 1 on any error.")  # fmt: skip
    p.add_argument("files", nargs="+", metavar="FILE", help="Stack files to check.")

    p = _command(commands, "init", init,
                 "Write a small, valid starter stack to FILE (refuses to overwrite).")  # fmt: skip
    p.add_argument("file", nargs="?", default="stack.yaml", metavar="FILE",
                   help="Where to write the new stack file. [default: stack.yaml]")  # fmt: skip
    p.add_argument("--name", default="my-stack", help="Stack name (and namespace).")

    _command(commands, "schema", schema,
             "Print the stack file's JSON Schema (for editors and CI).")  # fmt: skip


def _add_render_diff(commands: Any) -> None:
    p = _command(commands, "render", render,
                 "Compile stacks into the manifests the data plane runs on.")  # fmt: skip
    p.add_argument("files", nargs="*", metavar="FILE", help="Stack files to render.")
    p.add_argument("-o", "--out", metavar="DIR", help="Write files into DIR.")
    p.add_argument("--format", choices=("yaml", "json"), default="yaml", help="yaml or json.")
    p.add_argument("--offline", action="store_true",
                   help="Pull-mode GitOps: objects as apply writes them.")  # fmt: skip
    p.add_argument("--for", dest="for_", choices=("plain", "argocd", "flux"),
                   help="With --offline: plain, argocd (sync waves) or flux (-o DIR).")  # fmt: skip
    p.add_argument("--flux-source", default="", metavar="KIND/NAME",
                   help="With --for flux: KIND/NAME of the Flux source.")  # fmt: skip

    p = _command(commands, "diff", diff, "Summarise, in stack terms, what FILE changes against "
                 "another revision (default HEAD).")  # fmt: skip
    p.add_argument("file", metavar="FILE", help="Stack file.")
    p.add_argument("--against", default="HEAD", metavar="REV",
                   help="Git revision, directory of manifests, or 'empty'.")  # fmt: skip


def _add_plan(commands: Any) -> None:
    p = _command(commands, "plan", plan, "Show what apply would change in the live cluster "
                 "(or against another revision).")  # fmt: skip
    p.add_argument("file", metavar="FILE", help="Stack file.")
    _cluster(p)
    p.add_argument("--json", dest="as_json", action="store_true",
                   help="Versioned JSON plan on stdout.")  # fmt: skip
    p.add_argument("--markdown", action="store_true", help="Markdown for PR comments.")
    p.add_argument("--out", metavar="PATH", help="Save the plan for apply.")
    p.add_argument("--detailed-exitcode", action="store_true",
                   help="0 no changes, 2 changes, 3 blocked, 1 error.")  # fmt: skip
    p.add_argument("--against", metavar="REV", help="Plan offline against a git ref, "
                   "a directory of manifests, or 'empty'.")  # fmt: skip
    _flag(p, "--allow-disruption", "Accept node-disruptive changes.")
    _flag(p, "--allow-delete", "Accept deletions and replacements.")
    _request_timeout(p)
    _flag(p, "--refresh", "Resolve every registry reference again and update aiplane.lock.")
    _flag(p, "--allow-namespace-delete", "Accept deleting a Namespace (and all in it).")
    _flag(p, "--detail", DETAIL_HELP)


def _add_apply_destroy(commands: Any) -> None:
    p = _command(commands, "apply", apply, "Apply a plan: server-side apply, staged, pruning "
                 "only what this stack owns.")  # fmt: skip
    p.add_argument("target", metavar="TARGET",
                   help="Stack file, or a plan saved with plan --out.")  # fmt: skip
    _cluster(p)
    _yes(p)
    _flag(p, "--allow-disruption", "Accept node-disruptive changes.")
    _flag(p, "--allow-delete", "Accept deletions (prune) and replacements.")
    _flag(p, "--allow-namespace-delete", "Accept deleting a Namespace (and all in it).")
    _lock_timeout(p)
    p.add_argument("--wait", action=argparse.BooleanOptionalAction, default=None,
                   help="Wait for each stage to become healthy before the next (default: wait; "
                   "AIPLANE_NO_WAIT=1 makes --no-wait the default).")  # fmt: skip
    p.add_argument("--timeout", metavar="DURATION",
                   help="Longest health wait for any one object, e.g. 90s, 10m (default: per "
                   "kind, 15m for a Deployment; AIPLANE_HEALTH_TIMEOUT (seconds) sets it "
                   "instead).")  # fmt: skip
    _request_timeout(p)
    _flag(p, "--detail", DETAIL_HELP)

    p = _command(commands, "destroy", destroy, "Delete everything the stack owns (members only, "
                 "reverse stages, parent last).")  # fmt: skip
    p.add_argument("file", metavar="FILE", help="Stack file (names the stack to delete).")
    _cluster(p)
    _yes(p)
    _flag(p, "--allow-delete", "Required: accept the deletions the plan shows.")
    _lock_timeout(p)
    _request_timeout(p)


def _add_import_unlock_rbac(commands: Any) -> None:
    p = _command(commands, "import", import_, "Adopt existing objects into the stack (plan and "
                 "apply never adopt them on their own).")  # fmt: skip
    p.add_argument("file", metavar="FILE", help="Stack file.")
    p.add_argument("addresses", nargs="+", metavar="ADDRESS",
                   help="Objects to adopt, as plan names them (Kind/ns/name).")  # fmt: skip
    _cluster(p)
    _yes(p)
    _flag(p, "--allow-disruption", "Accept node-disruptive changes.")
    _lock_timeout(p)

    p = _command(commands, "force-unlock", force_unlock, "Break the stack's lock, held by "
                 "HOLDER, when the run holding it is gone.")  # fmt: skip
    p.add_argument("file", metavar="FILE",
                   help="Stack file (names the stack whose lock to break).")  # fmt: skip
    p.add_argument("holder", metavar="HOLDER", help="The holder the lock message named.")
    _cluster(p)
    _request_timeout(p)

    p = _command(commands, "rbac", rbac, "Print the Roles and ClusterRole (least privilege) "
                 "that plan or apply need for FILE.")  # fmt: skip
    p.add_argument("file", metavar="FILE", help="Stack file.")
    p.add_argument("--for", dest="purpose", choices=("plan", "apply"), default="apply",
                   help="The command the permissions are for.")  # fmt: skip
    p.add_argument("--service-account", metavar="NAMESPACE:NAME",
                   help="Also bind the roles to this ServiceAccount (NAMESPACE:NAME).")  # fmt: skip


def _add_explain_status_lock(commands: Any) -> None:
    p = _command(commands, "explain", explain, "Show the GPU placement: per pool GPUs used and "
                 "layouts; per model slice and headroom.")  # fmt: skip
    p.add_argument("file", metavar="FILE", help="Stack file.")
    p.add_argument("--json", dest="as_json", action="store_true", help="JSON output.")

    p = _command(commands, "status", status, "Live state of the stack: control plane, models, "
                 "GPU backlog, queues, pools, metrics.\nExit 0 healthy, 2 unhealthy, "
                 "1 error.")  # fmt: skip
    p.add_argument("file", nargs="?", default="stack.yaml", metavar="FILE",
                   help="Stack file. [default: stack.yaml]")  # fmt: skip
    _cluster(p)
    p.add_argument("--json", dest="as_json", action="store_true",
                   help="Versioned JSON report (format_version 1).")  # fmt: skip
    p.add_argument("--watch", type=float, metavar="SECONDS",
                   help="Refresh every SECONDS until interrupted.")  # fmt: skip
    p.add_argument("--sample-seconds", type=float, default=1.0, metavar="SECONDS",
                   help="Seconds between the two metrics samples tokens/s comes from.")  # fmt: skip

    lock = _command(commands, "lock", None,
                    "The lock file (aiplane.lock): registry references pinned to versions.")  # fmt: skip
    lock_commands = lock.add_subparsers(title="commands", metavar="COMMAND")
    p = _command(lock_commands, "update", lock_update, "Resolve every registry reference again "
                 "and write aiplane.lock beside each stack.")  # fmt: skip
    p.add_argument("files", nargs="+", metavar="FILE",
                   help="Stack files whose references to resolve.")  # fmt: skip


def _needs_subcommand(parser: argparse.ArgumentParser) -> Handler:
    """A group named without its subcommand: its help on stderr, exit 2 (a usage error)."""

    def handler(args: Args) -> int:
        parser.print_help(sys.stderr)
        return 2

    return handler


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: global options, then one subcommand."""
    parser = argparse.ArgumentParser(
        prog="aiplane",
        description=DESCRIPTION,
        formatter_class=_HelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument("--debug", action="store_true", help="Show tracebacks for internal errors.")
    parser.add_argument(
        "--version", action="version", version=f"aiplane {__version__}", help="Print the version."
    )
    parser.add_argument(
        "--no-color", action="store_true", help="No colour in any output (as NO_COLOR=1 does)."
    )
    parser.set_defaults(handler=_needs_subcommand(parser))
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    _add_validate_init_schema(commands)
    _add_render_diff(commands)
    _add_plan(commands)
    _add_apply_destroy(commands)
    _add_import_unlock_rbac(commands)
    _add_explain_status_lock(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point: parse, run the command, exit with its code (always raises
    ``SystemExit``; usage errors exit 2)."""
    global _debug
    # A short-lived process that builds many objects and keeps them: a young-generation pass of
    # the cyclic collector every 100,000 allocations, not 700 (74 passes were 13-21 ms of
    # `validate stacks/seed.yaml`; cycles are still collected).
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    args = build_parser().parse_args(list(argv) if argv is not None else None)
    _debug = args.debug
    if args.no_color:
        os.environ["NO_COLOR"] = "1"  # every rich console honours it
    handler: Handler = args.handler
    raise SystemExit(_run(lambda: handler(args)))


if __name__ == "__main__":
    main()
