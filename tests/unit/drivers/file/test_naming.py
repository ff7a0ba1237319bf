from drafast.drivers.file.naming import device_name_for
from drafast.resourceapi.names import is_dns_label


def test_valid_labels_keep_their_name() -> None:
    assert device_name_for("greeting") == "greeting"
    assert device_name_for("file-1") == "file-1"


def test_other_names_are_sanitized_hashed_and_distinct() -> None:
    names = ["Data.TXT", "data.txt", "data txt", "...", "ü", "x" * 100, "-a-"]
    out = [device_name_for(n) for n in names]
    assert len(set(out)) == len(out)
    assert all(is_dns_label(n) for n in out), out
    assert out[1].startswith("data-txt-")
    assert device_name_for("data.txt") == out[1]  # stable
