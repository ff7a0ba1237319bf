"""The pure-Python cpulist reference: the kernel's forms in, the kernel's form out."""

import pytest

from drafast.drivers.cpu.cpulist import MAX_CPU_ID, format_cpulist, parse_cpulist
from drafast.errors import CpuListError


@pytest.mark.parametrize(
    ("text", "cpus"),
    [
        ("", set()),
        ("\n", set()),
        ("0", {0}),
        ("0-3,8\n", {0, 1, 2, 3, 8}),
        (" 1 - 2 , 5 ", {1, 2, 5}),
        ("4-4", {4}),
        ("0-1,1-2", {0, 1, 2}),
    ],
)
def test_parse(text: str, cpus: set[int]) -> None:
    assert parse_cpulist(text) == frozenset(cpus)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0-x", "cpulist '0-x': 'x' is not a CPU number"),
        ("-1", "cpulist '-1': '' is not a CPU number"),
        ("1,,2", "cpulist '1,,2': empty element"),
        ("3-1", "cpulist '3-1': range '3-1' runs backwards"),
        ("0-31:2/4", "'31:2/4' is not a CPU number"),
        ("٣", "'٣' is not a CPU number"),  # a digit to str.isdigit, not to the kernel
        (f"0-{MAX_CPU_ID + 1}", f"CPU {MAX_CPU_ID + 1} is above {MAX_CPU_ID}"),
    ],
)
def test_malformed_lists_name_the_list_and_the_part(text: str, message: str) -> None:
    with pytest.raises(CpuListError) as err:
        parse_cpulist(text)
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("cpus", "text"),
    [
        (set(), ""),
        ({0}, "0"),
        ({0, 1}, "0-1"),
        ({8, 0, 2, 1, 3}, "0-3,8"),
        ({1, 3, 5}, "1,3,5"),
        (range(64, 128), "64-127"),
    ],
)
def test_format(cpus: set[int], text: str) -> None:
    assert format_cpulist(cpus) == text
    assert parse_cpulist(text) == frozenset(cpus)
