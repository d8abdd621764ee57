"""The reports' HTML pages: one Jinja2 environment over ``templates/``, where every page extends ``base.html``.

A page is one self-contained file: ``base.html`` inlines ``style.css`` and carries :data:`CSP`, and every value is
escaped unless it is :class:`markupsafe.Markup`.
"""

from __future__ import annotations

from pathlib import Path

import jinja2

# no script and no network request even if something slipped through the escaping; images only as data URIs
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
)
_ENV.globals["csp"] = CSP


def render(template_name: str, **context) -> str:
    """The page ``templates/<template_name>`` rendered with ``context``."""
    return _ENV.get_template(template_name).render(**context)
