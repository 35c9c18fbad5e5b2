"""A run's report: ``report.md`` and a self-contained ``report.html`` built from its stage records.

``write_report(run_dir)`` reads ``<run_dir>/<stage>/stage.json`` (see :mod:`landseg.pipeline`)
and the files they point to; nothing in the report is typed by hand. Modules: ``records`` (reading
and path resolution), ``datasets`` (training-set sizes), ``performance`` and ``workflow`` (the
sections), ``figures`` (matplotlib, Agg), ``document`` (Markdown/HTML rendering).
"""

from landseg.report.build import ReportResult, result_lines, write_report

__all__ = ["ReportResult", "result_lines", "write_report"]
