"""JUnit XML for CI test reporters: one test case per gate (and one for the baseline check).

A run without gates is one passing test case, ``score`` (``tests="0"`` reads as a failure to some
reporters); a run that stopped on an input error is one errored ``score`` case holding the message,
so that a reporter shows the error instead of "no tests".
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

from ..gates import EVALUATION_METRICS, METRICS, SLICE_KEYS, lookup

__all__ = ["render_junit", "write_junit"]


def _suites(tests: int, failures: int, errors: int) -> tuple[ET.Element, ET.Element]:
    attrs = {"name": "cosloss", "tests": str(tests), "failures": str(failures)}
    suites = ET.Element("testsuites", {**attrs, **({"errors": str(errors)} if errors else {})})
    suite = ET.SubElement(suites, "testsuite", {**attrs, "errors": str(errors), "skipped": "0"})
    return suites, suite


def _xml(suites: ET.Element) -> bytes:
    ET.indent(suites)
    xml: bytes = ET.tostring(suites, encoding="utf-8", xml_declaration=True)
    return xml + b"\n"


def render_junit(d: Mapping[str, Any]) -> bytes:
    """JUnit XML for a summary ``d`` (a ``Summary`` or the JSON summary as a dict)."""
    error = getattr(d, "error", None)
    if error is not None:
        suites, suite = _suites(1, 0, 1)
        case = ET.SubElement(suite, "testcase", classname="cosloss", name="score")
        ET.SubElement(case, "error", message=error, type="InputError").text = error
        return _xml(suites)
    gates = d.get("gates", [])
    failures = sum(not g["passed"] for g in gates)
    suites, suite = _suites(max(len(gates), 1), failures, 0)
    props = ET.SubElement(suite, "properties")
    for name in ("pred", "label"):
        ET.SubElement(props, "property", name=f"inputs.{name}", value=str(d["inputs"][name]["path"]))
    for name in METRICS:
        value = lookup(d, name)
        if value is not None:
            ET.SubElement(props, "property", name=name, value=repr(value))
    for key in SLICE_KEYS:  # the per-dim / group / candidate statistics, as properties
        for slice_name, entry in (d.get(key) or {}).items():
            for name in METRICS:
                value = lookup(entry, name)
                if value is not None:
                    ET.SubElement(props, "property", name=f"{key}.{slice_name}.{name}", value=repr(value))
    for name in EVALUATION_METRICS:
        value = lookup(d, name)
        if value is not None:
            ET.SubElement(props, "property", name=name, value=repr(value))
    if not gates:
        case = ET.SubElement(suite, "testcase", classname="cosloss", name="score")
        ET.SubElement(case, "system-out").text = f"scored {d['rows']} vectors; no gates given"
    for g in gates:
        # one case per gate and slice: by_group.*.cos.min gives a case per group (classname names the slice)
        head, _, rest = str(g["name"]).partition(".")
        classname = f"cosloss.{head}.{rest.partition('.')[0]}" if head in SLICE_KEYS else "cosloss.gates"
        case = ET.SubElement(suite, "testcase", classname=classname, name=g["expr"])
        shown = "null" if g["value"] is None else repr(g["value"])
        text = f"{g['name']} = {shown}, required {g['op']} {g['threshold']!r}"
        if g.get("detail"):
            text += f" ({g['detail']})"
        if not g["passed"]:
            ET.SubElement(case, "failure", message=text, type="GateFailed").text = text
        else:
            ET.SubElement(case, "system-out").text = text
    return _xml(suites)


def write_junit(d: Mapping[str, Any], path: str) -> None:
    """Write the report to ``path`` atomically (a temporary file beside it, then a rename)."""
    from ..outputs import StagedFile

    staged = StagedFile(path)
    try:
        staged.file.write(render_junit(d))
        staged.commit()
    except BaseException:
        staged.abort()
        raise
