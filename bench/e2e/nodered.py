"""Node-RED for the comparison: installed from npm into bench/.cache/, one flow, no editor.

The flow (written to ``flows.json`` by `write_user_dir`)::

    [http in POST /hooks/shop] -> [function "map"] --output 1--> [http request POST target]
                                                   \\-output 2--> [http response]

The function applies the same mapping as crossdock and the naive pipeline
(`MAPPING_JS`) and returns two messages: the mapped order for the ``http request`` node,
and ``{req, res, statusCode: 202}`` for the ``http response`` node. Node-RED hands the
outputs of one ``send`` to their nodes in output order, each on its own turn of the event
loop: the ``http request`` node has taken the order (and started its request; it keeps
no queue of its own) before the ``http response`` node writes the 202. So, as with the
others, the sender gets its 202 once the order is queued for delivery — here on Node's
event loop — and before it is delivered.

``http request`` reuses connections (``persist``: keep-alive) and limits nothing: every
order gets its request at once. ``GET /readyz`` answers 200 once the flow runs.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from common import HERE, HOOK_PATH, PRIORITY, STATUS, TARGET_PATH, child_env

# Node-RED 5.x needs Node.js >= 22.9; 4.1.8 is the newest release that runs on Node 20.
VERSION = "4.1.8"
CACHE = HERE.parent / ".cache" / "node-red"  # bench/.cache/ is in .gitignore

MAPPING_JS = f"""
const PRIORITY = {json.dumps(PRIORITY)};
const STATUS = {json.dumps(STATUS)};
const body = msg.payload;
const src = body && body.order;
if (!src || src.email === undefined || src.email === null) {{
    return [null, {{req: msg.req, res: msg.res, statusCode: 422,
                    payload: {{error: "invalid order"}}}}];
}}
const customer = src.customer || {{}};
const mapped = {{
    bench: body.bench,
    order: {{id: src.id, items: src.items}},
    reference: src.number,
    customer: {{email: src.email, name: customer.name}},
    currency: "EUR",
    priority: Object.hasOwn(PRIORITY, src.tier) ? PRIORITY[src.tier] : "low",
    status: Object.hasOwn(STATUS, src.status) ? STATUS[src.status] : src.status,
}};
return [{{payload: mapped, headers: {{"content-type": "application/json"}}}},
        {{req: msg.req, res: msg.res, statusCode: 202, payload: {{accepted: true}}}}];
"""

SETTINGS_JS = """module.exports = {{
    uiHost: "127.0.0.1",
    uiPort: {port},
    flowFile: "flows.json",
    credentialSecret: false,
    httpAdminRoot: false,
    httpNodeRoot: "/",
    diagnostics: {{enabled: false, ui: false}},
    runtimeState: {{enabled: false, ui: false}},
    telemetry: {{enabled: false, updateNotification: false}},
    externalModules: {{autoInstall: false, palette: {{allowInstall: false}},
                       modules: {{allowInstall: false}}}},
    functionExternalModules: false,
    editorTheme: {{projects: {{enabled: false}}}},
    logging: {{console: {{level: "warn", metrics: false, audit: false}}}},
}};
"""


def red_js() -> Path:
    return CACHE / "node_modules" / "node-red" / "red.js"


def installed_version() -> str | None:
    package = CACHE / "node_modules" / "node-red" / "package.json"
    if not package.exists():
        return None
    version: str = json.loads(package.read_text())["version"]
    return version


def ensure_installed() -> None:
    """Install Node-RED `VERSION` into `CACHE` unless it is there already."""
    if installed_version() == VERSION:
        return
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise RuntimeError("Node-RED needs node and npm on PATH")
    found = subprocess.run(
        [npm, "view", f"node-red@{VERSION}", "version"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if found.returncode != 0 or found.stdout.strip() != VERSION:
        raise RuntimeError(f"node-red@{VERSION} not found on npm: {found.stderr.strip()}")
    CACHE.mkdir(parents=True, exist_ok=True)
    print(f"installing node-red@{VERSION} into {CACHE} ...", flush=True)
    subprocess.run(
        [
            npm,
            "install",
            "--prefix",
            str(CACHE),
            "--no-audit",
            "--no-fund",
            "--loglevel",
            "error",
            f"node-red@{VERSION}",
        ],
        check=True,
        timeout=600,
    )
    if installed_version() != VERSION:
        raise RuntimeError(f"node-red@{VERSION} did not install into {CACHE}")


def flows(target_url: str) -> list[dict[str, object]]:
    """The flow; every node has a position (a node without ``x``/``y`` is a config node)."""
    tab = "bench-tab"
    nodes: list[dict[str, object]] = [
        {"id": tab, "type": "tab", "label": "crossdock bench", "disabled": False},
        {
            "id": "in",
            "type": "http in",
            "z": tab,
            "url": HOOK_PATH,
            "method": "post",
            "upload": False,
            "swaggerDoc": "",
            "wires": [["map"]],
        },
        {
            "id": "map",
            "type": "function",
            "z": tab,
            "name": "map",
            "func": MAPPING_JS,
            "outputs": 2,
            "timeout": 0,
            "noerr": 0,
            "initialize": "",
            "finalize": "",
            "libs": [],
            "wires": [["deliver"], ["answer"]],
        },
        {
            "id": "deliver",
            "type": "http request",
            "z": tab,
            "method": "POST",
            "ret": "txt",
            "paytoqs": "ignore",
            "url": target_url,
            "tls": "",
            "persist": True,
            "proxy": "",
            "insecureHTTPParser": False,
            "authType": "",
            "senderr": False,
            "headers": [],
            "wires": [[]],
        },
        {
            "id": "answer",
            "type": "http response",
            "z": tab,
            "statusCode": "",
            "headers": {},
            "wires": [],
        },
        {
            "id": "ready-in",
            "type": "http in",
            "z": tab,
            "url": "/readyz",
            "method": "get",
            "upload": False,
            "swaggerDoc": "",
            "wires": [["ready-out"]],
        },
        {
            "id": "ready-out",
            "type": "http response",
            "z": tab,
            "statusCode": "200",
            "headers": {},
            "wires": [],
        },
    ]
    for row, node in enumerate(nodes[1:]):
        node.update(x=200 + 200 * (row % 3), y=80 + 60 * row)
    return nodes


def write_user_dir(folder: Path, port: int, target_port: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "settings.js").write_text(SETTINGS_JS.format(port=port))
    target_url = f"http://127.0.0.1:{target_port}{TARGET_PATH}"
    (folder / "flows.json").write_text(json.dumps(flows(target_url), indent=1))


def command(folder: Path) -> list[str]:
    node = shutil.which("node") or "node"
    return [
        node,
        str(red_js()),
        "--settings",
        str(folder / "settings.js"),
        "--userDir",
        str(folder),
    ]


def popen(folder: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            command(folder),
            stdout=out,
            stderr=subprocess.STDOUT,
            env=child_env(),
            start_new_session=True,
        )
