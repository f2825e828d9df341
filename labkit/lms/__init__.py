"""Moodle and Canvas: file naming, CSV headers, rosters, the zip_collect plug-ins, grades and feedback back to the LMS."""
