"""The Starlette app: built from settings, one small view per page, each page also as `.json`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Optional
from urllib.parse import quote, urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from latentq.db.tables import RunStatus
from latentq.db.store import Store
from latentq import formatting
from latentq.errors import NotFound, UserError
from latentq.settings import Settings
from latentq.web import charts, data

STATIC = Path(__file__).resolve().parent / "static"


def templates() -> Environment:
    env = Environment(loader=PackageLoader("latentq.web", "templates"), autoescape=select_autoescape(["html"]))
    env.globals.update(line_chart=charts.line_chart, label=formatting.label, fmt=formatting.fmt)
    env.filters["fmt"] = formatting.fmt
    return env


def file_url(run_id: str, rel: str) -> str:
    return f"/files/{run_id}/{quote(rel)}"


class Pages:
    """The views; each reads the store afresh (the pages are read-only). They are plain functions,
    which Starlette runs in its thread pool: their SQL never blocks the event loop."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.store = Store(settings.db_url, settings.artifact_root)
        self.env = templates()

    def render(self, request: Request, template: str, context: dict[str, Any]) -> Response:
        if request.url.path.endswith(".json"):
            return JSONResponse(context)
        page = self.env.get_template(template).render(
            **context, **data.template_helpers(template, context), json_url=_json_url(request), report=False, inline_css=None, inline_js=None)
        return HTMLResponse(page)

    def _resolve(self, prefix: str) -> str:
        try:
            return self.store.resolve(prefix)
        except UserError as exc:
            raise HTTPException(404, str(exc)) from None

    def runs(self, request: Request) -> Response:
        q = request.query_params
        status = q.get("status") or None
        if status is not None and status not in {s.value for s in RunStatus}:
            raise HTTPException(400, f"status {status!r}: one of {', '.join(s.value for s in RunStatus)}")
        page = q.get("page") or "1"
        if not page.isdigit() or not 1 <= int(page) <= MAX_PAGE:
            raise HTTPException(400, f"page {page[:20]!r}: a page number from 1 to {MAX_PAGE}")
        context = data.runs_page(self.store, status=status, recipe=q.get("recipe"), group=q.get("group"),
                                 name=q.get("name"), page=int(page))
        context["page_urls"] = {k: _page_url(request, context[k]) for k in ("newer", "older")}
        return self.render(request, "runs.html", context)

    def run(self, request: Request) -> Response:
        run_id = self._resolve(request.path_params["run_id"])
        return self.render(request, "run.html", data.run_page(self.store, run_id, file_url))

    def compare(self, request: Request) -> Response:
        q = request.query_params
        ids = [i for part in q.getlist("ids") for i in part.replace(",", " ").split() if i]
        group = q.get("group") or None
        try:
            context = data.compare_page(self.store, ids, group, file_url, metric=q.get("metric") or None)
        except UserError as exc:
            raise HTTPException(404, str(exc)) from None
        return self.render(request, "compare.html", context)

    def log(self, request: Request) -> Response:
        run_id = self._resolve(request.path_params["run_id"])
        lines = [f"{e.at.isoformat(timespec='seconds')}Z {e.level}: {e.message}" for e in self.store.events(run_id)]
        return PlainTextResponse("\n".join(lines) + "\n")

    def file(self, request: Request) -> Response:
        run_id = self._resolve(request.path_params["run_id"])
        try:
            path = data.file_path(self.store, run_id, request.path_params["path"])
        except UserError:
            raise HTTPException(404, "no such file under the artifact root") from None
        if not path.is_file():
            raise HTTPException(404, "no such file under the artifact root")
        return FileResponse(path)


def _page_url(request: Request, page: Optional[int]) -> Optional[str]:
    """This page's URL (HTML or JSON, filters kept) at another page number; None past either end."""
    if page is None:
        return None
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "page"] + ([("page", str(page))] if page > 1 else [])
    return request.url.path + (f"?{urlencode(query)}" if query else "")


def _json_url(request: Request) -> str:
    path = request.url.path.rstrip("/")
    path = path + ".json" if path else "/runs.json"
    return path + (f"?{request.url.query}" if request.url.query else "")


async def _error(request: Request, exc: HTTPException) -> Response:
    if request.url.path.endswith(".json"):
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code)
    env = templates()
    return HTMLResponse(env.get_template("error.html").render(status=exc.status_code, detail=exc.detail,
                                                              report=False, json_url=None),
                        status_code=exc.status_code)


MAX_PAGE = 1_000_000  # past it the offset overflows the database's integers


def host_name(header: str) -> str:
    """The name of a Host header without its port: "[::1]:8377" -> "::1", "a.b:80" -> "a.b"."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:header.find("]")] if "]" in header else header
    return header.rpartition(":")[0] if header.count(":") == 1 else header


class RequestGuard:
    """Two refusals before any view runs. A Host header that is not an address the pages serve:
    DNS rebinding (a page on evil.example whose name now resolves to 127.0.0.1) would otherwise
    let any web page read the JSON of a loopback UI; the browser still sends its own Host. And a
    NUL in the query string, which no filter means and PostgreSQL cannot store in a text
    parameter: a 400, not a 500."""

    def __init__(self, app, allowed_hosts: Optional[frozenset[str]]):
        self.app = app
        self.allowed_hosts = allowed_hosts

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            problem = None
            if self.allowed_hosts is not None:
                host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), "")
                if host_name(host) not in self.allowed_hosts:
                    problem = (f"host {host[:80]!r} is not an address these pages serve "
                               "(start `latentq ui --allow-remote` to serve other names)")
            if problem is None and b"%00" in scope.get("query_string", b"").lower():
                problem = "a NUL character in the query string"
            if problem is not None:
                await PlainTextResponse(problem, status_code=400)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(settings: Optional[Settings] = None, allowed_hosts: Optional[Iterable[str]] = None) -> Starlette:
    """The pages. allowed_hosts: the names a request's Host header may carry (`latentq ui` passes
    loopback's and its own --host); None accepts any (--allow-remote, and tests' clients)."""
    from starlette.middleware import Middleware

    from latentq.settings import load_settings

    pages = Pages(settings or load_settings())
    routes = [
        Route("/", pages.runs),
        Route("/runs.json", pages.runs),
        Route("/run/{run_id}.json", pages.run),
        Route("/run/{run_id}/log.txt", pages.log),
        Route("/run/{run_id}", pages.run),
        Route("/compare.json", pages.compare),
        Route("/compare", pages.compare),
        Route("/files/{run_id}/{path:path}", pages.file),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
    ]
    hosts = None if allowed_hosts is None else frozenset(host_name(h) if h.startswith("[") else h.lower()
                                                          for h in allowed_hosts)
    app = Starlette(routes=routes, exception_handlers={HTTPException: _error, NotFound: _not_found},
                    middleware=[Middleware(RequestGuard, allowed_hosts=hosts)])
    app.state.settings = pages.settings
    return app


async def _not_found(request: Request, exc: NotFound) -> Response:
    return await _error(request, HTTPException(404, str(exc)))
