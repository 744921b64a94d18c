"""Tests of harness.reporting: tables, exports, statistics, comparisons and the HTML page."""
