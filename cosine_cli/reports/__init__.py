"""CI reports built from the JSON summary: Markdown (a job summary) and JUnit XML (one test case per gate)."""
