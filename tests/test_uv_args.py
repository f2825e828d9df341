"""tools/uv_args.py: the kit's uv install takes its package sources from pip's configuration."""
from __future__ import annotations

import subprocess
import sys

from labkit.core.settings import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "tools"))
import uv_args  # noqa: E402

# The shape of this machine's ``pip config list``: a PIP_* variable, a pip.conf, a constraint.
LISTING = """\
:env:.cert='/etc/ssl/certs/ca-certificates.crt'
:env:.find-links='/opt/env-wheels'
global.constraint='/etc/xdg/pip/constraints.txt'
global.extra-index-url='file:///opt/pypi/simple file:///opt/pypi-more/simple'
global.find-links='/opt/wheels'
global.index-url='https://mirror.example/simple'
"""


def test_environment_overrides_the_config_file_as_in_pip():
    options = uv_args.effective(LISTING)
    assert options["find-links"] == "/opt/env-wheels"
    assert options["constraint"] == "/etc/xdg/pip/constraints.txt"


def test_every_source_and_constraint_becomes_a_uv_option_in_order():
    assert uv_args.uv_args(uv_args.effective(LISTING)) == [
        "--find-links", "/opt/env-wheels",
        "--extra-index-url", "file:///opt/pypi/simple", "--extra-index-url", "file:///opt/pypi-more/simple",
        "--constraint", "/etc/xdg/pip/constraints.txt",
        "--index-url", "https://mirror.example/simple",
    ]


def test_options_uv_has_no_counterpart_for_are_left_out():
    assert uv_args.uv_args(uv_args.effective(":env:.cert='/x.crt'\nglobal.timeout='60'\n")) == []


def test_no_index_is_carried_and_unknown_sections_ignored():
    listing = "install.no-index='true'\nfreeze.find-links='/elsewhere'\nnot a config line\n"
    assert uv_args.uv_args(uv_args.effective(listing)) == ["--no-index"]


def test_the_script_prints_one_argument_per_line_from_stdin():
    out = subprocess.run([sys.executable, str(REPO_ROOT / "tools" / "uv_args.py"), "--stdin"], input=LISTING,
                         capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[:2] == ["--find-links", "/opt/env-wheels"]
