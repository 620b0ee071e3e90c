"""The argparse wiring: every command, its options and their defaults reach the handler as the
handler expects them, and usage errors exit 2 without running anything."""

from __future__ import annotations

import pytest

from aiplane import __version__, cli


def parse(*argv: str) -> cli.Args:
    return cli.build_parser().parse_args(list(argv))


def test_plan_options_and_their_negations() -> None:
    args = parse("plan", "s.yaml", "--json", "--allow-delete", "--no-allow-disruption",
                 "--request-timeout", "2m", "--context", "c", "--detail")  # fmt: skip
    assert args.handler is cli.plan
    assert (args.file, args.as_json, args.markdown, args.context) == ("s.yaml", True, False, "c")
    assert (args.allow_delete, args.allow_disruption, args.detail) == (True, False, True)
    assert (args.request_timeout, args.refresh, args.against, args.out) == ("2m", False, None, None)


def test_apply_defaults_leave_wait_to_the_environment() -> None:
    args = parse("apply", "s.yaml", "-y")
    assert args.handler is cli.apply and args.yes is True
    assert (args.wait, args.timeout, args.lock_timeout) == (None, None, 60.0)
    assert parse("apply", "s.yaml", "--no-wait").wait is False
    assert parse("apply", "s.yaml", "--wait", "--lock-timeout", "0.5").lock_timeout == 0.5


@pytest.mark.parametrize(
    ("argv", "handler", "expected"),
    [
        (["validate", "a.yaml", "b.yaml"], cli.validate, {"files": ["a.yaml", "b.yaml"]}),
        (["init"], cli.init, {"file": "stack.yaml", "name": "my-stack"}),
        (["render", "-o", "out", "--format", "json"], cli.render,
         {"files": [], "out": "out", "format": "json", "offline": False, "for_": None}),
        (["render", "s.yaml", "--offline", "--for", "flux", "--flux-source", "GitRepository/x"],
         cli.render, {"for_": "flux", "flux_source": "GitRepository/x", "offline": True}),
        (["diff", "s.yaml"], cli.diff, {"against": "HEAD"}),
        (["destroy", "s.yaml", "--allow-delete"], cli.destroy,
         {"allow_delete": True, "yes": False, "request_timeout": "30s"}),
        (["import", "s.yaml", "Deployment/ns/a", "Service/ns/a"], cli.import_,
         {"addresses": ["Deployment/ns/a", "Service/ns/a"]}),
        (["force-unlock", "s.yaml", "me@host"], cli.force_unlock, {"holder": "me@host"}),
        (["rbac", "s.yaml", "--for", "plan"], cli.rbac,
         {"purpose": "plan", "service_account": None}),
        (["explain", "s.yaml", "--json"], cli.explain, {"as_json": True}),
        (["status", "--watch", "5"], cli.status,
         {"file": "stack.yaml", "watch": 5.0, "sample_seconds": 1.0}),
        (["lock", "update", "s.yaml"], cli.lock_update, {"files": ["s.yaml"]}),
        (["schema"], cli.schema, {}),
    ],
)  # fmt: skip
def test_each_command_reaches_its_handler(
    argv: list[str], handler: cli.Handler, expected: dict[str, object]
) -> None:
    args = parse(*argv)
    assert args.handler is handler
    assert {key: getattr(args, key) for key in expected} == expected


@pytest.mark.parametrize(
    "argv",
    [
        ["validate"],  # a required argument missing
        ["plan", "s.yaml", "--bogus"],
        ["render", "--format", "toml"],
        ["rbac", "s.yaml", "--for", "destroy"],
        ["apply", "s.yaml", "--lock-timeout", "soon"],
        ["plan", "s.yaml", "--allow-del"],  # no abbreviations: a typo is not a flag
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    assert "usage: aiplane" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [[], ["lock"]])
def test_a_group_without_its_command_prints_help_and_exits_2(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    assert "usage: aiplane" in capsys.readouterr().err


def test_version_and_debug(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"aiplane {__version__}\n"
    assert parse("--debug", "schema").debug is True


def test_an_internal_error_is_one_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    def broken(args: cli.Args) -> int:
        raise RuntimeError("boom")

    assert cli._run(lambda: broken(parse("schema"))) == 1
    assert (
        capsys.readouterr().err
        == "aiplane: internal error: RuntimeError: boom (rerun with --debug)\n"
    )
