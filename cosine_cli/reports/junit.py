"""JUnit XML with one test case per gate (and one for the baseline check), for CI test reporters."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from ..gates import METRICS, lookup

__all__ = ["render_junit", "write_junit"]


def render_junit(d: dict[str, Any]) -> bytes:
    gates = d.get("gates", [])
    failures = sum(not g["passed"] for g in gates)
    suites = ET.Element("testsuites", name="cosloss", tests=str(len(gates)), failures=str(failures))
    suite = ET.SubElement(
        suites, "testsuite", name="cosloss", tests=str(len(gates)), failures=str(failures), errors="0", skipped="0"
    )
    props = ET.SubElement(suite, "properties")
    for name in ("pred", "label"):
        ET.SubElement(props, "property", name=f"inputs.{name}", value=str(d["inputs"][name]["path"]))
    for name in METRICS:
        value = lookup(d, name)
        if value is not None:
            ET.SubElement(props, "property", name=name, value=repr(value))
    for g in gates:
        case = ET.SubElement(suite, "testcase", classname="cosloss.gates", name=g["expr"])
        shown = "null" if g["value"] is None else repr(g["value"])
        text = f"{g['name']} = {shown}, required {g['op']} {g['threshold']!r}"
        if g.get("detail"):
            text += f" ({g['detail']})"
        if not g["passed"]:
            ET.SubElement(case, "failure", message=text, type="GateFailed").text = text
        else:
            ET.SubElement(case, "system-out").text = text
    ET.indent(suites)
    xml: bytes = ET.tostring(suites, encoding="utf-8", xml_declaration=True)
    return xml + b"\n"


def write_junit(d: dict[str, Any], path: str) -> None:
    with open(path, "wb") as f:
        f.write(render_junit(d))
