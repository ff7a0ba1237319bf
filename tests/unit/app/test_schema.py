import argparse
import enum
from dataclasses import dataclass
from pathlib import Path

import pytest

from drafast.app import schema
from drafast.config import positive, setting
from drafast.errors import ConfigError


class Mode(enum.StrEnum):
    A = "a"
    B = "b"
    C = "c"


@dataclass(frozen=True, slots=True, kw_only=True)
class Example:
    root: Path = setting(flag="--root", env="EX_ROOT", help="required path")
    count: int = setting(3, flag="--count", env="EX_COUNT", help="an int", check=positive)
    ratio: float = setting(0.5, flag="--ratio", env="EX_RATIO", help="a float")
    fast: bool = setting(False, flag="--fast", env="EX_FAST", help="a switch")
    mode: Mode = setting(Mode.A, flag="--ex-mode", env="EX_MODE", help="an enum")
    label: str | None = setting(None, flag="--label", env="EX_LABEL", help="optional")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    schema.add_arguments(parser, Example)
    return parser.parse_args(argv)


def build(argv: list[str], env: dict[str, str] | None = None, file: dict | None = None) -> Example:  # type: ignore[type-arg]
    return schema.build(Example, vars(parse(argv)), env or {}, file or {})  # type: ignore[no-any-return]


def test_types_defaults_and_keys() -> None:
    ex = build(["--root", "/r"])
    assert ex == Example(root=Path("/r"))
    assert [s.key for s in schema.settings_of(Example)][-2:] == ["ex_mode", "label"]
    assert schema.env_names(Example) == [
        "EX_ROOT",
        "EX_COUNT",
        "EX_RATIO",
        "EX_FAST",
        "EX_MODE",
        "EX_LABEL",
    ]


def test_flag_beats_env_beats_file() -> None:
    file = {"root": "/f", "count": 7, "fast": True, "ex_mode": "c"}
    env = {"EX_COUNT": "5", "EX_MODE": "b", "EX_FAST": "false"}
    ex = build(["--ex-mode", "a"], env, file)
    assert (ex.root, ex.count, ex.fast, ex.mode) == (Path("/f"), 5, False, Mode.A)


@pytest.mark.parametrize(
    ("argv", "env", "file", "message"),
    [
        ([], {}, {}, "--root is required (or set EX_ROOT)"),
        (["--root", "/r", "--count", "x"], {}, {}, "--count 'x': expected an integer"),
        (["--root", "/r", "--count", "0"], {}, {}, "--count 0: must be more than 0"),
        (["--root", "/r"], {"EX_RATIO": "nan"}, {}, "--ratio 'nan': expected a finite number"),
        (["--root", "/r"], {"EX_FAST": "maybe"}, {}, "--fast 'maybe': expected true or false"),
        (["--root", "/r"], {"EX_MODE": "z"}, {}, "--ex-mode 'z': expected one of a, b, c"),
        (["--root", "/r"], {}, {"count": [1]}, "--count [1]: expected an integer"),
        (["--root", "/r"], {}, {"count": True}, "--count True: expected an integer"),
        ([], {}, {"root": ""}, "--root: expected a path, got an empty value"),
    ],
)
def test_bad_values_name_the_flag(
    argv: list[str],
    env: dict[str, str],
    file: dict,
    message: str,  # type: ignore[type-arg]
) -> None:
    with pytest.raises(ConfigError) as err:
        build(argv, env, file)
    assert str(err.value) == message


def test_command_line_round_trips() -> None:
    values = {"root": Path("/r"), "count": 9, "fast": True, "ex_mode": "b", "label": ""}
    argv = schema.command_line(Example, values)
    assert argv == ["--root=/r", "--count=9", "--fast", "--ex-mode=b", "--label="]
    ex = build(argv)
    assert (ex.root, ex.count, ex.fast, ex.mode, ex.label) == (Path("/r"), 9, True, Mode.B, None)
    with pytest.raises(KeyError, match="no setting 'nope'"):
        schema.command_line(Example, {"nope": 1})


def test_describe_is_plain_values_by_key() -> None:
    assert schema.describe(Example(root=Path("/r"))) == {
        "root": "/r",
        "count": 3,
        "ratio": 0.5,
        "fast": False,
        "ex_mode": "a",
        "label": None,
    }
