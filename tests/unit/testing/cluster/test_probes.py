from __future__ import annotations

from drafast.testing.cluster.probes import parse_metrics, probe


def test_parse_metrics_reads_labels_and_values_and_skips_the_rest() -> None:
    text = "\n".join(
        [
            "# HELP dra_operations_total Operations.",
            "# TYPE dra_operations_total counter",
            'dra_operations_total{operation="prepare",driver="a\\"b"} 3',
            "process_open_fds 12",
            "broken_sample not-a-number",
            "",
        ]
    )
    assert parse_metrics(text) == {
        "dra_operations_total": [({"operation": "prepare", "driver": 'a"b'}, 3.0)],
        "process_open_fds": [({}, 12.0)],
    }


def test_probe_of_a_closed_port_is_status_zero() -> None:
    code, detail = probe("http://127.0.0.1:1/healthz")
    assert code == 0
    assert detail
