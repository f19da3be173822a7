"""The HTML report of a run directory: ``write_report_html(out_dir)`` writes ``out_dir/report.html``."""

from trustwatch.server.report.inputs import ReportInputError, load_run_files
from trustwatch.server.report.page import render_report, write_report_html

__all__ = ["ReportInputError", "load_run_files", "render_report", "write_report_html"]
