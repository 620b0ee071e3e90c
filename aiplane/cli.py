"""Command-line wiring. Thin by design: each handler imports what it needs when it runs, so
``aiplane --help`` and ``aiplane validate`` start without loading HTTP, hera or the solver."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Annotated, Literal

import typer

from aiplane import __version__
from aiplane.errors import AiplaneError

app = typer.Typer(
    name="aiplane",
    help="Declarative GitOps for AI infrastructure on Kubernetes: validate, render, plan, apply.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

_debug = False
DETAIL_HELP = (
    "Show every object's field diff (past 100 objects only destructive ones are shown by default)."
)

RequestTimeout = Annotated[
    str,
    typer.Option(
        "--request-timeout",
        help="Longest wait for one API request, retries included (30s, 2m; 0: no limit, as "
        "kubectl). Connecting, TLS handshake included, is bounded at 10s.",
    ),
]


class OutputFormat(StrEnum):
    yaml = "yaml"
    json = "json"


def _run(action: Callable[[], int]) -> None:
    """Run a command body: expected errors become clean messages and exit 1, never tracebacks."""
    try:
        code = action()
    except AiplaneError as exc:
        _print_error(exc)
        code = 1
    except KeyboardInterrupt:
        print("aiplane: interrupted", file=sys.stderr)
        code = 130
    except Exception as exc:  # a bug: say so briefly unless --debug asks for the traceback
        if _debug:
            raise
        print(
            f"aiplane: internal error: {type(exc).__name__}: {exc} (rerun with --debug)",
            file=sys.stderr,
        )
        code = 1
    raise typer.Exit(code)


def _print_error(exc: AiplaneError) -> None:
    if exc.diagnostics:
        for diagnostic in exc.diagnostics:
            print(diagnostic.format(), file=sys.stderr)
        errors = sum(d.severity == "error" for d in exc.diagnostics)
        print(f"{errors} error(s)", file=sys.stderr)
    else:
        print(f"aiplane: {exc}", file=sys.stderr)


def _version(value: bool) -> None:
    if value:
        print(f"aiplane {__version__}")
        raise typer.Exit(0)


@app.callback()
def main_options(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks for internal errors.")
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
    no_color: Annotated[
        bool, typer.Option("--no-color", help="No colour in any output (as NO_COLOR=1 does).")
    ] = False,
) -> None:
    global _debug
    _debug = debug
    if no_color:
        os.environ["NO_COLOR"] = "1"  # every rich console honours it


@app.command()
def validate(
    files: Annotated[list[str], typer.Argument(help="Stack files to check.")],
) -> None:
    """Check stack files: schema, cross-references and GPU feasibility. Exit 1 on any error."""

    def body() -> int:
        from aiplane.commands.validate import validate_files

        return validate_files(files)

    _run(body)


@app.command()
def init(
    file: Annotated[str, typer.Argument(help="Where to write the new stack file.")] = "stack.yaml",
    name: Annotated[str, typer.Option(help="Stack name (and namespace).")] = "my-stack",
) -> None:
    """Write a small, valid starter stack to FILE (refuses to overwrite)."""

    def body() -> int:
        from aiplane.commands.init import write_starter

        return write_starter(file, name)

    _run(body)


@app.command()
def schema() -> None:
    """Print the stack file's JSON Schema (for editors and CI)."""

    def body() -> int:
        from aiplane.stack.jsonschema import stack_json_schema_text

        sys.stdout.write(stack_json_schema_text())
        return 0

    _run(body)


class PullTarget(StrEnum):
    plain = "plain"
    argocd = "argocd"
    flux = "flux"


@app.command()
def render(
    files: Annotated[list[str] | None, typer.Argument(help="Stack files to render.")] = None,
    out: Annotated[str | None, typer.Option("-o", "--out", help="Write files into DIR.")] = None,
    output_format: Annotated[
        OutputFormat, typer.Option("--format", help="yaml or json.")
    ] = OutputFormat.yaml,
    offline: Annotated[
        bool, typer.Option("--offline", help="Pull-mode GitOps: objects as apply writes them.")
    ] = False,
    for_: Annotated[
        PullTarget | None,
        typer.Option("--for", help="With --offline: plain, argocd (sync waves) or flux (-o DIR)."),
    ] = None,
    flux_source: Annotated[
        str, typer.Option(help="With --for flux: KIND/NAME of the Flux source.")
    ] = "",
) -> None:
    """Compile stacks into the manifests the data plane runs on."""

    def body() -> int:
        if offline or for_ is not None:
            from aiplane.commands.render_offline import offline_render_main

            target = for_.value if for_ else None
            return offline_render_main(files or [], out, output_format.value, target,
                                       flux_source=flux_source)  # fmt: skip
        from aiplane.commands.render import render_main

        if not files:
            raise AiplaneError("render: name at least one stack file")
        return render_main(files, out, output_format.value)

    _run(body)


@app.command()
def diff(
    file: Annotated[str, typer.Argument(help="Stack file.")],
    against: Annotated[
        str, typer.Option(help="Git revision, directory of manifests, or 'empty'.")
    ] = "HEAD",
) -> None:
    """Summarise, in stack terms, what FILE changes against another revision (default HEAD)."""

    def body() -> int:
        from aiplane.commands.diff import diff_main

        return diff_main(file, against)

    _run(body)


@app.command()
def plan(
    file: Annotated[str, typer.Argument(help="Stack file.")],
    kubeconfig: Annotated[str | None, typer.Option(help="Path of the kubeconfig.")] = None,
    context: Annotated[str | None, typer.Option(help="kubeconfig context.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Versioned JSON plan on stdout.")] = False,
    markdown: Annotated[bool, typer.Option("--markdown", help="Markdown for PR comments.")] = False,
    out: Annotated[str | None, typer.Option("--out", help="Save the plan for apply.")] = None,
    detailed_exitcode: Annotated[
        bool,
        typer.Option("--detailed-exitcode", help="0 no changes, 2 changes, 3 blocked, 1 error."),
    ] = False,
    against: Annotated[
        str | None,
        typer.Option(help="Plan offline against a git ref, a directory of manifests, or 'empty'."),
    ] = None,
    allow_disruption: Annotated[bool, typer.Option(help="Accept node-disruptive changes.")] = False,
    allow_delete: Annotated[bool, typer.Option(help="Accept deletions and replacements.")] = False,
    request_timeout: RequestTimeout = "30s",
    refresh: Annotated[
        bool,
        typer.Option(help="Resolve every registry reference again and update aiplane.lock."),
    ] = False,
    allow_namespace_delete: Annotated[
        bool, typer.Option(help="Accept deleting a Namespace (and all in it).")
    ] = False,
    detail: Annotated[bool, typer.Option(help=DETAIL_HELP)] = False,
) -> None:
    """Show what apply would change in the live cluster (or against another revision)."""

    def body() -> int:
        from aiplane.commands.duration import parse_duration
        from aiplane.commands.plan import plan_main

        output: Literal["human", "json", "markdown"] = (
            "json" if as_json else "markdown" if markdown else "human"
        )
        return plan_main(
            file,
            kubeconfig=kubeconfig,
            context=context,
            output=output,
            out=out,
            detailed_exitcode=detailed_exitcode,
            against=against,
            allow_disruption=allow_disruption,
            allow_delete=allow_delete,
            request_timeout=parse_duration(request_timeout, "--request-timeout"),
            refresh=refresh,
            allow_namespace_delete=allow_namespace_delete,
            detail=detail,
        )

    _run(body)


@app.command()
def apply(
    target: Annotated[str, typer.Argument(help="Stack file, or a plan saved with plan --out.")],
    kubeconfig: Annotated[str | None, typer.Option(help="Path of the kubeconfig.")] = None,
    context: Annotated[str | None, typer.Option(help="kubeconfig context.")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    allow_disruption: Annotated[bool, typer.Option(help="Accept node-disruptive changes.")] = False,
    allow_delete: Annotated[
        bool, typer.Option(help="Accept deletions (prune) and replacements.")
    ] = False,
    allow_namespace_delete: Annotated[
        bool, typer.Option(help="Accept deleting a Namespace (and all in it).")
    ] = False,
    lock_timeout: Annotated[float, typer.Option(help="Seconds to wait for the stack lock.")] = 60.0,
    wait: Annotated[
        bool | None,
        typer.Option(
            "--wait/--no-wait",
            help="Wait for each stage to become healthy before the next (default: wait; "
            "AIPLANE_NO_WAIT=1 makes --no-wait the default).",
            show_default=False,
        ),
    ] = None,
    timeout: Annotated[
        str | None,
        typer.Option(
            help="Longest health wait for any one object, e.g. 90s, 10m (default: per kind, "
            "15m for a Deployment; AIPLANE_HEALTH_TIMEOUT (seconds) sets it instead).",
        ),
    ] = None,
    request_timeout: RequestTimeout = "30s",
    detail: Annotated[bool, typer.Option(help=DETAIL_HELP)] = False,
) -> None:
    """Apply a plan: server-side apply, staged, pruning only what this stack owns."""

    def body() -> int:
        from aiplane.commands.apply import ApplyControls, apply_main
        from aiplane.commands.duration import parse_duration

        controls = ApplyControls(
            wait=wait,
            timeout=None if timeout is None else parse_duration(timeout, "--timeout"),
            request_timeout=parse_duration(request_timeout, "--request-timeout"),
            detail=detail,
        )
        return apply_main(
            target,
            kubeconfig=kubeconfig,
            context=context,
            yes=yes,
            allow_disruption=allow_disruption,
            allow_delete=allow_delete,
            allow_namespace_delete=allow_namespace_delete,
            lock_timeout=lock_timeout,
            controls=controls,
        )

    _run(body)


@app.command()
def destroy(
    file: Annotated[str, typer.Argument(help="Stack file (names the stack to delete).")],
    kubeconfig: Annotated[str | None, typer.Option(help="Path of the kubeconfig.")] = None,
    context: Annotated[str | None, typer.Option(help="kubeconfig context.")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    allow_delete: Annotated[
        bool, typer.Option(help="Required: accept the deletions the plan shows.")
    ] = False,
    lock_timeout: Annotated[float, typer.Option(help="Seconds to wait for the stack lock.")] = 60.0,
    request_timeout: RequestTimeout = "30s",
) -> None:
    """Delete everything the stack owns (members only, reverse stages, parent last)."""

    def body() -> int:
        from aiplane.commands.destroy import destroy_main
        from aiplane.commands.duration import parse_duration

        return destroy_main(
            file,
            kubeconfig=kubeconfig,
            context=context,
            yes=yes,
            allow_delete=allow_delete,
            lock_timeout=lock_timeout,
            request_timeout=parse_duration(request_timeout, "--request-timeout"),
        )

    _run(body)


@app.command("import")
def import_(
    file: Annotated[str, typer.Argument(help="Stack file.")],
    addresses: Annotated[
        list[str], typer.Argument(help="Objects to adopt, as plan names them (Kind/ns/name).")
    ],
    kubeconfig: Annotated[str | None, typer.Option(help="Path of the kubeconfig.")] = None,
    context: Annotated[str | None, typer.Option(help="kubeconfig context.")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    allow_disruption: Annotated[bool, typer.Option(help="Accept node-disruptive changes.")] = False,
    lock_timeout: Annotated[float, typer.Option(help="Seconds to wait for the stack lock.")] = 60.0,
) -> None:
    """Adopt existing objects into the stack (plan and apply never adopt them on their own)."""

    def body() -> int:
        from aiplane.commands.import_stack import import_main

        return import_main(file, addresses, kubeconfig=kubeconfig, context=context, yes=yes,
                           allow_disruption=allow_disruption,
                           lock_timeout=lock_timeout)  # fmt: skip

    _run(body)


@app.command("force-unlock")
def force_unlock(
    file: Annotated[str, typer.Argument(help="Stack file (names the stack whose lock to break).")],
    holder: Annotated[str, typer.Argument(help="The holder the lock message named.")],
    kubeconfig: Annotated[str | None, typer.Option(help="Path of the kubeconfig.")] = None,
    context: Annotated[str | None, typer.Option(help="kubeconfig context.")] = None,
    request_timeout: RequestTimeout = "30s",
) -> None:
    """Break the stack's lock, held by HOLDER, when the run holding it is gone."""

    def body() -> int:
        from aiplane.commands.duration import parse_duration
        from aiplane.commands.unlock import unlock_main

        seconds = parse_duration(request_timeout, "--request-timeout")
        return unlock_main(
            file, holder, kubeconfig=kubeconfig, context=context, request_timeout=seconds
        )

    _run(body)


class RbacPurpose(StrEnum):
    plan = "plan"
    apply = "apply"


@app.command()
def rbac(
    file: Annotated[str, typer.Argument(help="Stack file.")],
    purpose: Annotated[
        RbacPurpose, typer.Option("--for", help="The command the permissions are for.")
    ] = RbacPurpose.apply,
    service_account: Annotated[
        str | None,
        typer.Option(help="Also bind the roles to this ServiceAccount (NAMESPACE:NAME)."),
    ] = None,
) -> None:
    """Print the Roles and ClusterRole (least privilege) that plan or apply need for FILE."""

    def body() -> int:
        from aiplane.commands.rbac import rbac_main

        return rbac_main(file, purpose.value, service_account)

    _run(body)


lock_app = typer.Typer(
    help="The lock file (aiplane.lock): registry references pinned to versions.",
    no_args_is_help=True,
)
app.add_typer(lock_app, name="lock")


@lock_app.command("update")
def lock_update(
    files: Annotated[list[str], typer.Argument(help="Stack files whose references to resolve.")],
) -> None:
    """Resolve every registry reference again and write aiplane.lock beside each stack."""

    def body() -> int:
        from aiplane.commands.lock import lock_update_main

        return lock_update_main(files)

    _run(body)


@app.command()
def explain(
    file: Annotated[str, typer.Argument(help="Stack file.")],
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
) -> None:
    """Show the GPU placement: per pool GPUs used and layouts; per model slice and headroom."""

    def body() -> int:
        from aiplane.commands.explain import explain_main

        return explain_main(file, as_json)

    _run(body)


@app.command()
def status(
    file: Annotated[str, typer.Argument(help="Stack file.")] = "stack.yaml",
    kubeconfig: Annotated[str | None, typer.Option(help="Path of the kubeconfig.")] = None,
    context: Annotated[str | None, typer.Option(help="kubeconfig context.")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Versioned JSON report (format_version 1).")
    ] = False,
    watch: Annotated[
        float | None, typer.Option("--watch", help="Refresh every SECONDS until interrupted.")
    ] = None,
    sample_seconds: Annotated[
        float, typer.Option(help="Seconds between the two metrics samples tokens/s comes from.")
    ] = 1.0,
) -> None:
    """Live state of the stack: control plane, models, GPU backlog, queues, pools, metrics.
    Exit 0 healthy, 2 unhealthy, 1 error."""

    def body() -> int:
        from aiplane.commands.status import status_main

        return status_main(
            file,
            kubeconfig=kubeconfig,
            context=context,
            as_json=as_json,
            watch=watch,
            sample_seconds=sample_seconds,
        )

    _run(body)


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    app(args=list(argv) if argv is not None else None, prog_name="aiplane")


if __name__ == "__main__":
    main()
