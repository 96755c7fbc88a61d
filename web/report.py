"""`latentq report`: a run's page as one HTML file that needs nothing else: CSS, script and every
image inline (data URIs), no URL to any server."""

from __future__ import annotations

import base64
import mimetypes
from datetime import datetime, timezone
from pathlib import Path

from latentq.db.store import Store
from latentq.files import atomic_write_text
from latentq.web import app as web_app
from latentq.web import data


def render_report(store: Store, run_id: str) -> str:
    def data_uri(rid: str, rel: str) -> str:
        path = data.file_path(store, rid, rel)
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return f"data:{kind};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"

    context = data.run_page(store, run_id, data_uri)
    env = web_app.templates()
    return env.get_template("run.html").render(
        **context, **data.template_helpers("run.html", context), report=True, json_url=None,
        inline_css=(web_app.STATIC / "app.css").read_text(), inline_js=(web_app.STATIC / "app.js").read_text(),
        written_at=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))


def write_report(store: Store, run_id: str, out: Path) -> Path:
    return atomic_write_text(out, render_report(store, run_id))
